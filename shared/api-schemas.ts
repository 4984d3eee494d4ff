import type { ErrorCode } from './errors';
import { setFieldCode } from './field-codes';
import { FITS, FORMATS, MAX_DIMENSION } from './images/thumbnail-spec';
import { MD5_PATTERN } from './service/validate';
import * as z from './zod';

/**
 * The schemas of the HTTP API: what each route's query and JSON body may hold (the handlers
 * validate with these, shared/http/api.ts) and what it answers (the tests check real answers
 * against these). shared/openapi.ts turns them, with the route table, into the OpenAPI document:
 * one source for the checks and the documentation.
 *
 * A field whose bad value has its own error code names it (`coded`): validation answers that
 * code (shared/field-codes.ts), and the document shows it as `x-error-code`.
 */
export function coded<T extends z.ZodMiniType>(schema: T, code: ErrorCode, description?: string): T {
  setFieldCode(schema, code);
  z.globalRegistry.add(schema, { 'x-error-code': code, ...(description ? { description } : {}) });
  return schema;
}

/** A schema with its description (and other OpenAPI metadata, e.g. `id` for a component). */
export function documented<T extends z.ZodMiniType>(
  schema: T,
  description: string,
  extra: Record<string, unknown> = {},
): T {
  z.globalRegistry.add(schema, { description, ...extra });
  return schema;
}

// ---- shared pieces ----------------------------------------------------------------------------

const text = (description: string) => documented(z.string(), description);
const optionalText = (description: string) => z.optional(text(description));

export const STORAGE_NAME = /^storages\.[A-Za-z0-9_-]{1,64}$/;
const storage = z.optional(
  coded(
    z.string().check(z.regex(STORAGE_NAME, 'must look like storages.Name')),
    'UNKNOWN_STORAGE',
    'The storage instance (`storages.Name`); the default one when absent',
  ),
);

const md5 = coded(
  z.string().check(z.regex(MD5_PATTERN, 'must be 32 hexadecimal characters')),
  'INVALID_MD5',
  'MD5 of the bytes, 32 hex characters',
);
/** Whole seconds as text (a query value), from 1 to ten years (checked by the service). */
const expiresText = coded(
  z.string().check(z.regex(/^-?\d+$/, 'must be a whole number of seconds')),
  'INVALID_EXPIRES',
  'Seconds until the file expires (1 to 315360000)',
);
const visibility = documented(z.enum(['private', 'public']), 'Public files preview without a token');
const onConflict = documented(
  z.enum(['overwrite', 'rename', 'fail']),
  'What happens when the path holds a file: replace it, store under a new name, or 409',
);

/** Every route takes `?storage=`. */
export const storageQuery = z.object({ storage });

// ---- requests ----------------------------------------------------------------------------------

export const uploadQuery = z.object({
  storage,
  md5: z.optional(md5),
  expires: z.optional(expiresText),
  visibility: z.optional(visibility),
  onConflict: z.optional(onConflict),
});

export const MAX_LIST_LIMIT = 1000;
export const listQuery = z.object({
  storage,
  prefix: optionalText('Only paths that start with this (a folder is `docs/`)'),
  delimiter: z.optional(
    documented(
      z.literal('/'),
      'A folder listing: the files right under `prefix`, and its sub-folders as `prefixes`',
    ),
  ),
  cursor: z.optional(coded(z.string(), 'INVALID_CURSOR', 'The `cursor` of the previous page')),
  limit: z.optional(
    documented(
      z.string().check(z.regex(/^\d{1,4}$/, `must be a whole number from 1 to ${MAX_LIST_LIMIT}`)),
      `Items per page, 1 to ${MAX_LIST_LIMIT} (100)`,
    ),
  ),
});

const linkQuery = {
  expires: z.optional(coded(z.string(), 'INVALID_LINK', "A link's expiry (epoch seconds), signed")),
  kid: z.optional(coded(z.string(), 'INVALID_LINK', 'The id of the key that signed the link')),
  signature: optionalText("The link's signature; without one only public files are served"),
};

