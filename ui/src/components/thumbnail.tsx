import { useEffect, useState } from 'preact/hooks';
import type { Attachment } from '../sdk';
import { hasThumbnail, type ThumbnailLinks, type ThumbnailSize } from '../thumbnail-links';
import { FileIcon, ImageIcon } from './icons';

interface Props {
  file: Attachment;
  links: ThumbnailLinks;
  size: ThumbnailSize;
  /** Alt text; "" when the name is said next to it. */
  alt?: string;
}

/** An image's thumbnail through a signed link (private files too); an icon for everything else. */
export function Thumbnail({ file, links, size, alt = '' }: Props) {
  const [url, setUrl] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);
  const can = hasThumbnail(file);

  useEffect(() => {
    if (!can) return;
    let live = true;
    setFailed(false);
    links.url(file, size).then(
      (u) => live && setUrl(u),
      () => live && setFailed(true),
    );
    return () => {
      live = false;
    };
  }, [file.id, size.width, size.height]);

  if (!can || failed) {
    return <span class="thumb thumb-icon">{can ? <ImageIcon /> : <FileIcon />}</span>;
  }
  if (!url) return <span class="thumb thumb-loading" aria-hidden="true" />;
  return (
    <img
      class="thumb"
      src={url}
      alt={alt}
      width={size.width}
      height={size.height}
      loading="lazy"
      decoding="async"
      onError={() => setFailed(true)}
    />
  );
}
