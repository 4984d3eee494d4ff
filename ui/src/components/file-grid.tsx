import { folderName } from '../folders';
import { formatBytes } from '../format';
import type { ThumbnailSize } from '../thumbnail-links';
import type { FileListingProps } from './file-listing';
import { FolderIcon } from './icons';
import { Thumbnail } from './thumbnail';

const TILE: ThumbnailSize = { width: 160, height: 120, fit: 'cover' };

/** The grid view: a tile (a button) per folder and file, images shown by their thumbnails. */
export function FileGrid(p: FileListingProps) {
  return (
    <ul class="file-grid" aria-busy={p.busy} aria-label="Files and folders">
      {p.folders.map((prefix) => (
        <li key={prefix} class="tile-cell" data-folder={prefix}>
          <button type="button" class="tile" onClick={() => p.onOpenFolder(prefix)}>
            <span class="thumb thumb-icon folder">
              <FolderIcon />
            </span>
            <span class="tile-name">{folderName(prefix)}</span>
            <span class="tile-meta">{p.emptyFolders.has(prefix) ? 'Empty folder' : 'Folder'}</span>
          </button>
        </li>
      ))}
      {p.files.map((file) => {
        const checked = p.selected.has(file.fullName);
        return (
          <li key={file.fullName} class={`tile-cell${checked ? ' selected' : ''}`} data-path={file.fullName}>
            <button
              type="button"
              class="tile"
              aria-label={`${file.name}, ${formatBytes(file.size)}: show details`}
              onClick={() => p.onShowDetails(file)}
            >
              <Thumbnail file={file} links={p.thumbnails} size={TILE} />
              <span class="tile-name">{file.name}</span>
              <span class="tile-meta">{formatBytes(file.size)}</span>
            </button>
            <input
              type="checkbox"
              class="tile-check"
              aria-label={`Select ${file.name}`}
              checked={checked}
              onChange={() => p.onToggle(file.fullName)}
            />
          </li>
        );
      })}
    </ul>
  );
}
