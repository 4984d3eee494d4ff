import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

export interface Digests {
  md5: string;
  sha256: string;
}

/** Computes md5 and sha256 of a stream's chunks in order. */
export interface Hasher {
  /** Hashes `chunk`; a returned promise asks the caller to wait before the next chunk. */
  update(chunk: Buffer): Promise<void> | undefined;
  digests(): Promise<Digests>;
  /** Stops hashing (the stream failed); frees what the hasher holds. */
  abort(): void;
}

/**
 * Bodies at least this large are hashed on worker threads. Hashing is most of an upload's CPU (md5
 * about 700 MB/s, sha256 about 1.7 GB/s, one core each, neither can be split), so a large body
 * gains cores by moving both off the thread that receives and writes the bytes. Smaller bodies
 * (every body API Gateway lets into a Lambda is under 6 MB) hash inline, where handing over to
 * workers would cost more than it saves.
 */
export const OFFLOAD_MIN_BYTES = 8 * 1024 * 1024;

/**
 * At most this many bodies are hashed on the workers at once; more would only share the same two
 * workers (no faster) while each holds a ring. The rest hash inline.
 */
export const MAX_OFFLOADED = 4;

/** A hasher for a body of `sizeHint` bytes (unknown: inline). */
export function createHasher(sizeHint?: number): Hasher {
  if (
    sizeHint !== undefined &&
    sizeHint >= OFFLOAD_MIN_BYTES &&
    OffloadedHasher.active < MAX_OFFLOADED &&
    availableParallelism() > 1
  ) {
    return new OffloadedHasher();
  }
  return new InlineHasher();
}

export class InlineHasher implements Hasher {
  private readonly md5 = createHash('md5');
  private readonly sha256 = createHash('sha256');

  update(chunk: Buffer): undefined {
    this.md5.update(chunk);
    this.sha256.update(chunk);
    return undefined;
  }

  async digests(): Promise<Digests> {
    return { md5: this.md5.digest('hex'), sha256: this.sha256.digest('hex') };
  }

  abort(): void {}
}

/** Bytes of shared memory per offloaded body: bounds what slow workers can make us hold. */
const RING_BYTES = 8 * 1024 * 1024;
/**
 * Rings of finished bodies, for the next ones. A ring also lives on in the workers' heaps (each got
 * it in a message) until they collect garbage, which they seldom do as they allocate little; a new
 * ring per body would therefore pile up tens of MB. Reused, there are never more than
 * MAX_OFFLOADED rings.
 */
const idleRings: SharedArrayBuffer[] = [];

/** Bytes copied before the workers are told about them: one message per 2 MiB, not per socket read. */
const BATCH_BYTES = 2 * 1024 * 1024;

type Algorithm = 'md5' | 'sha256';
type ToWorker =
  | { type: 'open'; id: number; ring: SharedArrayBuffer; algorithm: Algorithm }
  | { type: 'data'; id: number; start: number; end: number }
  | { type: 'end'; id: number }
  | { type: 'drop'; id: number };
type FromWorker = { type: 'hashed'; id: number; total: number } | { type: 'digest'; id: number; hex: string };

/**
 * The worker, as source text: it has to run the same way under tsx, vitest and an esbuild bundle,
 * and a separate .ts file would need each of them taught how to load it. It keeps one hash per
 * open body and hashes the ring ranges it is sent, in order.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const jobs = new Map();
parentPort.on('message', (m) => {
  if (m.type === 'open') {
    jobs.set(m.id, { hash: createHash(m.algorithm), ring: new Uint8Array(m.ring), total: 0 });
    return;
  }
  const job = jobs.get(m.id);
  if (!job) return;
  if (m.type === 'data') {
    job.hash.update(job.ring.subarray(m.start, m.end));
    job.total += m.end - m.start;
    parentPort.postMessage({ type: 'hashed', id: m.id, total: job.total });
  } else if (m.type === 'end') {
    jobs.delete(m.id);
    parentPort.postMessage({ type: 'digest', id: m.id, hex: job.hash.digest('hex') });
  } else if (m.type === 'drop') {
    jobs.delete(m.id);
  }
});
`;

/**
 * One worker per algorithm for the whole process, started on first use; it keeps the process
 * alive only while a body is being hashed (something is awaiting it then).
 */
class HashWorker {
  private static readonly shared = new Map<Algorithm, HashWorker>();
  // The worker holds no data of its own (the bytes stay in the ring), so a small heap is plenty. It
  // is plain CommonJS: none of this process's flags (loaders, --input-type=module) apply to it.
  private readonly worker = new Worker(WORKER_SOURCE, {
    eval: true,
    execArgv: [],
    resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 16 },
  });
  private readonly lanes = new Map<number, WorkerLane>();
  private nextId = 1;

  static get(algorithm: Algorithm): HashWorker {
    let worker = HashWorker.shared.get(algorithm);
    if (!worker) {
      worker = new HashWorker(algorithm);
      HashWorker.shared.set(algorithm, worker);
    }
    return worker;
  }

  private constructor(readonly algorithm: Algorithm) {
    this.worker.unref();
    this.worker.on('message', (m: FromWorker) => this.lanes.get(m.id)?.onMessage(m));
    const fail = (error: Error) => {
      if (HashWorker.shared.get(algorithm) === this) HashWorker.shared.delete(algorithm);
      for (const lane of this.lanes.values()) lane.onWorkerFailed(error);
      this.lanes.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`${algorithm} worker exited with code ${code}`)));
  }

  open(lane: WorkerLane, ring: SharedArrayBuffer): number {
    const id = this.nextId++;
    if (this.lanes.size === 0) this.worker.ref();
    this.lanes.set(id, lane);
    this.send({ type: 'open', id, ring, algorithm: this.algorithm });
    return id;
  }

  send(message: ToWorker): void {
    this.worker.postMessage(message);
  }

  close(id: number): void {
    if (this.lanes.delete(id) && this.lanes.size === 0) this.worker.unref();
  }
}

