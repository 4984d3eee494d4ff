import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { formatBytes, formatDate, formatFromNow } from '../format';
import type { Attachment, StorageClient } from '../sdk';
import type { ThumbnailLinks, ThumbnailSize } from '../thumbnail-links';
import { Thumbnail } from './thumbnail';

const PREVIEW: ThumbnailSize = { width: 320, height: 240, fit: 'inside' };

interface Props {
  file: Attachment;
  client: StorageClient;
  thumbnails: ThumbnailLinks;
  report: (e: unknown) => void;
  onClose: () => void;
  onDownload: (file: Attachment) => void;
  onShare: (file: Attachment) => void;
  onDelete: (file: Attachment) => void;
}

/**
 * One file's record (GET /v1/meta, read afresh on opening), with its visibility and expiry, and
 * what can be done with it. Escape closes it; the focus moves into it on opening.
 */
export function DetailsPanel({ file: listed, client, thumbnails, report, onClose, ...actions }: Props) {
  const [file, setFile] = useState(listed);
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    setFile(listed);
    const controller = new AbortController();
    client.getObject(listed.fullName, controller.signal).then(setFile, (e: unknown) => {
      if (!controller.signal.aborted) report(e);
    });
    heading.current?.focus();
    return () => controller.abort();
  }, [listed.fullName, listed.id]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      // A dialog open on top handles its own Escape.
      if (e.key === 'Escape' && !document.querySelector('dialog[open]')) onClose();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [onClose]);

  const rows: [string, ComponentChildren][] = [
    [
      'Folder',
      file.fullName.includes('/') ? file.fullName.slice(0, file.fullName.lastIndexOf('/') + 1) : '(top)',
    ],
    ['Size', `${formatBytes(file.size)} (${file.size.toLocaleString()} bytes)`],
    ['Type', file.type],
    [
      'Visibility',
      file.visibility === 'public'
        ? 'Public: anyone with its address can preview it'
        : 'Private: only you, and people you give a link to',
    ],
    ['Expires', file.expires ? `${formatDate(file.expires)} (${formatFromNow(file.expires)})` : 'Never'],
    ['Uploaded', `${formatDate(file.uploadTime)} by ${file.uploadUser}`],
    ['Storage', file.storage],
    ['ID', file.id],
    ['MD5', file.md5 ?? '(not computed for this upload)'],
    ['SHA-256', file.sha256 ?? '(not computed)'],
  ];
  return (
    <aside class="details" aria-labelledby="details-title" data-path={file.fullName}>
      <div class="details-head">
        <h2 id="details-title" ref={heading} tabIndex={-1}>
          {file.name}
        </h2>
        <button type="button" class="icon-button" aria-label="Close details" onClick={onClose}>
          ×
        </button>
      </div>
      <div class="details-preview">
        <Thumbnail file={file} links={thumbnails} size={PREVIEW} alt={`Preview of ${file.name}`} />
      </div>
      <div class="details-actions">
        <button type="button" class="primary" onClick={() => actions.onDownload(file)}>
          Download
        </button>
        <button type="button" onClick={() => actions.onShare(file)}>
          Copy link…
        </button>
        <button type="button" class="danger" onClick={() => actions.onDelete(file)}>
          Delete…
        </button>
      </div>
      <dl class="record">
        {rows.map(([term, value]) => (
          <div key={term} data-field={term}>
            <dt>{term}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
    </aside>
  );
}
