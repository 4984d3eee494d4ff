import { onFileEvent } from '../../shared/events';
import { renderEagerThumbnails } from '../../shared/service/thumbnails';

/**
 * The one-machine stand-in for the stack's post-upload processor (render-thumbnails on the bus's
 * FileUploaded rule): every upload that commits in this process gets its eager thumbnails in the
 * background, never delaying the upload's answer. stop() waits for the renders still running.
 */
export function startBackgroundThumbnails(): { stop(): Promise<void> } {
  const running = new Set<Promise<unknown>>();
  const off = onFileEvent((type, record) => {
    if (type !== 'FileUploaded') return;
    const render: Promise<unknown> = renderEagerThumbnails(record).finally(() => running.delete(render));
    running.add(render);
  });
  return {
    async stop() {
      off();
      await Promise.allSettled([...running]);
    },
  };
}
