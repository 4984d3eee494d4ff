import { useState } from 'preact/hooks';
import { toUiError, type UiError } from '../error-messages';
import { formatDate, formatFromNow } from '../format';
import type { Attachment, Link, StorageClient } from '../sdk';
import { ErrorNote } from './error-note';
import { Modal } from './modal';

/** How long a link works: the service allows up to 7 days. */
const PRESETS = [
  { label: '5 minutes', seconds: 300 },
  { label: '1 hour', seconds: 3600 },
  { label: '1 day', seconds: 86_400 },
  { label: '7 days', seconds: 604_800 },
] as const;

interface Props {
  file: Attachment;
  client: StorageClient;
  onClose: () => void;
}

/**
 * A signed, expiring link to the file (POST /v1/links) for someone without an account: made with
 * the chosen lifetime and behaviour, copied to the clipboard, and shown (selectable) in case the
 * clipboard is not allowed.
 */
export function ShareDialog({ file, client, onClose }: Props) {
  const [seconds, setSeconds] = useState<number>(3600);
  const [disposition, setDisposition] = useState<'inline' | 'attachment'>('inline');
  const [link, setLink] = useState<Link | null>(null);
  const [status, setStatus] = useState('');
  const [error, setError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);

  const create = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setStatus('');
    try {
      const made = await client.createLink(file.fullName, { expiresIn: seconds, disposition });
      setLink(made);
      try {
        await navigator.clipboard.writeText(made.url);
        setStatus('Link copied to the clipboard.');
      } catch {
        setStatus('The clipboard is not available here: select the link below and copy it.');
      }
    } catch (err) {
      setError(toUiError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal title={`Share “${file.name}”`} onClose={onClose}>
      <form class="share-form" onSubmit={create}>
        <fieldset>
          <legend>The link works for</legend>
          {PRESETS.map((p) => (
            <label key={p.seconds} class="choice">
              <input
                type="radio"
                name="link-expiry"
                value={p.seconds}
                checked={seconds === p.seconds}
                onChange={() => setSeconds(p.seconds)}
              />{' '}
              {p.label}
            </label>
          ))}
        </fieldset>
        <fieldset>
          <legend>Opening it</legend>
          <label class="choice">
            <input
              type="radio"
              name="link-disposition"
              checked={disposition === 'inline'}
              onChange={() => setDisposition('inline')}
            />{' '}
            shows the file in the browser
          </label>
          <label class="choice">
            <input
              type="radio"
              name="link-disposition"
              checked={disposition === 'attachment'}
              onChange={() => setDisposition('attachment')}
            />{' '}
            downloads it
          </label>
        </fieldset>
        {error && <ErrorNote error={error} />}
        {link && (
          <div class="link-result">
            <label for="share-link">Link</label>
            <input
              id="share-link"
              type="text"
              readOnly
              value={link.url}
              onFocus={(e) => e.currentTarget.select()}
            />
            <p class="muted">
              Works until {formatDate(link.expiresAt)} ({formatFromNow(link.expiresAt)}), or until the file is
              replaced or deleted.
            </p>
          </div>
        )}
        <p class="status" role="status">
          {status}
        </p>
        <div class="dialog-actions">
          <button type="button" onClick={onClose}>
            Close
          </button>
          <button type="submit" class="primary" disabled={busy} autofocus>
            {link ? 'Make a new link and copy it' : 'Copy link'}
          </button>
        </div>
      </form>
    </Modal>
  );
}
