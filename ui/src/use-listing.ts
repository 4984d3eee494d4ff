import { useEffect, useRef, useState } from 'preact/hooks';
import { type FolderListing, listFolder } from './folders';
import type { StorageClient } from './sdk';

interface ListingState {
  folder: string;
  listing: FolderListing | null;
  loading: boolean;
}

/**
 * The open folder's contents, read again whenever `version` changes (after an upload or a
 * delete). A read still running for a folder left is aborted; a refresh keeps showing the
 * previous contents of the same folder until the new ones are in (no flicker).
 */
export function useListing(
  client: StorageClient,
  folder: string,
  version: number,
  report: (e: unknown) => void,
) {
  const [state, setState] = useState<ListingState>({ folder, listing: null, loading: true });
  const more = useRef<AbortController | null>(null);

  useEffect(() => {
    const controller = new AbortController();
    setState((s) =>
      s.folder === folder ? { ...s, loading: true } : { folder, listing: null, loading: true },
    );
    listFolder(client, folder, controller.signal).then(
      (listing) => setState({ folder, listing, loading: false }),
      (e: unknown) => {
        if (controller.signal.aborted) return;
        report(e);
        setState((s) => ({ ...s, loading: false }));
      },
    );
    return () => {
      controller.abort();
      more.current?.abort();
    };
  }, [client, folder, version]);

  const loadMore = async () => {
    const cursor = state.listing?.cursor;
    if (!cursor || state.folder !== folder) return;
    const controller = new AbortController();
    more.current = controller;
    setState((s) => ({ ...s, loading: true }));
    try {
      const next = await listFolder(client, folder, controller.signal, cursor);
      setState((s) => {
        const prev = s.listing ?? { folders: [], files: [], cursor: null };
        const folders = [...new Set([...prev.folders, ...next.folders])];
        return {
          folder,
          loading: false,
          listing: { folders, files: [...prev.files, ...next.files], cursor: next.cursor },
        };
      });
    } catch (e) {
      if (!controller.signal.aborted) report(e);
      setState((s) => ({ ...s, loading: false }));
    }
  };

  const current = state.folder === folder ? state.listing : null;
  return { listing: current, loading: state.loading || state.folder !== folder, loadMore };
}
