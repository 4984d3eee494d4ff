import { onFileEvent } from '../../shared/events';
import { runInBackground } from '../../shared/service/background';
import { renderEagerThumbnails } from '../../shared/service/thumbnails';

/**
 * The one-machine stand-in for the stack's post-upload processor (render-thumbnails on the bus's
 * FileUploaded rule): every upload that commits in this process gets its eager thumbnails in the
 * background, never delaying the upload's answer. The runtime's stop() waits for the renders
 * still running (backgroundSettled).
 */
export function startBackgroundThumbnails(): { stop(): void } {
  const off = onFileEvent((type, record) => {
    if (type === 'FileUploaded') runInBackground('eager thumbnails', () => renderEagerThumbnails(record));
  });
  return { stop: off };
}
