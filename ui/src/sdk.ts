/**
 * The one door to the API: the repository's own SDK (client/src), bundled into the page by
 * esbuild. The UI has no fetch code of its own for the API.
 */
export {
  type Attachment,
  type ErrorCode,
  isStorageApiError,
  type Link,
  type ListOptions,
  type ListPage,
  StorageApiError,
  StorageClient,
  type UploadOptions,
  type Usage,
  type Visibility,
} from '../../client/src/index';
