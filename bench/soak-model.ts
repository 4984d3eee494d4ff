/**
 * The client-side model of bench (e), the soak run: what must exist at each path, and bounds on a
 * tenant's quota counters while other workers' operations are in flight.
 *
 * Each worker owns its paths and runs one operation at a time, so its own model is exact. Tenants'
 * counters are shared by several workers; for them the model keeps "windows": the range of values
 * the counters can take while one request is in flight, from every path's state and every other
 * operation that was in flight at some moment of that request.
 */

/** What the server must hold at a path: a READY file, or nothing (null). */
export interface FileState {
  id: string;
  md5: string;
  size: number;
  /** ms since the epoch, exactly as the server answered it (`expires`), or null. */
  expiresAt: number | null;
  type: string;
}

export type PathState = FileState | null;

/**
 * Whether the server saw a file as live during a request sent at `sentAt` and answered at
 * `receivedAt`. The server decides expiry with `expiresAt <= Date.now()` on the same clock,
 * somewhere inside that interval, so outside of it the answer is exact.
 */
export function liveness(state: PathState, sentAt: number, receivedAt: number): 'live' | 'gone' | 'either' {
  if (!state) return 'gone';
  if (state.expiresAt === null || state.expiresAt > receivedAt) return 'live';
  if (state.expiresAt <= sentAt) return 'gone';
  return 'either';
}

interface Range {
  minUsed: number;
  maxUsed: number;
  minFiles: number;
  maxFiles: number;
}

/** One operation that can change a tenant's counters while it is in flight. */
export interface ActiveOp {
  id: number;
  path: string;
  /** Sizes the path may hold when the operation is done (null = no file), besides its old state. */
  outcomes: (number | null)[];
  /** A rename upload may add a file at a path not known yet, of this size. */
  renamedSize?: number;
  /** The most this operation may hold reserved (a body of unknown length: all the quota has left). */
  reserve: number;
  /** The new file expires: it may be gone again (cleaned up) before the window closes. */
  expiring: boolean;
  /** For diagnoses: who does what, and the contents (md5) it adds or drops. */
  label: string;
  md5s: string[];
}

/** The counters' ranges over the lifetime of one request (see the top of the file). */
export class Window {
  private readonly paths = new Map<string, Range>();
  private reserved = 0;
  /** Other operations that may reserve quota during this window. */
  reservingOps = 0;
  /** Every other operation in flight at some moment of this window. */
  readonly seen: ActiveOp[] = [];

  constructor(
    private readonly tenant: TenantModel,
    private readonly exclude: ActiveOp | undefined,
  ) {}

  widen(key: string, size: number | null, uncertain = false): void {
    const used = size ?? 0;
    const files = size === null ? 0 : 1;
    const r = this.paths.get(key);
    const lo = uncertain ? 0 : used;
    const loFiles = uncertain ? 0 : files;
    if (!r) this.paths.set(key, { minUsed: lo, maxUsed: used, minFiles: loFiles, maxFiles: files });
    else {
      r.minUsed = Math.min(r.minUsed, lo);
      r.maxUsed = Math.max(r.maxUsed, used);
      r.minFiles = Math.min(r.minFiles, loFiles);
      r.maxFiles = Math.max(r.maxFiles, files);
    }
  }

  /** A file with an expiry may already be gone (the sweeper, or a read cleaning it up): 0 or its size. */
  widenState(path: string, state: PathState): void {
    this.widen(path, state ? state.size : null, state?.expiresAt != null);
  }

  apply(op: ActiveOp): void {
    if (op === this.exclude) return;
    this.seen.push(op);
    for (const size of op.outcomes) this.widen(op.path, size, op.expiring);
    if (op.renamedSize !== undefined) this.widen(`renamed#${op.id}`, op.renamedSize, true);
    if (op.reserve > 0) {
      this.reserved += op.reserve;
      this.reservingOps++;
    }
  }

  close(): Range & { maxReserved: number; reservingOps: number } {
    this.tenant.windows.delete(this);
    const sum: Range = { minUsed: 0, maxUsed: 0, minFiles: 0, maxFiles: 0 };
    for (const r of this.paths.values()) {
      sum.minUsed += r.minUsed;
      sum.maxUsed += r.maxUsed;
      sum.minFiles += r.minFiles;
      sum.maxFiles += r.maxFiles;
    }
    return { ...sum, maxReserved: this.reserved, reservingOps: this.reservingOps };
  }
}

/** The paths of every worker of one tenant, its operations in flight and its open windows. */
export class TenantModel {
  readonly models: Map<string, PathState>[] = [];
  readonly active = new Set<ActiveOp>();
  readonly windows = new Set<Window>();
  /** Reservations of direct uploads this harness gave up on (they stay until the sweeper reaps them). */
  abandonedReserved = 0;
  /** Every file that was given an expiry (for diagnoses: its cleanup drops a blob reference). */
  readonly expiring: { md5: string; expiresAt: number; label: string }[] = [];
  /** A direct upload ended in a state this harness cannot know (after a failure): reservedBytes is not exact. */
  reservedUncertain = false;
  private nextId = 1;

  constructor(
    readonly name: string,
    readonly limit: number,
  ) {}

  /** Registers an operation in flight; every open window sees it. */
  begin(op: Omit<ActiveOp, 'id'>): ActiveOp {
    const active = { ...op, id: this.nextId++ };
    this.active.add(active);
    for (const w of this.windows) w.apply(active);
    return active;
  }

  end(op: ActiveOp): void {
    this.active.delete(op);
  }

  /** Opens a window now: every path's current state and every operation in flight but `exclude`. */
  open(exclude?: ActiveOp): Window {
    const w = new Window(this, exclude);
    for (const model of this.models) for (const [path, state] of model) w.widenState(path, state);
    for (const op of this.active) w.apply(op);
    this.windows.add(w);
    return w;
  }

  /** usedBytes and fileCount the server must show once nothing is in flight and expired files are gone. */
  settled(now: number): { usedBytes: number; fileCount: number } {
    let usedBytes = 0;
    let fileCount = 0;
    for (const model of this.models) {
      for (const state of model.values()) {
        if (state && (state.expiresAt === null || state.expiresAt > now)) {
          usedBytes += state.size;
          fileCount++;
        }
      }
    }
    return { usedBytes, fileCount };
  }
}

/** A small deterministic PRNG (mulberry32), so a run's operation mix repeats with its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic bytes of a given length from a seed. */
export function seededBytes(seed: number, length: number): Buffer {
  const next = prng(seed);
  const buf = Buffer.alloc(length);
  for (let i = 0; i < length; i++) buf[i] = Math.floor(next() * 256);
  return buf;
}
