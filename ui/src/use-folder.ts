import { useEffect, useState } from 'preact/hooks';
import { folderFromHash, hashOfFolder } from './folders';

/** The open folder, kept in the address's fragment: Back, Forward, reload and bookmarks keep it. */
export function useFolder(): [string, (folder: string) => void] {
  const [folder, setFolder] = useState(() => folderFromHash(window.location.hash));
  useEffect(() => {
    const follow = () => setFolder(folderFromHash(window.location.hash));
    window.addEventListener('hashchange', follow);
    return () => window.removeEventListener('hashchange', follow);
  }, []);
  const open = (next: string) => {
    if (next === folder) return;
    window.location.hash = hashOfFolder(next);
  };
  return [folder, open];
}
