import type { ErrorCode } from './errors';

/**
 * Which error code a bad value of a field answers (shared/api-schemas.ts `coded`), kept apart from
 * the schemas themselves so that the HTTP layer, which every function bundles, looks codes up
 * without loading zod or any schema.
 */
const codes = new WeakMap<object, ErrorCode>();

export function setFieldCode(schema: object, code: ErrorCode): void {
  codes.set(schema, code);
}

/** The code a field's schema names, through optional, default and pipe wrappers; undefined when none. */
export function fieldCode(schema: unknown): ErrorCode | undefined {
  let current = schema as { _zod?: { def?: { innerType?: unknown; in?: unknown } } } | undefined;
  for (let depth = 0; current && typeof current === 'object' && depth < 5; depth++) {
    const code = codes.get(current);
    if (code) return code;
    const def = current._zod?.def;
    current = (def?.innerType ?? def?.in) as typeof current;
  }
  return undefined;
}
