import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { apiBaseUrl, type UiConfig } from '../config';
import type { PickedFile } from '../dropped-files';
import { eachLimited } from '../each-limited';
import type { UiError } from '../error-messages';
import { saveFromUrl } from '../save-file';
import { type Attachment, StorageClient } from '../sdk';
import type { Session } from '../session';
import { type SortKey, type SortOrder, sortFiles, sortFolders } from '../sort';
import { ThumbnailLinks } from '../thumbnail-links';
import { API_UPLOAD_MAX_BYTES, type UploadChoices, UploadQueue } from '../upload-queue';
import { useErrors } from '../use-errors';
import { useFolder } from '../use-folder';
import { useListing } from '../use-listing';
import { useStoredState } from '../use-stored-state';
import { useUploads } from '../use-uploads';
import { useUsage } from '../use-usage';
import { Breadcrumbs } from './breadcrumbs';
import { ConfirmDeleteDialog } from './confirm-delete-dialog';
import { DetailsPanel } from './details-panel';
import { DropZone } from './drop-zone';
import { ErrorNote } from './error-note';
import { FileGrid } from './file-grid';
import type { FileListingProps } from './file-listing';
import { FileTable } from './file-table';
import { NewFolderDialog } from './new-folder-dialog';
import { ShareDialog } from './share-dialog';
import { Toolbar, type View } from './toolbar';
import { UploadSettings } from './upload-settings';
import { UploadsPanel } from './uploads-panel';
import { UsageBar } from './usage-bar';

type Dialog =
  | { kind: 'delete'; paths: string[] }
  | { kind: 'share'; file: Attachment }
  | { kind: 'new-folder' };

interface Props {
  config: UiConfig;
  session: Session;
  onSignOut: (reason?: UiError) => void;
}

/** A folder's direct subfolders among the ones made here ("docs/" holds "docs/new/", not "docs/new/deeper/"). */
const childrenOf = (folder: string, made: ReadonlySet<string>) =>
  [...made].filter((p) => p.startsWith(folder) && p.indexOf('/', folder.length) === p.length - 1);

