import { useRef } from 'preact/hooks';
import type { PickedFile } from '../dropped-files';
import { SORT_LABELS, type SortKey, type SortOrder } from '../sort';

export type View = 'list' | 'grid';

interface Props {
  selectedCount: number;
  order: SortOrder;
  view: View;
  onPick: (files: PickedFile[]) => void;
  onNewFolder: () => void;
  onDeleteSelected: () => void;
  onSort: (order: SortOrder) => void;
  onView: (view: View) => void;
  onRefresh: () => void;
}

/** The folder's actions: upload (picker), new folder, delete the selection, sort, view, refresh. */
export function Toolbar(p: Props) {
  const picker = useRef<HTMLInputElement>(null);
  const flip = p.order.direction === 'asc' ? 'desc' : 'asc';
  return (
    <div class="toolbar" role="toolbar" aria-label="Folder actions">
      <button type="button" class="primary" onClick={() => picker.current?.click()}>
        Upload files
      </button>
      <input
        ref={picker}
        type="file"
        multiple
        hidden
        aria-label="Files to upload"
        onChange={(e) => {
          const input = e.currentTarget;
          const files = Array.from(input.files ?? []).map((file) => ({ file, path: file.name }));
          // Cleared, so picking the same file again still fires change.
          input.value = '';
          if (files.length) p.onPick(files);
        }}
      />
      <button type="button" onClick={p.onNewFolder}>
        New folder
      </button>
      <button
        type="button"
        class="danger"
        disabled={p.selectedCount === 0}
        onClick={p.onDeleteSelected}
        aria-label={
          p.selectedCount
            ? `Delete ${p.selectedCount} selected ${p.selectedCount === 1 ? 'file' : 'files'}`
            : 'Delete selected files'
        }
      >
        Delete{p.selectedCount ? ` (${p.selectedCount})` : ''}
      </button>
      <span class="toolbar-spacer" />
      <label class="inline-field">
        Sort by{' '}
        <select
          value={p.order.key}
          onChange={(e) => p.onSort({ ...p.order, key: e.currentTarget.value as SortKey })}
        >
          {(Object.keys(SORT_LABELS) as SortKey[]).map((key) => (
            <option key={key} value={key}>
              {SORT_LABELS[key]}
            </option>
          ))}
        </select>
      </label>
      <button
        type="button"
        aria-label={`Sorted ${p.order.direction === 'asc' ? 'ascending' : 'descending'}; sort ${flip === 'asc' ? 'ascending' : 'descending'}`}
        onClick={() => p.onSort({ ...p.order, direction: flip })}
      >
        {p.order.direction === 'asc' ? '↑' : '↓'}
      </button>
      <fieldset class="segmented">
        <legend class="sr-only">View</legend>
        <button type="button" aria-pressed={p.view === 'list'} onClick={() => p.onView('list')}>
          List
        </button>
        <button type="button" aria-pressed={p.view === 'grid'} onClick={() => p.onView('grid')}>
          Grid
        </button>
      </fieldset>
      <button type="button" onClick={p.onRefresh}>
        Refresh
      </button>
    </div>
  );
}