/** What one worker has done with one body. */
class WorkerLane {
  readonly worker: HashWorker;
  readonly id: number;
  hashed = 0;
  private closed = false;
  private digest: { resolve: (hex: string) => void; reject: (e: Error) => void } | undefined;

  constructor(
    algorithm: Algorithm,
    ring: SharedArrayBuffer,
    private readonly onProgress: () => void,
    private readonly onFailure: (error: Error) => void,
  ) {
    this.worker = HashWorker.get(algorithm);
    this.id = this.worker.open(this, ring);
  }

  onMessage(m: FromWorker): void {
    if (m.type === 'hashed') {
      this.hashed = m.total;
      this.onProgress();
    } else {
      this.close();
      this.digest?.resolve(m.hex);
    }
  }

  onWorkerFailed(error: Error): void {
    this.closed = true; // the worker is gone, and with it what it held
    this.digest?.reject(error);
    this.onFailure(error);
  }

  finish(): Promise<string> {
    const hex = new Promise<string>((resolve, reject) => {
      this.digest = { resolve, reject };
    });
    this.worker.send({ type: 'end', id: this.id });
    return hex;
  }

  /** Tells the worker to forget this body, unless it is done with it already. */
  drop(): void {
    if (this.closed) return;
    this.worker.send({ type: 'drop', id: this.id });
    this.close();
  }

  private close(): void {
    this.closed = true;
    this.worker.close(this.id);
  }
}

/**
 * md5 and sha256 each on a worker, reading one ring of shared memory that this thread copies each
 * chunk into (one copy serves both). When the slower worker is a whole ring behind, update()
 * returns a promise, so the stream waits instead of buffering.
 */
export class OffloadedHasher implements Hasher {
  /** Offloaded bodies not yet finished or aborted. */
  static active = 0;
  private readonly ring = idleRings.pop() ?? new SharedArrayBuffer(RING_BYTES);
  private readonly view = new Uint8Array(this.ring);
  private readonly md5: WorkerLane;
  private readonly sha256: WorkerLane;
  private copied = 0;
  private posted = 0;
  private waiting: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private result: Promise<Digests> | undefined;
  private released = false;

  constructor() {
    OffloadedHasher.active++;
    const progress = () => this.onProgress();
    const failed = (error: Error) => this.fail(error);
    this.md5 = new WorkerLane('md5', this.ring, progress, failed);
    this.sha256 = new WorkerLane('sha256', this.ring, progress, failed);
  }

  /** Bytes both workers are done with: the ring may be overwritten up to here. */
  private get hashed(): number {
    return Math.min(this.md5.hashed, this.sha256.hashed);
  }

  private get room(): number {
    return RING_BYTES - (this.copied - this.hashed);
  }

  update(chunk: Buffer): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    const rest = this.copyWhileRoom(chunk);
    return rest.length > 0 ? this.copyRest(rest) : undefined;
  }

  /** Copies as much of `chunk` as the ring has room for; returns what is left. */
  private copyWhileRoom(chunk: Buffer): Buffer {
    let at = 0;
    while (at < chunk.length && this.room > 0) at += this.copyPart(chunk.subarray(at, at + this.room));
    return chunk.subarray(at);
  }

  /** Copies what is left of a chunk, waiting for the workers whenever the ring is full. */
  private async copyRest(rest: Buffer): Promise<void> {
    let left = rest;
    while (left.length > 0) {
      await this.waitForRoom();
      left = this.copyWhileRoom(left);
    }
  }

  /** Copies up to the end of the ring; returns how many bytes it took. */
  private copyPart(part: Buffer): number {
    const offset = this.copied % RING_BYTES;
    const n = Math.min(part.length, RING_BYTES - offset);
    this.view.set(part.subarray(0, n), offset);
    this.copied += n;
    if (this.copied - this.posted >= BATCH_BYTES || offset + n === RING_BYTES) this.post();
    return n;
  }

  /** Tells the workers about the bytes copied since the last message (never across the ring's end). */
  private post(): void {
    if (this.copied === this.posted) return;
    const start = this.posted % RING_BYTES;
    const end = start + (this.copied - this.posted);
    for (const lane of [this.md5, this.sha256]) lane.worker.send({ type: 'data', id: lane.id, start, end });
    this.posted = this.copied;
  }

  private waitForRoom(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    this.post();
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  private onProgress(): void {
    const waiting = this.waiting;
    if (waiting && this.room > 0) {
      this.waiting = undefined;
      waiting.resolve();
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.waiting?.reject(this.failure);
    this.waiting = undefined;
  }

  digests(): Promise<Digests> {
    this.result ??= this.finish();
    return this.result;
  }

  private async finish(): Promise<Digests> {
    try {
      if (this.failure) throw this.failure;
      this.post();
      const [md5, sha256] = await Promise.all([this.md5.finish(), this.sha256.finish()]);
      return { md5, sha256 };
    } finally {
      this.release();
    }
  }

  abort(): void {
    if (this.result) return;
    this.fail(new Error('hashing aborted'));
    this.release();
  }

  /**
   * Frees this body's place among MAX_OFFLOADED and whatever the workers still hold for it (after
   * a failure or an abort), so that an idle worker no longer keeps the process alive.
   */
  private release(): void {
    if (this.released) return;
    this.released = true;
    this.md5.drop();
    this.sha256.drop();
    // Safe to reuse even after an abort: each worker handles its messages in order, so it is done
    // with this body's ranges before it reads any of the next body's.
    idleRings.push(this.ring);
    OffloadedHasher.active--;
  }
}
