import type { Attachment } from './sdk';

export type SortKey = 'name' | 'size' | 'date';
export type SortDirection = 'asc' | 'desc';
export interface SortOrder {
  key: SortKey;
  direction: SortDirection;
}

const byName = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** Files in the chosen order; ties by name, so the order is stable across reloads. */
export function sortFiles(files: readonly Attachment[], order: SortOrder): Attachment[] {
  const sign = order.direction === 'asc' ? 1 : -1;
  const compare = (a: Attachment, b: Attachment) => {
    const primary =
      order.key === 'size'
        ? a.size - b.size
        : order.key === 'date'
          ? Date.parse(a.uploadTime) - Date.parse(b.uploadTime)
          : byName.compare(a.name, b.name);
    return sign * primary || byName.compare(a.name, b.name);
  };
  return [...files].sort(compare);
}

/** Folders by name only (they have no size or date), in the direction chosen when sorting by name. */
export function sortFolders(folders: readonly string[], order: SortOrder): string[] {
  const sign = order.key === 'name' && order.direction === 'desc' ? -1 : 1;
  return [...folders].sort((a, b) => sign * byName.compare(a, b));
}

export const SORT_LABELS: Record<SortKey, string> = { name: 'Name', size: 'Size', date: 'Date' };
