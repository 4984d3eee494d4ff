import { formatDate, formatFromNow } from '../format';
import type { Attachment } from '../sdk';

/** What sets a file apart: public, or expiring. */
export function FileBadges({ file }: { file: Attachment }) {
  return (
    <>
      {file.visibility === 'public' && <span class="badge badge-public">Public</span>}
      {file.expires && (
        <span class="badge badge-expires" title={`Expires ${formatDate(file.expires)}`}>
          Expires {formatFromNow(file.expires)}
        </span>
      )}
    </>
  );
}
