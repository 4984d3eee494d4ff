import { formatBytes } from '../format';
import type { UploadItem, UploadQueue, UploadState } from '../upload-queue';
import { ErrorNote } from './error-note';

const STATE_TEXT: Record<UploadState, string> = {
  queued: 'Waiting',
  uploading: 'Uploading',
  done: 'Uploaded',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

function UploadRow({ item, queue }: { item: UploadItem; queue: UploadQueue }) {
  const total = item.file.size;
  const percent = total ? Math.floor((item.loaded / total) * 100) : item.state === 'done' ? 100 : 0;
  const active = item.state === 'queued' || item.state === 'uploading';
  return (
    <li class={`upload upload-${item.state}`} data-path={item.path} data-state={item.state}>
      <div class="upload-head">
        <span class="upload-name" title={item.path}>
          {item.path}
        </span>
        <span class="upload-state">
          {STATE_TEXT[item.state]}
          {item.resumeId && item.state === 'failed' ? ' (a retry resumes)' : ''}
        </span>
      </div>
      <progress
        max={total || 1}
        value={total ? item.loaded : item.state === 'done' ? 1 : 0}
        aria-label={`Upload of ${item.path}`}
        aria-valuetext={`${percent}% (${formatBytes(item.loaded)} of ${formatBytes(total)})`}
        data-loaded={item.loaded}
        data-total={total}
      />
      <div class="upload-foot">
        <span class="muted">
          {formatBytes(item.loaded)} of {formatBytes(total)} ({percent}%)
        </span>
        {active && (
          <button
            type="button"
            class="small"
            aria-label={`Cancel upload of ${item.path}`}
            onClick={() => queue.cancel(item.key)}
          >
            Cancel
          </button>
        )}
        {(item.state === 'failed' || item.state === 'cancelled') && (
          <button
            type="button"
            class="small"
            aria-label={`Retry upload of ${item.path}`}
            onClick={() => queue.retry(item.key)}
          >
            Retry
          </button>
        )}
      </div>
      {item.error && (
        <div role="alert">
          <ErrorNote error={item.error} />
        </div>
      )}
    </li>
  );
}

/** Every upload of the page with its own progress, cancel and retry. */
export function UploadsPanel({ items, queue }: { items: readonly UploadItem[]; queue: UploadQueue }) {
  if (!items.length) return null;
  const running = items.filter((i) => i.state === 'queued' || i.state === 'uploading').length;
  const failed = items.filter((i) => i.state === 'failed').length;
  const finished = items.some((i) => i.state === 'done' || i.state === 'cancelled');
  return (
    <section class="uploads" aria-labelledby="uploads-title">
      <div class="uploads-head">
        <h2 id="uploads-title">Uploads</h2>
        <span class="muted" role="status">
          {running ? `${running} in progress` : 'All done'}
          {failed ? `, ${failed} failed` : ''}
        </span>
        {finished && (
          <button type="button" class="small" onClick={() => queue.clearFinished()}>
            Clear finished
          </button>
        )}
      </div>
      <ul class="upload-list">
        {items.map((item) => (
          <UploadRow key={item.key} item={item} queue={queue} />
        ))}
      </ul>
    </section>
  );
}
