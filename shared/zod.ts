/**
 * Zod for the Lambda code: `zod/mini`, the functional API of the same package, which tree-shakes
 * to what the schemas use (`import * as z from 'zod'` brings in about 96 KB to every bundle).
 * Zod Mini loads no locale by itself ("Invalid input" for everything); the English messages are
 * the ones of classic Zod, so errors read as before. Import `z` from here, not from 'zod/mini'.
 */
import { en } from 'zod/locales';
import { config } from 'zod/mini';

config(en());

export * from 'zod/mini';
