import { breadcrumbs } from '../folders';

/** Where the open folder is: each level up is a link-like button, the current one is marked. */
export function Breadcrumbs({ folder, onOpen }: { folder: string; onOpen: (prefix: string) => void }) {
  const trail = breadcrumbs(folder);
  return (
    <nav class="breadcrumbs" aria-label="Folder">
      <ol>
        {trail.map((crumb, i) => (
          <li key={crumb.prefix}>
            {i === trail.length - 1 ? (
              <span aria-current="page">{crumb.name}</span>
            ) : (
              <button type="button" class="link" onClick={() => onOpen(crumb.prefix)}>
                {crumb.name}
              </button>
            )}
          </li>
        ))}
      </ol>
    </nav>
  );
}