export const previewQuery = z.object({
  storage,
  disposition: z.optional(documented(z.enum(['inline', 'attachment']), 'From the link (inline)')),
  ...linkQuery,
});

const dimension = coded(
  z.string().check(z.regex(/^\d{1,6}$/, `must be a whole number from 1 to ${MAX_DIMENSION}`)),
  'INVALID_THUMBNAIL_SIZE',
  `Pixels, 1 to ${MAX_DIMENSION} (120)`,
);
export const thumbnailQuery = z.object({
  storage,
  width: z.optional(dimension),
  height: z.optional(dimension),
  fit: z.optional(coded(z.string(), 'INVALID_THUMBNAIL_FIT', `One of ${FITS.join(', ')} (cover)`)),
  format: z.optional(
    coded(
      z.string(),
      'INVALID_THUMBNAIL_FORMAT',
      `One of ${FORMATS.join(', ')} (auto: WebP where Accept allows it, else JPEG, or PNG for other sources)`,
    ),
  ),
  quality: z.optional(coded(z.string(), 'INVALID_THUMBNAIL_QUALITY', 'Lossy quality, 20 to 100 (80)')),
  ...linkQuery,
});

export const auditQuery = z.object({
  tenant: optionalText('One tenant; every tenant when absent'),
  repair: z.optional(documented(z.enum(['true', 'false']), 'Fix what is found (false)')),
  cursor: optionalText('The `cursor` of a previous answer that ran out of time'),
});

export const recalculateQuery = z.object({
  tenant: optionalText("The tenant whose counters are recomputed (the token's own when absent)"),
});

export const linkBody = z.object({
  path: text("The file, inside the caller's tenant"),
  disposition: z._default(
    documented(z.enum(['inline', 'attachment']), 'How the preview serves it'),
    'inline',
  ),
  expiresIn: z.optional(
    coded(z.number(), 'INVALID_EXPIRES', 'Seconds the link stays valid, 1 to 604800 (PRESIGN_TTL_SECONDS)'),
  ),
  thumbnail: z.optional(
    documented(
      z.object({
        width: z.optional(z.number()),
        height: z.optional(z.number()),
        fit: z.optional(z.string()),
        format: z.optional(z.string()),
        quality: z.optional(z.number()),
      }),
      'A thumbnail link instead of a preview: exactly these parameters (defaults for the rest), checked as the thumbnail route checks them',
    ),
  ),
});

export const signUploadBody = z.object({
  path: text("The file, inside the caller's tenant"),
  contentType: optionalText('The media type (application/octet-stream)'),
  size: documented(
    z.number().check(z.int(), z.nonnegative()),
    'Bytes that will be sent; reserved from the quota',
  ),
  md5: z.optional(md5),
  expires: z.optional(
    coded(z.union([z.number(), z.string()]), 'INVALID_EXPIRES', 'Seconds until the file expires'),
  ),
  visibility: z.optional(visibility),
  onConflict: z.optional(onConflict),
  multipart: z.optional(
    documented(
      z.boolean(),
      'Force (true) or refuse (false) a plan of parts; by size otherwise (MULTIPART_THRESHOLD_BYTES)',
    ),
  ),
});

export const completeBody = z.object({
  parts: z.optional(
    documented(
      z
        .array(z.object({ partNumber: z.number().check(z.int()), etag: z.optional(z.string()) }))
        .check(z.maxLength(10_000)),
      'Multipart: every part 1..N in order, with the ETag each PUT answered',
    ),
  ),
});

export const signPartsBody = z.object({
  parts: documented(z.array(z.number()), 'Part numbers to sign, at most 100'),
});

export const quotaBody = z.object({
  limitBytes: coded(z.number().check(z.int(), z.nonnegative()), 'INVALID_REQUEST', 'The new limit, in bytes'),
});

// ---- answers -----------------------------------------------------------------------------------

