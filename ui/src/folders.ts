import type { Attachment, ListOptions, StorageClient } from './sdk';

/**
 * Folders are prefixes of paths ("docs/2024/"): the service has files only, and a folder exists
 * while a file lies under it. `list({ prefix, delimiter: '/' })` answers the files of one folder
 * and its subfolders (`prefixes`).
 */
export interface FolderListing {
  /** Subfolders, as full prefixes ending in "/". */
  folders: string[];
  files: Attachment[];
  /** Where to go on (Load more); null: the folder is complete. */
  cursor: string | null;
}

/** Files read per view before "Load more" is offered: a huge folder does not load whole. */
export const PAGE_BUDGET = 2000;

/** One folder's contents, page after page, until the budget or the end. */
export async function listFolder(
  client: StorageClient,
  prefix: string,
  signal: AbortSignal,
  cursor?: string,
): Promise<FolderListing> {
  const folders = new Set<string>();
  const files: Attachment[] = [];
  const options: ListOptions = {
    delimiter: '/',
    limit: 1000,
    signal,
    ...(prefix ? { prefix } : {}),
    ...(cursor ? { cursor } : {}),
  };
  let next: string | null = null;
  for await (const page of client.list(options)) {
    if (page.prefixes) {
      for (const p of page.prefixes) folders.add(p);
      files.push(...page.items);
    } else {
      // A service from before folder listings ignores the delimiter and answers every file below
      // the prefix: the folders are made here from the paths instead.
      for (const item of page.items) {
        const slash = item.fullName.indexOf('/', prefix.length);
        if (slash < 0) files.push(item);
        else folders.add(item.fullName.slice(0, slash + 1));
      }
    }
    next = page.cursor;
    if (files.length + folders.size >= PAGE_BUDGET) break;
  }
  return { folders: [...folders], files, cursor: next };
}

/** The last segment of a folder prefix: "docs/2024/" -> "2024". */
export const folderName = (prefix: string) => prefix.slice(0, -1).split('/').pop() ?? prefix;

/** The file's name without its folders. */
export const baseName = (path: string) => path.slice(path.lastIndexOf('/') + 1);

/** The trail from the top: "" (all files), "docs/", "docs/2024/". */
export function breadcrumbs(folder: string): { name: string; prefix: string }[] {
  const trail = [{ name: 'All files', prefix: '' }];
  let prefix = '';
  for (const segment of folder.split('/').filter(Boolean)) {
    prefix += `${segment}/`;
    trail.push({ name: segment, prefix });
  }
  return trail;
}

/** Why a new folder's name would be refused by the service (README "Names"), or null if fine. */
export function folderNameProblem(name: string): string | null {
  if (!name.trim()) return 'Type a name.';
  if (name.includes('/')) return 'A name cannot contain "/": create one folder at a time.';
  if (name.includes('\\')) return 'A name cannot contain a backslash.';
  if (name === '.' || name === '..') return 'A name cannot be "." or "..".';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: exactly what the service refuses
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'A name cannot contain control characters.';
  return null;
}

/** The folder the address names (`#/docs/2024/`), so Back, Forward and bookmarks work. */
export function folderFromHash(hash: string): string {
  if (!hash.startsWith('#/')) return '';
  try {
    const segments = hash.slice(2).split('/').filter(Boolean).map(decodeURIComponent);
    return segments.length ? `${segments.join('/')}/` : '';
  } catch {
    return '';
  }
}

export const hashOfFolder = (folder: string) =>
  `#/${folder
    .split('/')
    .filter(Boolean)
    .map((s) => `${encodeURIComponent(s)}/`)
    .join('')}`;
