/**
 * Builds one function's asset with infra/bundling.ts: `tsx infra/build-function.ts <entry> <outdir>`.
 * CDK's local bundling is synchronous and esbuild's buildSync takes no plugins, so the construct
 * runs this in a child process (infra/constructs/storage-function.ts).
 */
import { buildFunctionAsset } from './bundling';

const [entry, outdir] = process.argv.slice(2);
if (!entry || !outdir) throw new Error('usage: tsx infra/build-function.ts <entry> <outdir>');
await buildFunctionAsset(entry, outdir);
