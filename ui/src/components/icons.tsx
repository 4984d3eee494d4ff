import type { ComponentChildren } from 'preact';

/** Small inline icons (no icon font, no request); decorative: the text next to them says it all. */
const Svg = ({ children }: { children: ComponentChildren }) => (
  <svg class="icon" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">
    {children}
  </svg>
);

export const FolderIcon = () => (
  <Svg>
    <path
      d="M3 6.5A1.5 1.5 0 0 1 4.5 5h4.6l2 2h8.4A1.5 1.5 0 0 1 21 8.5v9A1.5 1.5 0 0 1 19.5 19h-15A1.5 1.5 0 0 1 3 17.5z"
      fill="currentColor"
    />
  </Svg>
);

export const FileIcon = () => (
  <Svg>
    <path
      d="M6 3h8l5 5v12a1 1 0 0 1-1 1H6a1 1 0 0 1-1-1V4a1 1 0 0 1 1-1z"
      fill="none"
      stroke="currentColor"
      stroke-width="1.6"
    />
    <path d="M14 3v5h5" fill="none" stroke="currentColor" stroke-width="1.6" />
  </Svg>
);

export const ImageIcon = () => (
  <Svg>
    <rect
      x="3.5"
      y="4.5"
      width="17"
      height="15"
      rx="1.5"
      fill="none"
      stroke="currentColor"
      stroke-width="1.6"
    />
    <circle cx="9" cy="10" r="1.8" fill="currentColor" />
    <path d="M4 18l5-5 3 3 3-4 5 6" fill="none" stroke="currentColor" stroke-width="1.6" />
  </Svg>
);
