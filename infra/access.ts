/**
 * What each function may touch, and how big it runs. This table is the whole least-privilege
 * policy of the stack: the constructs turn it into IAM statements, and test/infra checks the
 * generated policies against it. A function absent from a column gets nothing of that kind.
 *
 * Read functions (download, preview, meta, list, links, usage) are read-only in IAM: they cannot
 * write or delete even if their code tried (preview is reachable without a token). Expired files
 * they meet answer 404 and are left to the sweeper (CLEANUP_ON_READ=false), which runs every few minutes.
 */
export type TableAccess = 'read' | 'write';

export interface FunctionAccess {
  /** read = GetItem/Query; write = read + PutItem/UpdateItem/DeleteItem/ConditionCheckItem (transactions). */
  table?: TableAccess;
  /** Query on the sparse sweep index (only the sweeper looks for due items). */
  sweepIndex?: boolean;
  /** Scan of the table: only the all-tenant integrity audit, to find the tenants (never on a request's path). */
  scan?: boolean;
  /** Object actions on the storage instances (own bucket, extra S3 buckets, their KMS keys). */
  objects?: { read?: boolean; write?: boolean; delete?: boolean; parts?: boolean };
  /** Puts FileUploaded / FileDeleted / FileExpired events on the bus. */
  emits?: boolean;
  memoryMb?: number;
  timeoutSeconds?: number;
}

/** API Gateway waits at most 30 s for an integration. */
const API_MAX_SECONDS = 29;

export const functionAccess: Record<string, FunctionAccess> = {
  'upload-object': {
    table: 'write',
    objects: { write: true, delete: true },
    emits: true,
    memoryMb: 1024,
    timeoutSeconds: API_MAX_SECONDS,
  },
  'upload-form': {
    table: 'write',
    objects: { write: true, delete: true },
    emits: true,
    memoryMb: 1024,
    timeoutSeconds: API_MAX_SECONDS,
  },
  'download-object': { table: 'read', objects: { read: true } },
  'delete-object': { table: 'write', objects: { delete: true }, emits: true },
  'list-objects': { table: 'read' },
  'get-file-record': { table: 'read' },
  'preview-object': { table: 'read', objects: { read: true } },
  /**
   * previewThumbnail: reads the source, writes the variants it keeps (and reserves them on the
   * file, a table write), removes an expired file it meets like every read. sharp needs the memory
   * (and Lambda gives CPU in proportion to it).
   */
  'get-thumbnail': {
    table: 'write',
    objects: { read: true, write: true, delete: true },
    emits: true,
    memoryMb: 1536,
    timeoutSeconds: API_MAX_SECONDS,
  },
  'create-link': { table: 'read' },
  /** Bumps the file's link generation; an expired file it meets is removed like on delete. */
  'revoke-links': { table: 'write', objects: { delete: true }, emits: true },
  /** Presigning an upload needs the signer to hold s3:PutObject; it writes nothing itself. */
  'sign-upload': { table: 'write', objects: { write: true } },
  /** Part URLs are presigned UploadPart calls: the signer holds s3:PutObject. */
  'sign-parts': { table: 'read', objects: { write: true } },
  /** ListParts (resume) is s3:ListMultipartUploadParts, and nothing else of the objects. */
  'list-parts': { table: 'read', objects: { parts: true } },
  'get-upload': { table: 'read' },
  /** Aborting ends the session and drops its parts (s3:AbortMultipartUpload) and staged object. */
  'abort-upload': { table: 'write', objects: { delete: true } },
  /** Finalize copies the staging object to its final key (GetObject + PutObject), hashes it, deletes what is refused. */
  'complete-upload': {
    table: 'write',
    objects: { read: true, write: true, delete: true },
    emits: true,
    memoryMb: 1024,
    timeoutSeconds: API_MAX_SECONDS,
  },
  'get-usage': { table: 'read' },
  'set-quota': { table: 'write' },
  'recalculate-usage': { table: 'write', timeoutSeconds: API_MAX_SECONDS },
  /** The API's OpenAPI document, from the route table and its schemas: no data access at all. */
  'get-openapi': {},
  /** Lists configured instances and their capabilities: no data access at all. */
  'list-storages': {},
  /** The `$default` route: answers 404/405 from the route table alone. */
  'no-route': {},
  'on-object-created': {
    table: 'write',
    objects: { read: true, write: true, delete: true },
    emits: true,
    memoryMb: 1024,
    timeoutSeconds: 300,
  },
  /** The post-upload processor: FileUploaded events of images render the eager thumbnail sizes. */
  'render-thumbnails': {
    table: 'write',
    objects: { read: true, write: true },
    memoryMb: 1536,
    timeoutSeconds: 120,
  },
  /** Lists the staging prefix for leftovers (read brings s3:ListBucket) and deletes garbage. */
  'sweep-expired': { table: 'write', sweepIndex: true, objects: { read: true, delete: true }, emits: true },
  /** The integrity audit: lists and heads objects, repairs with the service's own conditional writes. */
  'run-audit': {
    table: 'write',
    scan: true,
    objects: { read: true, delete: true },
    memoryMb: 1024,
    timeoutSeconds: API_MAX_SECONDS,
  },
  'audit-integrity': {
    table: 'write',
    scan: true,
    objects: { read: true, delete: true },
    memoryMb: 1024,
    timeoutSeconds: 900,
  },
};

export const DEFAULT_MEMORY_MB = 512;
export const DEFAULT_TIMEOUT_SECONDS = 10;

export const READ_TABLE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:Query'];
export const WRITE_TABLE_ACTIONS = [
  ...READ_TABLE_ACTIONS,
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:ConditionCheckItem',
];

/**
 * s3:ListBucket goes with reads: without it S3 answers 403 instead of 404 for a missing key, and the
 * backend could not tell "not found" from "access denied".
 */
export const OBJECT_ACTIONS = {
  read: ['s3:GetObject'],
  write: ['s3:PutObject', 's3:AbortMultipartUpload'],
  // Whoever deletes an upload's objects aborts its unassembled parts too (they are bytes).
  delete: ['s3:DeleteObject', 's3:AbortMultipartUpload'],
  parts: ['s3:ListMultipartUploadParts'],
} as const;
export const BUCKET_READ_ACTIONS = ['s3:ListBucket'];

export function accessOf(fn: string): FunctionAccess {
  const access = functionAccess[fn];
  if (!access) throw new Error(`infra/access.ts has no entry for function ${fn}`);
  return access;
}
