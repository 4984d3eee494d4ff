import type { PickedFile } from './dropped-files';
import { isAbort, toUiError, type UiError } from './error-messages';
import {
  type Attachment,
  isStorageApiError,
  type StorageClient,
  type UploadOptions,
  type Visibility,
} from './sdk';

export type UploadState = 'queued' | 'uploading' | 'done' | 'failed' | 'cancelled';

/** What the person chose for the files of one drop or pick. */
export interface UploadChoices {
  visibility: Visibility;
  /** Seconds until the files expire; null: never. */
  expires: number | null;
  onConflict: 'overwrite' | 'rename' | 'fail';
}

export interface UploadItem {
  readonly key: number;
  readonly path: string;
  readonly file: File;
  readonly choices: UploadChoices;
  readonly state: UploadState;
  /** Bytes the storage has acknowledged (the SDK reports whole requests: the body, or each part). */
  readonly loaded: number;
  readonly error?: UiError;
  /** A multipart upload that failed part-way: a retry sends only the parts the storage lacks. */
  readonly resumeId?: string;
}

const MiB = 1024 * 1024;
/** Bodies up to this size go through the API in one PUT (the SDK's default, set explicitly by the page). */
export const API_UPLOAD_MAX_BYTES = 4 * MiB;
/**
 * From this size a file goes up in parts (the service's smallest part is 5 MiB): its progress
 * moves part by part, and a failed upload keeps its parts for the retry.
 */
export const MULTIPART_FROM = 8 * MiB;
/**
 * Files at once, and parts at once per file: 2 x 2 requests leave two of the browser's six
 * connections per host to the listing, thumbnails and links.
 */
const FILES_AT_ONCE = 2;
const PARTS_AT_ONCE = 2;

export interface UploadEvents {
  /** A file is stored (to refresh the listing and the usage). */
  stored(file: Attachment): void;
  /** A file failed (UNAUTHORIZED there means the whole session is over). */
  failed(error: UiError): void;
}

/** A resumed upload the service no longer knows (reaped, or not resumable): start it afresh. */
const resumeGone = (e: unknown) => !isStorageApiError(e) || e.code === 'UPLOAD_NOT_FOUND';

/**
 * The uploads of the page: a queue run a few at a time through the SDK's uploadByFile (through
 * the API when small, straight to the storage when large, in parts from MULTIPART_FROM), with
 * cancel (the SDK aborts the requests and the direct upload) and retry. Framework-free: the view
 * subscribes and reads `items`, a new array on every change.
 */
/** An upload under way. */
interface Running {
  controller: AbortController;
  /** A direct upload: the service names it (onUploadId) before any byte is sent. */
  direct: boolean;
  uploadId?: string;
  /** Cancel was asked for before the service named the upload: abort as soon as it does. */
  cancelWhenNamed?: boolean;
}

export class UploadQueue {
  items: readonly UploadItem[] = [];
  private readonly running = new Map<number, Running>();
  private readonly listeners = new Set<() => void>();
  private nextKey = 1;

  constructor(
    private readonly client: StorageClient,
    private readonly events: UploadEvents,
  ) {}

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  add(files: readonly PickedFile[], folder: string, choices: UploadChoices): void {
    const added = files.map(
      ({ file, path }): UploadItem => ({
        key: this.nextKey++,
        path: `${folder}${path}`,
        file,
        choices,
        state: 'queued',
        loaded: 0,
      }),
    );
    this.items = [...this.items, ...added];
    this.emit();
    this.pump();
  }

  cancel(key: number): void {
    const run = this.running.get(key);
    if (!run) {
      if (this.find(key)?.state === 'queued') this.update(key, { state: 'cancelled' });
    } else if (run.direct && !run.uploadId) {
      // Aborting the request that creates a direct upload could leave it created on the service,
      // unknown here, its size reserved until the sweeper reaps it. Once it has an id, the SDK's
      // abort deletes it, and the reservation comes back at once.
      run.cancelWhenNamed = true;
    } else {
      run.controller.abort();
    }
  }

  retry(key: number): void {
    const item = this.find(key);
    if (item?.state !== 'failed' && item?.state !== 'cancelled') return;
    this.update(key, { state: 'queued', loaded: 0, error: undefined });
    this.pump();
  }

  /** Takes the finished rows (stored or cancelled) off the list. */
  clearFinished(): void {
    this.items = this.items.filter((i) => i.state !== 'done' && i.state !== 'cancelled');
    this.emit();
  }

  /** Sign-out: everything in flight is aborted (the direct uploads give their reservations back). */
  dispose(): void {
    for (const run of this.running.values()) run.controller.abort();
    this.listeners.clear();
  }

  private find(key: number) {
    return this.items.find((i) => i.key === key);
  }

  private update(key: number, patch: Partial<UploadItem>) {
    this.items = this.items.map((i) => (i.key === key ? { ...i, ...patch } : i));
    this.emit();
  }

  private emit() {
    for (const listener of this.listeners) listener();
  }

  private pump() {
    while (this.running.size < FILES_AT_ONCE) {
      const next = this.items.find((i) => i.state === 'queued');
      if (!next) return;
      void this.run(next);
    }
  }

  private async run(item: UploadItem) {
    const controller = new AbortController();
    const multipart = item.file.size >= MULTIPART_FROM;
    const run: Running = {
      controller,
      direct: multipart || item.file.size > API_UPLOAD_MAX_BYTES,
      // A resumed upload has its id already (the SDK names only new ones).
      ...(item.resumeId ? { uploadId: item.resumeId } : {}),
    };
    this.running.set(item.key, run);
    this.update(item.key, { state: 'uploading', loaded: 0 });
    const named = (id: string) => {
      run.uploadId = id;
      if (run.cancelWhenNamed) controller.abort();
    };
    const upload = (resume: string | undefined) => {
      const { visibility, expires, onConflict } = item.choices;
      const options: UploadOptions = {
        signal: controller.signal,
        visibility,
        onConflict,
        ...(expires ? { expires } : {}),
        onProgress: ({ loaded }) => this.update(item.key, { loaded }),
        // Named for a direct upload only; for a multipart one it also keeps a failed upload to resume.
        onUploadId: named,
        ...(multipart ? { multipart: true, partConcurrency: PARTS_AT_ONCE } : {}),
        ...(resume ? { resume } : {}),
      };
      return this.client.uploadByFile(item.path, item.file, options);
    };
    try {
      let stored: Attachment;
      try {
        stored = await upload(item.resumeId);
      } catch (e) {
        if (!item.resumeId || controller.signal.aborted || !resumeGone(e)) throw e;
        run.uploadId = undefined;
        stored = await upload(undefined);
      }
      this.update(item.key, { state: 'done', loaded: item.file.size, resumeId: undefined });
      this.events.stored(stored);
    } catch (e) {
      if (controller.signal.aborted || run.cancelWhenNamed || isAbort(e)) {
        // The SDK has aborted the direct upload too: nothing is left to resume.
        this.update(item.key, { state: 'cancelled', resumeId: undefined });
      } else {
        const error = toUiError(e);
        this.update(item.key, { state: 'failed', error, resumeId: multipart ? run.uploadId : undefined });
        this.events.failed(error);
      }
    } finally {
      this.running.delete(item.key);
      this.pump();
    }
  }
}
