import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context, EventBridgeEvent } from 'aws-lambda';
import { logger } from '../shared/logger';
import { loadSecrets } from '../shared/secrets';
import { renderThumbnailsOfUpload } from '../shared/service/thumbnails';

type FileUploaded = EventBridgeEvent<
  'FileUploaded',
  { id: string; tenant: string; storage: string; path: string }
>;

/**
 * The post-upload processor: the bus's FileUploaded events of images (a rule filters on the
 * content type) render the configured eager sizes, so the first thumbnail request is a cache hit.
 * The upload answered long before; a failure here is logged and never reaches it.
 */
export const handler = middy<FileUploaded, { rendered: number }, Error, Context>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use({ before: () => loadSecrets() })
  .handler(async (event) => ({ rendered: await renderThumbnailsOfUpload(event.detail) }));
