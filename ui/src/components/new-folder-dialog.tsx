import { useState } from 'preact/hooks';
import { folderNameProblem } from '../folders';
import { Modal } from './modal';

interface Props {
  onCreate: (name: string) => void;
  onClose: () => void;
}

/**
 * A new folder's name. The service has no empty folders: the folder is shown here until a file is
 * uploaded into it, and then it exists.
 */
export function NewFolderDialog({ onCreate, onClose }: Props) {
  const [name, setName] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const submit = (e: Event) => {
    e.preventDefault();
    const trimmed = name.trim();
    const why = folderNameProblem(trimmed);
    if (why) {
      setProblem(why);
      return;
    }
    onCreate(trimmed);
  };
  return (
    <Modal title="New folder" onClose={onClose}>
      <form onSubmit={submit}>
        <label for="folder-name">Name</label>
        <input
          id="folder-name"
          type="text"
          value={name}
          autofocus
          autocomplete="off"
          aria-invalid={problem ? true : undefined}
          aria-describedby="folder-name-help"
          onInput={(e) => {
            setName(e.currentTarget.value);
            setProblem(null);
          }}
        />
        <p id="folder-name-help" class={problem ? 'field-error' : 'muted'}>
          {problem ?? 'The folder stays empty until you upload a file into it.'}
        </p>
        <div class="dialog-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="primary">
            Create and open
          </button>
        </div>
      </form>
    </Modal>
  );
}
