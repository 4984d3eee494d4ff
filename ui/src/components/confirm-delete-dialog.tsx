import { useState } from 'preact/hooks';
import { baseName } from '../folders';
import { Modal } from './modal';

const SHOWN = 8;

interface Props {
  paths: readonly string[];
  /** Deletes; the dialog stays open (busy) until it is done. */
  onConfirm: () => Promise<void>;
  onClose: () => void;
}

/** "Delete these files?" Cancel has the focus: Enter alone deletes nothing. */
export function ConfirmDeleteDialog({ paths, onConfirm, onClose }: Props) {
  const [busy, setBusy] = useState(false);
  const count = paths.length;
  const what = count === 1 ? `“${baseName(paths[0] ?? '')}”` : `${count} files`;
  const confirm = async () => {
    setBusy(true);
    try {
      await onConfirm();
    } finally {
      setBusy(false);
      onClose();
    }
  };
  return (
    <Modal title={`Delete ${what}?`} onClose={onClose}>
      <p>This cannot be undone. Links to {count === 1 ? 'it' : 'them'} stop working.</p>
      {count > 1 && (
        <ul class="delete-list">
          {paths.slice(0, SHOWN).map((p) => (
            <li key={p}>{p}</li>
          ))}
          {count > SHOWN && <li>and {count - SHOWN} more</li>}
        </ul>
      )}
      <div class="dialog-actions">
        <button type="button" onClick={onClose} disabled={busy} autofocus>
          Cancel
        </button>
        <button type="button" class="danger" onClick={confirm} disabled={busy}>
          {busy ? 'Deleting…' : `Delete ${count === 1 ? 'file' : `${count} files`}`}
        </button>
      </div>
    </Modal>
  );
}
