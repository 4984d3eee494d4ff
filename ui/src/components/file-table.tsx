import { folderName } from '../folders';
import { formatBytes, formatDate } from '../format';
import { SORT_LABELS, type SortKey } from '../sort';
import { FileBadges } from './file-badges';
import type { FileListingProps } from './file-listing';
import { FileIcon, FolderIcon } from './icons';

/** The list view: a table whose column heads sort, rows reached with Tab (checkbox, name, download). */
export function FileTable(p: FileListingProps) {
  const allSelected = p.files.length > 0 && p.files.every((f) => p.selected.has(f.fullName));
  const sortHead = (key: SortKey) => {
    const active = p.order.key === key;
    return (
      <th
        scope="col"
        class={`col-${key}`}
        aria-sort={active ? (p.order.direction === 'asc' ? 'ascending' : 'descending') : undefined}
      >
        <button type="button" class="sort-head" onClick={() => p.onSort(key)}>
          {SORT_LABELS[key]}
          <span aria-hidden="true">{active ? (p.order.direction === 'asc' ? ' ↑' : ' ↓') : ''}</span>
        </button>
      </th>
    );
  };
  return (
    <table class="file-table" aria-busy={p.busy}>
      <caption class="sr-only">Files and folders</caption>
      <thead>
        <tr>
          <th scope="col" class="col-check">
            <input
              type="checkbox"
              aria-label="Select all files"
              checked={allSelected}
              disabled={p.files.length === 0}
              onChange={(e) => p.onToggleAll(e.currentTarget.checked)}
            />
          </th>
          {sortHead('name')}
          {sortHead('size')}
          {sortHead('date')}
          <th scope="col" class="col-actions">
            <span class="sr-only">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {p.folders.map((prefix) => (
          <tr key={prefix} class="folder-row" data-folder={prefix}>
            <td />
            <td>
              <button type="button" class="name-button" onClick={() => p.onOpenFolder(prefix)}>
                <FolderIcon />
                <span class="name">{folderName(prefix)}</span>
                {p.emptyFolders.has(prefix) && <span class="badge">empty until a file is uploaded</span>}
              </button>
            </td>
            <td class="muted">Folder</td>
            <td />
            <td />
          </tr>
        ))}
        {p.files.map((file) => {
          const checked = p.selected.has(file.fullName);
          return (
            <tr key={file.fullName} class={checked ? 'selected' : ''} data-path={file.fullName}>
              <td class="col-check">
                <input
                  type="checkbox"
                  aria-label={`Select ${file.name}`}
                  checked={checked}
                  onChange={() => p.onToggle(file.fullName)}
                />
              </td>
              <td>
                <button
                  type="button"
                  class="name-button"
                  aria-label={`${file.name}: show details`}
                  onClick={() => p.onShowDetails(file)}
                >
                  <FileIcon />
                  <span class="name">{file.name}</span>
                </button>
                <FileBadges file={file} />
              </td>
              <td class="num">{formatBytes(file.size)}</td>
              <td>{formatDate(file.uploadTime)}</td>
              <td class="col-actions">
                <button
                  type="button"
                  class="small"
                  aria-label={`Download ${file.name}`}
                  onClick={() => p.onDownload(file)}
                >
                  Download
                </button>
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
