import type { Attachment } from '../sdk';
import type { SortKey, SortOrder } from '../sort';
import type { ThumbnailLinks } from '../thumbnail-links';

/** What both views (table and grid) show and do. */
export interface FileListingProps {
  folders: readonly string[];
  /** Folders that exist only here until a file lands in them. */
  emptyFolders: ReadonlySet<string>;
  files: readonly Attachment[];
  selected: ReadonlySet<string>;
  order: SortOrder;
  thumbnails: ThumbnailLinks;
  busy: boolean;
  onOpenFolder: (prefix: string) => void;
  onShowDetails: (file: Attachment) => void;
  onDownload: (file: Attachment) => void;
  onToggle: (path: string) => void;
  onToggleAll: (on: boolean) => void;
  onSort: (key: SortKey) => void;
}