export const errorAnswer = z.object({
  error: z.object({ code: text('One of the codes of the error table'), message: text('For people') }),
});

export const attachment = documented(
  z.object({
    id: z.string(),
    md5: z.optional(
      documented(z.string(), 'Absent for a large multipart upload sent without one (never read)'),
    ),
    uid: z.string(),
    url: z.string(),
    name: z.string(),
    size: z.number(),
    type: z.string(),
    expires: z.nullable(z.string()),
    fileName: z.string(),
    fullName: z.string(),
    uploadTime: z.string(),
    uploadUser: z.string(),
    updateUserId: z.string(),
    storeFullName: z.string(),
    retentionPeriod: z.nullable(z.number()),
    storage: z.string(),
    sha256: z.optional(z.string()),
    status: z.literal('READY'),
    visibility: z.enum(['private', 'public']),
  }),
  "A file in the platform's attachment format",
  { id: 'Attachment' },
);

export const listAnswer = z.object({
  items: z.array(attachment),
  prefixes: z.optional(
    documented(z.array(z.string()), 'With `delimiter`: the sub-folders, each a prefix ending with "/"'),
  ),
  cursor: z.nullable(documented(z.string(), 'The next page, or null at the end')),
});

export const linkAnswer = z.object({ url: z.string(), expiresAt: z.string() });

const presigned = {
  method: z.enum(['PUT', 'POST']),
  url: z.string(),
  headers: documented(z.record(z.string(), z.string()), 'Send these headers with the bytes'),
  fields: z.optional(documented(z.record(z.string(), z.string()), 'POST: the form fields, before the file')),
  expiresAt: z.string(),
};

export const uploadPlan = z.union([
  z.object({ uploadId: z.string(), path: z.string(), mode: z.literal('single'), ...presigned }),
  z.object({
    uploadId: z.string(),
    path: z.string(),
    mode: z.literal('multipart'),
    partSize: z.number(),
    parts: z.number(),
    expiresAt: z.string(),
  }),
]);

export const signedParts = z.object({
  parts: z.array(
    z.object({
      partNumber: z.number(),
      method: z.literal('PUT'),
      url: z.string(),
      headers: z.record(z.string(), z.string()),
    }),
  ),
  expiresAt: z.string(),
});

export const storedParts = z.object({
  uploadId: z.string(),
  partSize: z.number(),
  parts: z.number(),
  uploaded: z.array(z.object({ partNumber: z.number(), size: z.number(), etag: z.optional(z.string()) })),
});

export const uploadStatus = z.object({
  uploadId: z.string(),
  path: z.string(),
  storage: z.string(),
  mode: z.enum(['single', 'multipart']),
  size: z.number(),
  partSize: z.optional(z.number()),
  parts: z.optional(z.number()),
  status: z.enum(['PENDING', 'VERIFYING', 'READY', 'FAILED']),
  expiresAt: z.optional(z.string()),
  file: z.optional(attachment),
  error: z.optional(z.object({ code: z.string(), message: z.string() })),
});

export const verifying = z.object({ uploadId: z.string(), status: z.literal('VERIFYING') });

export const usage = z.object({
  tenant: z.string(),
  limitBytes: z.number(),
  usedBytes: z.number(),
  reservedBytes: z.number(),
  fileCount: z.number(),
});

export const storagesAnswer = z.object({
  storages: z.array(
    z.object({
      name: z.string(),
      type: z.string(),
      default: z.boolean(),
      capabilities: z.record(z.string(), z.boolean()),
    }),
  ),
});

export const auditAnswer = z.object({
  repair: z.boolean(),
  tenants: z.number(),
  findings: z.array(
    z.object({
      kind: z.string(),
      tenant: z.string(),
      storage: z.optional(z.string()),
      subject: z.string(),
      detail: z.string(),
      repaired: z.optional(z.boolean()),
    }),
  ),
  complete: z.boolean(),
  cursor: z.optional(z.string()),
});
