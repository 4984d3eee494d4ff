export { type ErrorCode, errorCodes } from './error-codes.js';
export { type ErrorSource, isErrorCode, isStorageApiError, StorageApiError } from './errors.js';
export type { FetchLike } from './http.js';
export {
  type DownloadOptions,
  type LinkOptions,
  type ListOptions,
  type SignUrlOptions,
  StorageClient,
  type StorageClientOptions,
} from './storage-client.js';
export type * from './types.js';
export type { UploadData, UploadOptions, UploadProgress } from './upload.js';