/** The signed-in screen: one folder at a time, its files, the uploads, the details, the dialogs. */
export function FileBrowser({ config, session, onSignOut }: Props) {
  const client = useMemo(
    () =>
      new StorageClient({
        baseUrl: apiBaseUrl(config),
        token: session.token,
        apiUploadMaxBytes: API_UPLOAD_MAX_BYTES,
      }),
    [config, session.token],
  );
  const thumbnails = useMemo(() => new ThumbnailLinks(client), [client]);
  const { errors, report, dismiss } = useErrors(onSignOut);
  const [folder, openFolder] = useFolder();
  const [version, setVersion] = useState(0);
  const refresh = () => setVersion((v) => v + 1);
  const { listing, loading, loadMore } = useListing(client, folder, version, report);
  const usage = useUsage(client, version, report);

  const [view, setView] = useStoredState<View>('file-browser.view', ['list', 'grid'], 'list');
  const [order, setOrder] = useState<SortOrder>({ key: 'name', direction: 'asc' });
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [details, setDetails] = useState<Attachment | null>(null);
  const [dialog, setDialog] = useState<Dialog | null>(null);
  const [madeFolders, setMadeFolders] = useState<ReadonlySet<string>>(new Set());
  const [choices, setChoices] = useState<UploadChoices>({
    visibility: 'private',
    expires: null,
    onConflict: 'overwrite',
  });

  // Many files stored in a row refresh the listing and the usage once.
  const refreshTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const refreshSoon = () => {
    clearTimeout(refreshTimer.current);
    refreshTimer.current = setTimeout(refresh, 250);
  };
  const queue = useMemo(
    () =>
      new UploadQueue(client, {
        stored: refreshSoon,
        // The row shows the failure; a session that ended is the sign-in screen's to say.
        failed: (error) => error.code === 'UNAUTHORIZED' && onSignOut(error),
      }),
    [client],
  );
  const uploads = useUploads(queue);
  useEffect(
    () => () => {
      queue.dispose();
      clearTimeout(refreshTimer.current);
    },
    [queue],
  );

  useEffect(() => setSelected(new Set()), [folder]);

  const listed = listing?.folders ?? [];
  const emptyFolders = new Set(childrenOf(folder, madeFolders).filter((p) => !listed.includes(p)));
  const folders = sortFolders([...listed, ...emptyFolders], order);
  const files = useMemo(() => sortFiles(listing?.files ?? [], order), [listing, order]);

  const upload = (picked: PickedFile[]) => queue.add(picked, folder, choices);

  const download = async (file: Attachment) => {
    try {
      const link = await client.createLink(file.fullName, { disposition: 'attachment', expiresIn: 60 });
      saveFromUrl(link.url, file.name);
    } catch (e) {
      report(e);
    }
  };

  const deleteFiles = async (paths: readonly string[]) => {
    await eachLimited(paths, 4, async (path) => {
      try {
        await client.delete(path);
      } catch (e) {
        report(e);
      }
    });
    setSelected(new Set());
    if (details && paths.includes(details.fullName)) setDetails(null);
    refresh();
  };

  const toggle = (path: string) => {
    const next = new Set(selected);
    if (!next.delete(path)) next.add(path);
    setSelected(next);
  };

  const sortBy = (key: SortKey) =>
    setOrder((o) => ({ key, direction: o.key === key && o.direction === 'asc' ? 'desc' : 'asc' }));

  const listingProps: FileListingProps = {
    folders,
    emptyFolders,
    files,
    selected,
    order,
    thumbnails,
    busy: loading,
    onOpenFolder: openFolder,
    onShowDetails: setDetails,
    onDownload: download,
    onToggle: toggle,
    onToggleAll: (on) => setSelected(on ? new Set(files.map((f) => f.fullName)) : new Set()),
    onSort: sortBy,
  };
  const empty = !loading && folders.length === 0 && files.length === 0;

  return (
    <div class="shell">
      <header class="topbar">
        <h1 class="brand">Files</h1>
        <UsageBar usage={usage} />
        <div class="account">
          {usage && (
            <span class="tenant" title="Your tenant">
              {usage.tenant}
            </span>
          )}
          <button type="button" onClick={() => onSignOut()}>
            Sign out
          </button>
        </div>
      </header>
      <div class="errors" role="alert">
        {errors.map((e) => (
          <ErrorNote key={e.id} error={e} onDismiss={() => dismiss(e.id)} />
        ))}
      </div>
      <div class="workspace">
        <DropZone target={folder || 'All files'} onFiles={upload}>
          <Breadcrumbs folder={folder} onOpen={openFolder} />
          <Toolbar
            selectedCount={selected.size}
            order={order}
            view={view}
            onPick={upload}
            onNewFolder={() => setDialog({ kind: 'new-folder' })}
            onDeleteSelected={() => setDialog({ kind: 'delete', paths: [...selected] })}
            onSort={setOrder}
            onView={setView}
            onRefresh={refresh}
          />
          <UploadSettings choices={choices} onChange={setChoices} />
          <section
            class="listing"
            aria-label="Folder contents"
            onKeyDown={(e) => {
              // Delete (or Backspace on a Mac keyboard) on the list asks to delete the selection.
              const typing = e.target instanceof HTMLInputElement && e.target.type !== 'checkbox';
              if ((e.key === 'Delete' || e.key === 'Backspace') && selected.size && !typing) {
                e.preventDefault();
                setDialog({ kind: 'delete', paths: [...selected] });
              }
            }}
          >
            {view === 'list' ? <FileTable {...listingProps} /> : <FileGrid {...listingProps} />}
            {loading && (
              <p class="muted" role="status">
                Loading…
              </p>
            )}
            {empty && <p class="empty">This folder is empty. Drop files here, or use “Upload files”.</p>}
            {listing?.cursor && !loading && (
              <button type="button" onClick={loadMore}>
                Load more
              </button>
            )}
          </section>
          <UploadsPanel items={uploads} queue={queue} />
        </DropZone>
        {details && (
          <DetailsPanel
            file={details}
            client={client}
            thumbnails={thumbnails}
            report={report}
            onClose={() => setDetails(null)}
            onDownload={download}
            onShare={(file) => setDialog({ kind: 'share', file })}
            onDelete={(file) => setDialog({ kind: 'delete', paths: [file.fullName] })}
          />
        )}
      </div>
      {dialog?.kind === 'delete' && (
        <ConfirmDeleteDialog
          paths={dialog.paths}
          onConfirm={() => deleteFiles(dialog.paths)}
          onClose={() => setDialog(null)}
        />
      )}
      {dialog?.kind === 'share' && (
        <ShareDialog file={dialog.file} client={client} onClose={() => setDialog(null)} />
      )}
      {dialog?.kind === 'new-folder' && (
        <NewFolderDialog
          onClose={() => setDialog(null)}
          onCreate={(name) => {
            const prefix = `${folder}${name}/`;
            setMadeFolders((made) => new Set([...made, prefix]));
            setDialog(null);
            openFolder(prefix);
          }}
        />
      )}
    </div>
  );
}
