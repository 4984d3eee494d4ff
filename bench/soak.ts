/**
 * (e) Soak: N workers run mixed operations for a fixed time against the local server, over HTTP and
 * the public API only, and every answer is checked against a client-side model (bench/soak-model.ts).
 * At the end, after a pause longer than any expiry, every path and every tenant's counters must
 * agree with the model exactly. A mismatch, a 5xx or a transport error is a correctness failure.
 *
 * Each worker owns a disjoint set of paths under its own prefix, so its model of those paths is
 * exact. Tenants (and so quotas) are shared by several workers, and one tenant's quota is small:
 * a 413 QUOTA_EXCEEDED is accepted only when the model's upper bound on the tenant's usage during
 * that request says the file might not fit, and it must leave the previous file intact.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { readApiError } from '../shared/http/read-error';
import { type ChildServer, type HttpResponse, request, startChildServer } from './local-server';
import { type BenchResult, benchTempDir, fmtBytes, fmtMs, percentile, table } from './report';
import {
  type FileState,
  liveness,
  type PathState,
  prng,
  seededBytes,
  TenantModel,
  type Window,
} from './soak-model';

export interface SoakOptions {
  /** How long the workers run (the final check comes after). */
  seconds?: number;
  workers?: number;
  tenants?: number;
  /** Seeds the contents and each worker's choices. */
  seed?: number;
  /** The limit of the first tenant, small enough that some uploads are refused. */
  tightQuotaBytes?: number;
  /** The server's SWEEP_INTERVAL. */
  sweepSeconds?: number;
}

const KiB = 1024;
const MiB = 1024 ** 2;
/** The server's MAX_FILE_BYTES (its default): what an upload of unknown length may reserve at most. */
const MAX_FILE_BYTES = 5 * 1024 ** 3;
/** The other tenants' limit: never reached, so a 413 there is always wrong. */
const ROOMY_QUOTA = 1024 ** 4;
const MAX_EXPIRES_SECONDS = 3;
const EXPIRING_SHARE = 0.15;
const REQUEST_TIMEOUT_MS = 60_000;
/** Files that share content dedupe; a small pool makes every content used by many paths at once. */
const POOL_SIZES = [0, 1, 37, 1000, 4096, 12_345, 40_000, 65_536, 100_000, 150_001, 200_000, 256 * KiB];
const TYPES = ['application/octet-stream', 'text/plain', 'image/png'];
/** Each worker's paths, under its prefix; the extensions vary because blob keys carry one. */
const NAMES = ['a.bin', 'b.txt', 'c', 'd.bin', 'e.dat', 'f.txt', 'g.bin', 'h', 'sub/i.bin', 'sub/j.txt'];
/** Paths that are never uploaded: deleting them must answer 204, reading them 404. */
const NEVER = ['never/x.bin', 'never/y'];

interface Content {
  bytes: Buffer;
  md5: string;
  size: number;
}

interface Attachment {
  id?: string;
  md5?: string;
  size?: number;
  type?: string;
  fullName?: string;
  expires?: string | null;
  storeFullName?: string;
}

interface Answer {
  /** e.g. "201", "404 NOT_FOUND", "ERR <message>" for a transport error. */
  key: string;
  status: number;
  json: unknown;
  body: Buffer;
  headers: http.IncomingHttpHeaders;
  sentAt: number;
  receivedAt: number;
}

interface Mismatch {
  at: number;
  worker: string;
  op: string;
  path: string;
  check: string;
  expected: string;
  got: string;
}

type Conflict = 'overwrite' | 'fail' | 'rename';
type Transport = 'length' | 'chunked' | 'form';

const md5Of = (b: Buffer) => createHash('md5').update(b).digest('hex');
const encodePath = (path: string) => path.split('/').map(encodeURIComponent).join('/');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * For a 409 CONCURRENT_UPDATE: the other operations in flight that touched the same content, and
 * the files with that content that expired shortly before or during the request (the sweeper or a
 * read cleans them up, which drops their blob reference).
 */
function sameContent(tenant: TenantModel, window: Window, md5: string, a: Answer): string {
  const others = window.seen.filter((op) => op.md5s.includes(md5)).map((op) => op.label);
  const expired = tenant.expiring
    .filter((f) => f.md5 === md5 && f.expiresAt <= a.receivedAt && f.expiresAt > a.sentAt - 5000)
    .map((f) => {
      const ms = f.expiresAt - a.sentAt;
      return `${f.label} expired ${Math.abs(ms)} ms ${ms < 0 ? 'before' : 'after'} the request was sent`;
    });
  const parts = [
    others.length ? `in flight meanwhile: ${others.join('; ')}` : 'no other upload or delete in flight',
    ...(expired.length ? [`expired around then: ${expired.join('; ')}`] : []),
  ];
  return ` (content ${md5.slice(0, 8)}: ${parts.join('; ')})`;
}

function pick<T>(rng: () => number, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)] as T;
}

/** "w01/sub/i.bin" renamed by the server: "w01/sub/i_20261122_101500_1a2b3c4d.bin". */
function isRenameOf(renamed: string, path: string): boolean {
  const slash = path.lastIndexOf('/');
  const name = path.slice(slash + 1);
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 ? name.slice(dot) : '';
  const stem = path.slice(0, path.length - ext.length);
  return new RegExp(`^${escapeRe(stem)}_\\d{8}_\\d{6}_[0-9a-f]{8}${escapeRe(ext)}$`).test(renamed);
}

function describeState(s: PathState): string {
  if (!s) return 'no file';
  const exp = s.expiresAt === null ? '' : ` expires ${new Date(s.expiresAt).toISOString()}`;
  return `file id ${s.id.slice(0, 8)} md5 ${s.md5.slice(0, 8)} size ${s.size}${exp}`;
}

function describeAnswer(a: Answer): string {
  const j = a.json as Attachment & { error?: { message?: string } };
  if (a.status >= 400 && j?.error?.message) return `${a.key} (${j.error.message})`;
  if (j && typeof j.id === 'string' && typeof j.md5 === 'string') {
    const exp = j.expires ? ` expires ${j.expires}` : '';
    return `${a.key} ${j.fullName} id ${j.id.slice(0, 8)} md5 ${j.md5.slice(0, 8)} size ${j.size}${exp}`;
  }
  return a.key;
}

function stateOf(j: Attachment): FileState {
  return {
    id: String(j.id),
    md5: String(j.md5),
    size: Number(j.size),
    expiresAt: typeof j.expires === 'string' ? Date.parse(j.expires) : null,
    type: String(j.type),
  };
}

/** Where a record answered by the server differs from the model's file at `path`. */
function stateProblems(j: Attachment, s: FileState, path: string): string[] {
  const p: string[] = [];
  if (j.fullName !== path) p.push(`fullName ${j.fullName}`);
  if (j.id !== s.id) p.push(`id ${j.id}`);
  if (j.md5 !== s.md5) p.push(`md5 ${j.md5}`);
  if (j.size !== s.size) p.push(`size ${j.size}`);
  if (j.type !== s.type) p.push(`type ${j.type}`);
  const exp = s.expiresAt === null ? null : new Date(s.expiresAt).toISOString();
  if ((j.expires ?? null) !== exp) p.push(`expires ${j.expires}`);
  return p;
}

/** Every object key under a local-disk root (its temp folder left out). */
function objectsOnDisk(root: string): string[] {
  const keys: string[] = [];
  const walk = (dir: string, prefix: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) {
        if (!(prefix === '' && entry.name === '.tmp')) walk(join(dir, entry.name), `${prefix}${entry.name}/`);
      } else keys.push(prefix + entry.name);
    }
  };
  if (existsSync(root)) walk(root, '');
  return keys;
}

class KindStats {
  readonly ms: number[] = [];
  readonly answers = new Map<string, number>();
}

class Worker {
  readonly model = new Map<string, PathState>();
  readonly rng: () => number;
  readonly prefix: string;
  readonly base: string[];

  constructor(
    readonly index: number,
    readonly tenant: TenantModel,
    readonly token: string,
    seed: number,
    /** Records what happened to each file id (for diagnosing objects left on disk). */
    private readonly journal: (id: string, event: string) => void,
  ) {
    this.rng = prng(seed * 7919 + index);
    this.prefix = `w${String(index).padStart(2, '0')}/`;
    this.base = NAMES.map((n) => this.prefix + n);
    for (const p of this.base) this.model.set(p, null);
    for (const n of NEVER) this.model.set(this.prefix + n, null);
    tenant.models.push(this.model);
  }

  get name(): string {
    return `w${this.index}`;
  }

  /** Files that expire, to read again right after their expiry (see Soak.probe). */
  readonly probes: { path: string; id: string; expiresAt: number }[] = [];

  /** The path's state changes to `next`, because of `how` (e.g. "put w01/a.bin", "delete"). */
  update(path: string, next: PathState, how: string): void {
    const prev = this.model.get(path) ?? null;
    if (prev && prev.id !== next?.id) this.journal(prev.id, `${path} ended by ${how}`);
    if (next && next.id !== prev?.id) {
      this.journal(next.id, `${path} created by ${this.name} ${how}`);
      if (next.expiresAt !== null) {
        this.probes.push({ path, id: next.id, expiresAt: next.expiresAt });
        this.tenant.expiring.push({ md5: next.md5, expiresAt: next.expiresAt, label: path });
      }
    }
    this.model.set(path, next);
  }

  /** Renamed files that exist: they may be overwritten, read and deleted like the base paths. */
  renamed(): string[] {
    return [...this.model].filter(([p, s]) => s && !this.base.includes(p)).map(([p]) => p);
  }

  uploadPath(): string {
    const renamed = this.renamed();
    return renamed.length && this.rng() < 0.15 ? pick(this.rng, renamed) : pick(this.rng, this.base);
  }

  /** Mostly a path that holds a file (so bytes get checked), sometimes any known path. */
  readPath(): string {
    const present = [...this.model].filter(([, s]) => s).map(([p]) => p);
    return present.length && this.rng() < 0.75
      ? pick(this.rng, present)
      : pick(this.rng, [...this.model.keys()]);
  }
}

export async function runSoak(options: SoakOptions = {}): Promise<BenchResult> {
  const seconds = options.seconds ?? 60;
  const workerCount = options.workers ?? 8;
  const tenantCount = options.tenants ?? 3;
  const seed = options.seed ?? 1;
  const tightQuota = options.tightQuotaBytes ?? MiB;
  const sweepSeconds = options.sweepSeconds ?? 2;
  const started = performance.now();
  const temp = benchTempDir('bench-soak-');
  let server: ChildServer | undefined;
  const soak = new Soak();
  try {
    server = await startChildServer(join(temp.path, 'server'), { sweepIntervalSeconds: sweepSeconds });
    soak.base = server.url;
    const run = Math.floor(Date.now() / 1000).toString(36);
    const tenants = Array.from(
      { length: tenantCount },
      (_, i) => new TenantModel(`soak-${run}-${i}`, i === 0 ? tightQuota : ROOMY_QUOTA),
    );
    const operator = await server.operatorToken();
    for (const t of tenants) {
      const r = await request(`${server.url}/v1/quota/${t.name}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
        body: JSON.stringify({ limitBytes: t.limit }),
      });
      if (r.status !== 200) throw new Error(`setting the quota of ${t.name} answered ${r.status}: ${r.body}`);
    }
    for (let i = 0; i < POOL_SIZES.length; i++) {
      const bytes = seededBytes(seed * 1000 + i, POOL_SIZES[i] as number);
      soak.pool.push({ bytes, md5: md5Of(bytes), size: bytes.length });
    }
    const workers: Worker[] = [];
    for (let i = 0; i < workerCount; i++) {
      const tenant = tenants[i % tenantCount] as TenantModel;
      const token = await server.token(tenant.name, `soak-user-${i}`);
      workers.push(new Worker(i, tenant, token, seed, (id, event) => soak.note(id, event)));
    }

    await soak.warmUp(await server.token('soak-warm', 'warm-user'));
    console.log(
      `  ${workerCount} workers, ${tenantCount} tenants, ${seconds} s, seed ${seed}, ` +
        `quota of ${tenants[0]?.name}: ${fmtBytes(tightQuota)}`,
    );
    soak.t0 = Date.now();
    const deadline = soak.t0 + seconds * 1000;
    const progress = setInterval(() => {
      console.log(
        `  ${((Date.now() - soak.t0) / 1000).toFixed(0)} s: ${soak.loadRequests} requests, ` +
          `${soak.mismatches.length} mismatches, ${soak.fiveXx} 5xx`,
      );
    }, 10_000);
    await Promise.all(workers.map((w) => soak.work(w, deadline)));
    clearInterval(progress);
    const loadMs = Date.now() - soak.t0;
    const loadRequests = soak.loadRequests;

    // Longer than any expiry and than a sweep interval: every expiring file is past its time.
    const pauseMs = Math.max(MAX_EXPIRES_SECONDS, sweepSeconds) * 1000 + 1500;
    await sleep(pauseMs);
    soak.final = true;
    const finalRows = await soak.finalCheck(workers, tenants, operator);
    // Only the soak's tenants: the warm-up's renamed files stay and are nobody's orphans.
    const orphans = objectsOnDisk(join(server.dataDir, 'objects')).filter(
      (k) => tenants.some((t) => k.startsWith(`${t.name}/`)) && !soak.storeKeys.has(k),
    );
    const serverStderr = server.stderr();
    return soak.report({
      seconds,
      workerCount,
      tenants,
      seed,
      sweepSeconds,
      loadMs,
      loadRequests,
      pauseMs,
      finalRows,
      orphans,
      serverStderr,
      elapsedMs: performance.now() - started,
    });
  } finally {
    soak.agent.destroy();
    await server?.stop();
    temp.remove();
  }
}

class Soak {
  base = '';
  t0 = 0;
  final = false;
  readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  readonly pool: Content[] = [];
  readonly kinds = new Map<string, KindStats>();
  readonly statuses = new Map<string, number>();
  readonly ops = new Map<string, number>();
  readonly mismatches: Mismatch[] = [];
  loadRequests = 0;
  fiveXx = 0;
  transportErrors = 0;
  concurrentUpdates = 0;
  quota413 = { bound: 0, race: 0 };
  /** Backend keys of the files alive at the end (storeFullName), to count objects nothing references. */
  readonly storeKeys = new Set<string>();
  /** What happened to each file id the server answered (an object key holds its upload's id). */
  readonly journal = new Map<string, string[]>();

  note(id: string, event: string): void {
    const at = `${((Date.now() - this.t0) / 1000).toFixed(1)} s`;
    this.journal.set(id, [...(this.journal.get(id) ?? []), `${at}: ${event}`]);
  }

  /** Why an object may be left on disk: the story of the file that had its key, if any. */
  orphanRows(orphans: string[]): { rows: string[][]; groups: Map<string, number> } {
    const groups = new Map<string, number>();
    const rows: string[][] = [];
    for (const key of orphans) {
      const name = key.slice(key.lastIndexOf('/') + 1);
      const isBlob = key.split('/')[1] === 'blobs';
      const id = isBlob ? '' : name.replace(/\..*$/, '');
      const story = isBlob ? undefined : this.journal.get(id);
      const last = story?.[story.length - 1];
      const group = isBlob
        ? 'a deduplicated blob'
        : !story
          ? 'no answer ever named this upload id as a file'
          : (last?.replace(/^[\d.]+ s: \S+ /, '').replace(/ by w\d+ /, ' by ') ?? '?');
      groups.set(group, (groups.get(group) ?? 0) + 1);
      if (rows.length < 12) rows.push([key, story?.join('; ') ?? (isBlob ? 'blob' : '-')]);
    }
    return { rows, groups };
  }

  // ---- HTTP --------------------------------------------------------------------------------

  async call(
    w: Worker | undefined,
    kind: string,
    method: string,
    url: string,
    opts: {
      headers?: Record<string, string | number>;
      body?: Buffer | string | Readable;
      token?: string;
    } = {},
  ): Promise<Answer> {
    const headers: Record<string, string | number> = { ...opts.headers };
    const token = opts.token ?? w?.token;
    if (token) headers.authorization = `Bearer ${token}`;
    const target = url.startsWith('http') ? url : this.base + url;
    const sentAt = Date.now();
    const t = performance.now();
    let answer: Answer;
    try {
      const r: HttpResponse = await request(target, {
        method,
        headers,
        body: opts.body,
        agent: this.agent,
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
      let json: unknown;
      if (/json/.test(String(r.headers['content-type']))) {
        try {
          json = JSON.parse(r.body.toString('utf8'));
        } catch {
          json = undefined;
        }
      }
      const key =
        r.status >= 400
          ? `${r.status} ${readApiError(r.status, r.body.toString('utf8'), r.headers).code}`
          : String(r.status);
      answer = {
        key,
        status: r.status,
        json,
        body: r.body,
        headers: r.headers,
        sentAt,
        receivedAt: Date.now(),
      };
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      answer = {
        key: `ERR ${message}`,
        status: 0,
        json: undefined,
        body: Buffer.alloc(0),
        headers: {},
        sentAt,
        receivedAt: Date.now(),
      };
    }
    const ms = performance.now() - t;
    const name = this.final ? `final ${kind}` : kind;
    const stats = this.kinds.get(name) ?? new KindStats();
    this.kinds.set(name, stats);
    stats.ms.push(ms);
    const statKey = answer.status === 0 ? 'ERR' : answer.key;
    stats.answers.set(statKey, (stats.answers.get(statKey) ?? 0) + 1);
    this.statuses.set(statKey, (this.statuses.get(statKey) ?? 0) + 1);
    if (!this.final) this.loadRequests++;
    if (answer.status >= 500) {
      this.fiveXx++;
      this.mismatch(w, kind, url, 'answer', 'no 5xx', describeAnswer(answer));
    } else if (answer.status === 0) {
      this.transportErrors++;
      this.mismatch(w, kind, url, 'answer', 'an HTTP answer', answer.key);
    }
    return answer;
  }

  mismatch(w: Worker | undefined, op: string, path: string, check: string, expected: string, got: string) {
    const m: Mismatch = {
      at: (Date.now() - this.t0) / 1000,
      worker: w?.name ?? '-',
      op,
      path,
      check,
      expected,
      got,
    };
    this.mismatches.push(m);
    if (this.mismatches.length <= 30)
      console.log(
        `  MISMATCH ${m.at.toFixed(1)} s ${m.worker} ${op} ${path}: ${check}: expected ${expected}, got ${got}`,
      );
  }

  /**
   * Loads every handler the run uses (tsx compiles each on first import, which takes seconds) and
   * warms DynamoDB Local, on a tenant of its own, before the clock starts. Not checked, not counted.
   */
  async warmUp(token: string): Promise<void> {
    const send = (
      method: string,
      url: string,
      headers: Record<string, string | number> = {},
      body?: Buffer | string,
    ) =>
      request(url.startsWith('http') ? url : this.base + url, {
        method,
        headers: { authorization: `Bearer ${token}`, ...headers },
        body,
        agent: this.agent,
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
    const bytes = Buffer.from('warm-up');
    for (let round = 0; round < 3; round++) {
      await send(
        'PUT',
        `/v1/objects/warm/a.bin?md5=${md5Of(bytes)}`,
        { 'content-length': bytes.length },
        bytes,
      );
      await send(
        'PUT',
        '/v1/objects/warm/b.bin?onConflict=rename',
        { 'content-length': bytes.length },
        bytes,
      );
      const boundary = 'warmup';
      await send(
        'POST',
        '/v1/objects',
        { 'content-type': `multipart/form-data; boundary=${boundary}` },
        `--${boundary}\r\nContent-Disposition: form-data; name="path"\r\n\r\nwarm/c.txt\r\n` +
          `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="c.txt"\r\n\r\nwarm\r\n--${boundary}--\r\n`,
      );
      const sign = await send(
        'POST',
        '/v1/uploads',
        { 'content-type': 'application/json' },
        JSON.stringify({ path: 'warm/d.bin', size: bytes.length }),
      );
      const s = JSON.parse(sign.body.toString()) as {
        uploadId: string;
        url: string;
        headers: Record<string, string>;
      };
      await send('PUT', s.url, { ...s.headers, 'content-length': bytes.length }, bytes);
      await send('POST', `/v1/uploads/${s.uploadId}/complete`);
      await send('GET', '/v1/objects/warm/a.bin');
      await send('GET', '/v1/meta/warm/a.bin');
      await send('GET', '/v1/objects?prefix=warm/&limit=2');
      await send('GET', '/v1/usage');
      for (const p of ['a.bin', 'b.bin', 'c.txt', 'd.bin']) await send('DELETE', `/v1/objects/warm/${p}`);
    }
  }

  // ---- the workers ---------------------------------------------------------------------------

  async work(w: Worker, deadline: number): Promise<void> {
    while (Date.now() < deadline) {
      const due = w.probes.findIndex((p) => p.expiresAt <= Date.now());
      if (due >= 0) {
        const [probe] = w.probes.splice(due, 1);
        // Still the same file: read it right after its expiry, when a late expiry check would show.
        if (probe && w.model.get(probe.path)?.id === probe.id) {
          this.ops.set('expiry-probe', (this.ops.get('expiry-probe') ?? 0) + 1);
          const r = w.rng();
          if (r < 0.5) await this.meta(w, probe.path);
          else if (r < 0.8) await this.download(w, probe.path);
          else await this.list(w, probe.path.slice(0, probe.path.lastIndexOf('/') + 1));
          continue;
        }
      }
      const kind = this.chooseOp(w);
      this.ops.set(kind, (this.ops.get(kind) ?? 0) + 1);
      switch (kind) {
        case 'put':
        case 'put-chunked':
        case 'form':
        case 'put-fail':
        case 'put-rename':
        case 'put-bad-md5':
          await this.upload(w, kind);
          break;
        case 'direct':
          await this.direct(w);
          break;
        case 'delete':
        case 'delete-missing':
          await this.remove(w, kind);
          break;
        case 'get':
          await this.download(w);
          break;
        case 'meta':
          await this.meta(w);
          break;
        case 'list':
          await this.list(w);
          break;
        case 'usage':
          await this.usage(w);
          break;
      }
    }
  }

  chooseOp(w: Worker): string {
    const renamed = w.renamed().length;
    const weights: [string, number][] = [
      ['put', 18],
      ['put-chunked', 8],
      ['form', 8],
      ['put-fail', 5],
      // Renames add paths: fewer of them once a worker has a few, and more deletes.
      ['put-rename', renamed > 6 ? 0 : 3],
      ['put-bad-md5', 2],
      ['direct', 8],
      ['delete', renamed > 6 ? 14 : 8],
      ['delete-missing', 3],
      ['get', 15],
      ['meta', 8],
      ['list', 5],
      ['usage', 3],
    ];
    const total = weights.reduce((a, [, n]) => a + n, 0);
    let r = w.rng() * total;
    for (const [kind, n] of weights) {
      r -= n;
      if (r < 0) return kind;
    }
    return 'get';
  }

  content(rng: () => number): Content {
    return pick(rng, this.pool);
  }

  /**
   * Whether 413 QUOTA_EXCEEDED is a legitimate answer to an upload of `size` bytes: the most the
   * tenant's used + reserved bytes can have been during the request (every path at its largest,
   * every other operation's reservation) leaves no room. An upload of unknown length reserves what
   * the quota has left as read just before; on a small quota any concurrent reservation in between
   * makes that reservation fail, so then a 413 is legitimate too.
   */
  quotaRefusal(
    tenant: TenantModel,
    bounds: ReturnType<Window['close']>,
    size: number,
    unknownSize: boolean,
  ): 'bound' | 'race' | undefined {
    if (bounds.maxUsed + bounds.maxReserved + tenant.abandonedReserved + size > tenant.limit) return 'bound';
    if (unknownSize && tenant.limit < MAX_FILE_BYTES && bounds.reservingOps > 0) return 'race';
    return undefined;
  }

  /** The reservation an upload may hold: its size, or for an unknown length all that is left. */
  reserveOf(tenant: TenantModel, size: number, unknownSize: boolean): number {
    return unknownSize ? Math.min(tenant.limit, MAX_FILE_BYTES) : size;
  }

  async sendUpload(
    w: Worker,
    kind: string,
    path: string,
    content: Content,
    o: { transport: Transport; onConflict: Conflict; md5?: string; expires?: number; type: string },
  ): Promise<Answer> {
    if (o.transport === 'form') {
      const boundary = `soak${w.rng().toString(36).slice(2)}`;
      const fields: [string, string][] = [['path', path]];
      if (o.md5) fields.push(['md5', o.md5]);
      if (o.expires !== undefined) fields.push(['expires', String(o.expires)]);
      if (o.onConflict !== 'overwrite') fields.push(['onConflict', o.onConflict]);
      const head = fields
        .map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`)
        .join('');
      const fileHead =
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="upload"\r\n` +
        `Content-Type: ${o.type}\r\n\r\n`;
      const body = Buffer.concat([
        Buffer.from(head + fileHead),
        content.bytes,
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      return this.call(w, kind, 'POST', '/v1/objects', {
        headers: {
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': body.length,
        },
        body,
      });
    }
    const query = new URLSearchParams();
    if (o.md5) query.set('md5', o.md5);
    if (o.expires !== undefined) query.set('expires', String(o.expires));
    if (o.onConflict !== 'overwrite') query.set('onConflict', o.onConflict);
    const qs = query.size ? `?${query}` : '';
    const url = `/v1/objects/${encodePath(path)}${qs}`;
    if (o.transport === 'length') {
      return this.call(w, kind, 'PUT', url, {
        headers: { 'content-type': o.type, 'content-length': content.size },
        body: content.bytes,
      });
    }
    // Chunked: a stream of a few pieces, no Content-Length.
    const cut = Math.floor(content.size / 3);
    const pieces = [
      content.bytes.subarray(0, cut),
      content.bytes.subarray(cut, 2 * cut),
      content.bytes.subarray(2 * cut),
    ];
    return this.call(w, kind, 'PUT', url, {
      headers: { 'content-type': o.type },
      body: Readable.from(pieces.filter((p) => p.length > 0)),
    });
  }

  /** PUT (with Content-Length or chunked) or form upload, any onConflict, md5 or not, a wrong md5. */
  async upload(w: Worker, kind: string): Promise<void> {
    const rng = w.rng;
    const path = w.uploadPath();
    const content = this.content(rng);
    const transport: Transport =
      kind === 'put'
        ? 'length'
        : kind === 'put-chunked'
          ? 'chunked'
          : kind === 'form'
            ? 'form'
            : pick(rng, ['length', 'chunked', 'form'] as const);
    const onConflict: Conflict =
      kind === 'put-fail' ? 'fail' : kind === 'put-rename' ? 'rename' : 'overwrite';
    const badMd5 = kind === 'put-bad-md5';
    // A wrong md5: sometimes one of another pooled content (whose blob may exist), sometimes none's.
    const wrong =
      rng() < 0.7
        ? pick(
            rng,
            this.pool.filter((c) => c !== content),
          ).md5
        : 'f'.repeat(32);
    const md5 = badMd5 ? wrong : rng() < 0.5 ? content.md5 : undefined;
    const expires = rng() < EXPIRING_SHARE ? 1 + Math.floor(rng() * MAX_EXPIRES_SECONDS) : undefined;
    const type = pick(rng, TYPES);
    const tenant = w.tenant;
    // A chunked body of 0 bytes goes out as Content-Length: 0 (Node sends a length when nothing was written).
    const unknownSize = transport === 'form' || (transport === 'chunked' && content.size > 0);
    const old = w.model.get(path) ?? null;
    const op = tenant.begin({
      path,
      outcomes: badMd5 ? [] : [content.size],
      renamedSize: onConflict === 'rename' ? content.size : undefined,
      reserve: this.reserveOf(tenant, content.size, unknownSize),
      expiring: expires !== undefined,
      label: `${w.name} ${kind}${md5 ? ` md5=${md5.slice(0, 8)}` : ''} ${path}${old ? ` (held ${old.md5.slice(0, 8)})` : ''}`,
      md5s: [content.md5, ...(old ? [old.md5] : [])],
    });
    const window = tenant.open(op);
    const statKind = `${kind}${md5 && !badMd5 ? '+md5' : ''}`;
    const tag = `${kind}${['put-fail', 'put-rename', 'put-bad-md5'].includes(kind) ? `/${transport}` : ''}${md5 && !badMd5 ? '+md5' : ''}`;
    try {
      const a = await this.sendUpload(w, statKind, path, content, {
        transport,
        onConflict,
        md5,
        expires,
        type,
      });
      const bounds = window.close();
      const live = liveness(old, a.sentAt, a.receivedAt);
      const expected: string[] = [];
      if (badMd5) expected.push('400 MD5_MISMATCH');
      else if (onConflict === 'fail') {
        if (live !== 'gone') expected.push('409 ALREADY_EXISTS');
        if (live !== 'live') expected.push('201');
      } else expected.push('201');
      const refusal = this.quotaRefusal(tenant, bounds, content.size, unknownSize);
      // onConflict=fail looks at the path before it reserves anything.
      if (refusal && !(onConflict === 'fail' && live === 'live')) expected.push('413 QUOTA_EXCEEDED');

      if (a.key === '201' && expected.includes('201')) {
        const j = a.json as Attachment;
        const full = String(j.fullName);
        let pathOk: boolean;
        if (onConflict === 'rename') {
          pathOk =
            full === path ? live !== 'live' : live !== 'gone' && isRenameOf(full, path) && !w.model.get(full);
        } else pathOk = full === path;
        const problems = this.attachmentProblems(j, {
          content,
          type,
          expires,
          sentAt: a.sentAt,
          receivedAt: a.receivedAt,
        });
        if (!pathOk) problems.unshift(`fullName ${full} (the path held ${describeState(old)}, ${live})`);
        if (problems.length) {
          const want = `201 with ${content.md5.slice(0, 8)}/${content.size}`;
          this.mismatch(w, tag, path, 'upload answer', want, problems.join(', '));
        }
        if (full.startsWith(w.prefix)) w.update(full, stateOf(j), tag);
        return;
      }
      if (expected.includes(a.key)) {
        if (a.key === '413 QUOTA_EXCEEDED') this.quota413[refusal ?? 'bound']++;
        return; // refused: the previous file stays (later reads check it)
      }
      let why = '';
      if (a.key === '409 CONCURRENT_UPDATE') {
        this.concurrentUpdates++;
        why = sameContent(tenant, window, content.md5, a);
      }
      if (a.key === '413 QUOTA_EXCEEDED')
        why = ` (at most ${bounds.maxUsed + bounds.maxReserved} of ${tenant.limit} bytes can have been used or reserved)`;
      if (a.status > 0 && a.status < 500)
        this.mismatch(w, tag, path, 'upload status', expected.join(' or '), describeAnswer(a) + why);
      // Whatever happened, learn what the server holds now.
      await this.resolve(w, path, old, content);
      if (onConflict === 'rename') await this.adoptUnknown(w, path.slice(0, path.lastIndexOf('/') + 1));
    } finally {
      window.close();
      tenant.end(op);
    }
  }

  attachmentProblems(
    j: Attachment,
    want: { content: Content; type: string; expires?: number; sentAt: number; receivedAt: number },
  ): string[] {
    const p: string[] = [];
    if (typeof j.id !== 'string' || !j.id) p.push('no id');
    if (j.md5 !== want.content.md5) p.push(`md5 ${j.md5}`);
    if (j.size !== want.content.size) p.push(`size ${j.size}`);
    if (j.type !== want.type) p.push(`type ${j.type}`);
    if (want.expires === undefined) {
      if (j.expires !== null) p.push(`expires ${j.expires}`);
    } else {
      const t = typeof j.expires === 'string' ? Date.parse(j.expires) : Number.NaN;
      const ms = want.expires * 1000;
      if (!(t >= want.sentAt + ms && t <= want.receivedAt + ms))
        p.push(`expires ${j.expires}, not ${want.expires} s after the request`);
    }
    return p;
  }

  /**
   * After an answer the model did not expect: read the path's record and take the server's state
   * (a change nobody asked for is a mismatch of its own), so one fault is reported once.
   */
  async resolve(w: Worker, path: string, old: PathState, attempted?: Content): Promise<void> {
    const a = await this.call(w, 'verify', 'GET', `/v1/meta/${encodePath(path)}`);
    const live = liveness(old, a.sentAt, a.receivedAt);
    if (a.key === '200') {
      const j = a.json as Attachment;
      if (old && j.id === old.id) {
        const problems = stateProblems(j, old, path);
        if (problems.length)
          this.mismatch(w, 'verify', path, 'record', describeState(old), problems.join(', '));
        return;
      }
      const took = attempted && j.md5 === attempted.md5 ? ' (the upload took effect)' : '';
      this.mismatch(
        w,
        'verify',
        path,
        'record after a failed change',
        describeState(old),
        describeAnswer(a) + took,
      );
      w.update(path, stateOf(j), 'verify (adopted)');
    } else if (a.key === '404 NOT_FOUND') {
      if (live === 'live')
        this.mismatch(w, 'verify', path, 'record after a failed change', describeState(old), 'no file');
      w.update(path, null, 'verify (gone)');
    } else if (a.status < 500 && a.status > 0) {
      this.mismatch(w, 'verify', path, 'meta status', '200 or 404', describeAnswer(a));
    }
  }

  /** Lists a folder and takes into the model any file the model does not know (each a mismatch). */
  async adoptUnknown(w: Worker, prefix: string): Promise<void> {
    let cursor: string | null = null;
    do {
      const q = new URLSearchParams({ prefix, limit: '1000' });
      if (cursor) q.set('cursor', cursor);
      const a = await this.call(w, 'verify', 'GET', `/v1/objects?${q}`);
      if (a.key !== '200') return;
      const j = a.json as { items?: Attachment[]; cursor?: string | null };
      for (const it of j.items ?? []) {
        const full = String(it.fullName);
        const s = w.model.get(full);
        if (!s || s.id !== it.id) {
          this.mismatch(
            w,
            'verify',
            full,
            'unknown file',
            describeState(s ?? null),
            describeAnswer({ ...a, json: it }),
          );
          w.update(full, stateOf(it), 'listing (adopted)');
        }
      }
      cursor = j.cursor ?? null;
    } while (cursor);
  }

  /** Direct upload: sign (reserves the declared size) -> PUT the bytes to the URL -> complete (twice, sometimes). */
  async direct(w: Worker): Promise<void> {
    const rng = w.rng;
    const path = w.uploadPath();
    const content = this.content(rng);
    const type = pick(rng, TYPES);
    // Sometimes an md5 of other content: complete must refuse it (400) and keep nothing.
    const badMd5 = rng() < 0.08;
    const md5 = badMd5
      ? pick(
          rng,
          this.pool.filter((c) => c !== content),
        ).md5
      : rng() < 0.5
        ? content.md5
        : undefined;
    const expires = rng() < EXPIRING_SHARE ? 1 + Math.floor(rng() * MAX_EXPIRES_SECONDS) : undefined;
    // The declared size may be larger than the bytes sent: the file gets the real size.
    const declared = content.size + (rng() < 0.3 ? 1 + Math.floor(rng() * 4096) : 0);
    const r = rng();
    const onConflict: Conflict = r < 0.7 ? 'overwrite' : r < 0.85 ? 'fail' : 'rename';
    const tag = `direct${onConflict === 'overwrite' ? '' : `/${onConflict}`}${badMd5 ? '/bad-md5' : ''}`;
    const tenant = w.tenant;
    const old = w.model.get(path) ?? null;
    const op = tenant.begin({
      path,
      outcomes: badMd5 ? [] : [content.size],
      renamedSize: onConflict === 'rename' && !badMd5 ? content.size : undefined,
      reserve: declared,
      expiring: expires !== undefined,
      label: `${w.name} direct ${path}${old ? ` (held ${old.md5.slice(0, 8)})` : ''}`,
      md5s: [content.md5, ...(old ? [old.md5] : [])],
    });
    const window = tenant.open(op);
    try {
      const sign = await this.call(w, 'direct-sign', 'POST', '/v1/uploads', {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ path, contentType: type, size: declared, md5, expires, onConflict }),
      });
      const bounds = window.close();
      const liveAtSign = liveness(old, sign.sentAt, sign.receivedAt);
      if (sign.key !== '201') {
        const expected: string[] = ['201'];
        if (onConflict === 'fail' && liveAtSign !== 'gone') expected.push('409 ALREADY_EXISTS');
        const refusal = this.quotaRefusal(tenant, bounds, declared, false);
        if (refusal && !(onConflict === 'fail' && liveAtSign === 'live')) expected.push('413 QUOTA_EXCEEDED');
        if (expected.includes(sign.key)) {
          if (sign.key === '413 QUOTA_EXCEEDED') this.quota413.bound++;
          return;
        }
        if (sign.status >= 400 && sign.status < 500)
          this.mismatch(w, tag, path, 'sign status', expected.join(' or '), describeAnswer(sign));
        if (sign.status >= 500 || sign.status === 0) tenant.reservedUncertain = true;
        return;
      }
      if (onConflict === 'fail' && liveAtSign === 'live') {
        this.mismatch(w, tag, path, 'sign status', '409 ALREADY_EXISTS', describeAnswer(sign));
      }
      const s = sign.json as {
        uploadId?: string;
        method?: string;
        url?: string;
        headers?: Record<string, string>;
        path?: string;
      };
      if (!s.uploadId || !s.url || s.method !== 'PUT' || s.path !== path) {
        this.mismatch(
          w,
          tag,
          path,
          'sign answer',
          'uploadId, PUT url, the path',
          JSON.stringify(s).slice(0, 200),
        );
        tenant.reservedUncertain = true;
        return;
      }
      const sent = await this.call(w, 'direct-bytes', s.method, s.url, {
        headers: { ...s.headers, 'content-length': content.size },
        body: content.bytes,
      });
      if (sent.key !== '200') {
        if (sent.status > 0 && sent.status < 500)
          this.mismatch(w, tag, path, 'bytes status', '200', describeAnswer(sent));
      }
      const complete = () => this.call(w, 'direct-complete', 'POST', `/v1/uploads/${s.uploadId}/complete`);
      const done = await complete();
      const live = liveness(old, done.sentAt, done.receivedAt);
      const expected: string[] = [];
      if (onConflict === 'fail' && live !== 'gone') expected.push('409 ALREADY_EXISTS');
      // The bytes are checked before the path is looked at.
      if (badMd5) expected.splice(0, expected.length, '400 MD5_MISMATCH');
      else if (!(onConflict === 'fail' && live === 'live')) expected.push('200');
      if (done.key === '200' && expected.includes('200')) {
        const j = done.json as Attachment;
        const full = String(j.fullName);
        const pathOk =
          onConflict === 'rename' && full !== path
            ? live !== 'gone' && isRenameOf(full, path) && !w.model.get(full)
            : full === path && !(onConflict === 'rename' && live === 'live');
        const problems = this.attachmentProblems(j, {
          content,
          type,
          expires,
          sentAt: done.sentAt,
          receivedAt: done.receivedAt,
        });
        if (!pathOk) problems.unshift(`fullName ${full} (the path held ${describeState(old)}, ${live})`);
        if (problems.length)
          this.mismatch(
            w,
            tag,
            path,
            'complete answer',
            `200 with ${content.md5.slice(0, 8)}/${content.size}`,
            problems.join(', '),
          );
        if (full.startsWith(w.prefix)) w.update(full, stateOf(j), tag);
        if (rng() < 0.3) {
          // Completing again answers the same file.
          const again = await this.call(
            w,
            'direct-complete-again',
            'POST',
            `/v1/uploads/${s.uploadId}/complete`,
          );
          const k = again.json as Attachment;
          if (again.key !== '200' || k.id !== j.id || k.fullName !== j.fullName)
            this.mismatch(
              w,
              tag,
              path,
              'second complete',
              `200 with id ${String(j.id).slice(0, 8)}`,
              describeAnswer(again),
            );
        }
        return;
      }
      if (done.key !== '200' && expected.includes(done.key)) return; // refused: object deleted, reservation released
      if (done.key === '409 CONCURRENT_UPDATE') this.concurrentUpdates++;
      if (done.status > 0 && done.status < 500)
        this.mismatch(w, tag, path, 'complete status', expected.join(' or '), describeAnswer(done));
      // A complete that failed may leave its session (and reservation) pending: ask once more.
      const retry = await complete();
      if (retry.key === '200') {
        const j = retry.json as Attachment;
        if (String(j.fullName).startsWith(w.prefix))
          w.update(String(j.fullName), stateOf(j), `${tag} (retried complete)`);
      } else if (retry.key === '404 UPLOAD_NOT_FOUND') {
        await this.resolve(w, path, old, content);
      } else {
        // Still pending (e.g. 409 UPLOAD_INCOMPLETE): its reservation stays until the sweeper's grace ends.
        if (retry.key === '409 UPLOAD_INCOMPLETE') tenant.abandonedReserved += declared;
        else tenant.reservedUncertain = true;
        await this.resolve(w, path, old, content);
      }
      if (onConflict === 'rename') await this.adoptUnknown(w, path.slice(0, path.lastIndexOf('/') + 1));
    } finally {
      window.close();
      tenant.end(op);
    }
  }

  /** Delete: 204 whether the file exists or not. */
  async remove(w: Worker, kind: string): Promise<void> {
    const rng = w.rng;
    let path: string;
    if (kind === 'delete') {
      const present = [...w.model].filter(([, s]) => s).map(([p]) => p);
      const renamed = w.renamed();
      path =
        renamed.length > 6 && rng() < 0.5
          ? pick(rng, renamed)
          : present.length
            ? pick(rng, present)
            : pick(rng, w.base);
    } else {
      const absent = [...w.model].filter(([, s]) => !s).map(([p]) => p);
      path = absent.length ? pick(rng, absent) : w.prefix + pick(rng, NEVER);
    }
    const tenant = w.tenant;
    const old = w.model.get(path) ?? null;
    const op = tenant.begin({
      path,
      outcomes: [null],
      reserve: 0,
      expiring: false,
      label: `${w.name} delete ${path}${old ? ` (held ${old.md5.slice(0, 8)})` : ''}`,
      md5s: old ? [old.md5] : [],
    });
    try {
      const a = await this.call(w, kind, 'DELETE', `/v1/objects/${encodePath(path)}`);
      if (a.key === '204') {
        w.update(path, null, kind);
        return;
      }
      if (a.status > 0 && a.status < 500)
        this.mismatch(w, kind, path, 'delete status', '204', describeAnswer(a));
      await this.resolve(w, path, old);
    } finally {
      tenant.end(op);
    }
  }

  /** GET the file (sometimes a Range): bytes must be the model's, or 404 for no file or an expired one. */
  async download(w: Worker, path = w.readPath()): Promise<void> {
    const rng = w.rng;
    const s = w.model.get(path) ?? null;
    const content = s ? this.pool.find((c) => c.md5 === s.md5) : undefined;
    // A Range (a-b, a- or the last n bytes), or If-None-Match with the model's ETag, sometimes.
    let range: { header: string; start: number; end: number } | undefined;
    let etagMatch = false;
    const r = rng();
    if (s && content && s.size > 0 && r < 0.25) {
      const start = Math.floor(rng() * s.size);
      const form = rng();
      if (form < 0.6) {
        const end = start + Math.floor(rng() * (s.size - start));
        range = { header: `bytes=${start}-${end}`, start, end };
      } else if (form < 0.8) range = { header: `bytes=${start}-`, start, end: s.size - 1 };
      else {
        const n = 1 + Math.floor(rng() * (s.size + 10));
        range = { header: `bytes=-${n}`, start: Math.max(0, s.size - n), end: s.size - 1 };
      }
    } else if (s && r < 0.35) etagMatch = true;
    const kind = range ? 'get-range' : etagMatch ? 'get-if-none-match' : 'get';
    const headers: Record<string, string> = {};
    if (range) headers.range = range.header;
    if (etagMatch && s) headers['if-none-match'] = `"${s.md5}"`;
    const a = await this.call(w, kind, 'GET', `/v1/objects/${encodePath(path)}`, { headers });
    const live = liveness(s, a.sentAt, a.receivedAt);
    const okStatus = range ? '206' : etagMatch ? '304' : '200';
    if (a.key === okStatus && s && live !== 'gone') {
      const problems: string[] = [];
      const want = range && content ? content.bytes.subarray(range.start, range.end + 1) : undefined;
      const gotMd5 = md5Of(a.body);
      if (etagMatch) {
        if (a.body.length) problems.push(`a body of ${a.body.length} bytes`);
      } else if (want ? gotMd5 !== md5Of(want) : gotMd5 !== s.md5)
        problems.push(`${a.body.length} bytes with md5 ${gotMd5.slice(0, 8)}`);
      if (a.headers.etag !== `"${s.md5}"`) problems.push(`etag ${a.headers.etag}`);
      if (!etagMatch && a.headers['content-type'] !== s.type)
        problems.push(`content-type ${a.headers['content-type']}`);
      if (range && a.headers['content-range'] !== `bytes ${range.start}-${range.end}/${s.size}`)
        problems.push(`content-range ${a.headers['content-range']}`);
      if (problems.length) {
        const what = range
          ? `${range.header} (${range.start}-${range.end}) of `
          : etagMatch
            ? '304 for '
            : '';
        this.mismatch(w, kind, path, 'download bytes', what + describeState(s), problems.join(', '));
        await this.resolve(w, path, s);
      }
      return;
    }
    if (a.key === '404 NOT_FOUND' && live !== 'live') {
      w.update(path, null, 'expiry (a download answered 404)'); // or it was gone already
      return;
    }
    if (a.status > 0 && a.status < 500) {
      const expected = live === 'gone' ? '404' : `${okStatus} with ${describeState(s)}`;
      this.mismatch(w, kind, path, 'download status', expected, describeAnswer(a));
    }
    await this.resolve(w, path, s);
  }

  /** GET /v1/meta: the record must be the model's file, or 404. */
  async meta(w: Worker, path = w.readPath()): Promise<void> {
    const s = w.model.get(path) ?? null;
    const a = await this.call(w, 'meta', 'GET', `/v1/meta/${encodePath(path)}`);
    const live = liveness(s, a.sentAt, a.receivedAt);
    if (a.key === '200' && s && live !== 'gone') {
      const problems = stateProblems(a.json as Attachment, s, path);
      if (problems.length) {
        this.mismatch(w, 'meta', path, 'record', describeState(s), problems.join(', '));
        w.update(path, stateOf(a.json as Attachment), 'meta (adopted)');
      }
      return;
    }
    if (a.key === '404 NOT_FOUND' && live !== 'live') {
      w.update(path, null, 'expiry (a meta read answered 404)');
      return;
    }
    if (a.status > 0 && a.status < 500)
      this.mismatch(
        w,
        'meta',
        path,
        'meta status',
        live === 'gone' ? '404' : `200 with ${describeState(s)}`,
        describeAnswer(a),
      );
    await this.resolve(w, path, s);
  }

  /** Lists the worker's prefix (or a part of it) in small pages: exactly the model's live files, in path order. */
  async list(w: Worker, folder?: string): Promise<void> {
    const rng = w.rng;
    const prefix =
      folder ?? (rng() < 0.6 ? w.prefix : w.prefix + pick(rng, ['sub/', 'a', 'c', 'sub/i', 'never/']));
    const limit = 1 + Math.floor(rng() * 6);
    const listed: { it: Attachment; sentAt: number; receivedAt: number }[] = [];
    let cursor: string | null = null;
    let first = 0;
    let last = 0;
    let pages = 0;
    do {
      const q = new URLSearchParams({ prefix, limit: String(limit) });
      if (cursor) q.set('cursor', cursor);
      const a = await this.call(w, 'list-page', 'GET', `/v1/objects?${q}`);
      if (a.key !== '200') {
        if (a.status > 0 && a.status < 500)
          this.mismatch(w, 'list', prefix, 'list status', '200', describeAnswer(a));
        return;
      }
      if (!first) first = a.sentAt;
      last = a.receivedAt;
      const j = a.json as { items?: Attachment[]; cursor?: string | null };
      if ((j.items?.length ?? 0) > limit)
        this.mismatch(w, 'list', prefix, 'page size', `at most ${limit}`, `${j.items?.length} items`);
      for (const it of j.items ?? []) listed.push({ it, sentAt: a.sentAt, receivedAt: a.receivedAt });
      cursor = j.cursor ?? null;
    } while (cursor && ++pages < 1000);

    const seen = new Set<string>();
    let previous: string | undefined;
    const toResolve = new Set<string>();
    for (const { it, sentAt, receivedAt } of listed) {
      const full = String(it.fullName);
      if (!full.startsWith(prefix)) this.mismatch(w, 'list', prefix, 'listed path', `under ${prefix}`, full);
      if (previous !== undefined && Buffer.compare(Buffer.from(previous), Buffer.from(full)) >= 0)
        this.mismatch(w, 'list', prefix, 'order', `after ${previous}`, full);
      previous = full;
      seen.add(full);
      const s = w.model.get(full) ?? null;
      const live = liveness(s, sentAt, receivedAt);
      if (!s || live === 'gone') {
        this.mismatch(
          w,
          'list',
          full,
          'listed file',
          describeState(s),
          describeAnswer({ key: '200', json: it } as Answer),
        );
        toResolve.add(full);
        continue;
      }
      const problems = stateProblems(it, s, full);
      if (problems.length) {
        this.mismatch(w, 'list', full, 'listed record', describeState(s), problems.join(', '));
        toResolve.add(full);
      }
    }
    for (const [path, s] of w.model) {
      if (path.startsWith(prefix) && !seen.has(path) && liveness(s, first, last) === 'live') {
        this.mismatch(w, 'list', path, 'missing from the listing', describeState(s), 'not listed');
        toResolve.add(path);
      }
    }
    for (const path of toResolve) await this.resolve(w, path, w.model.get(path) ?? null);
  }

  /** GET /v1/usage: the counters must lie within what the tenant's paths and operations in flight allow. */
  async usage(w: Worker): Promise<void> {
    const tenant = w.tenant;
    const window = tenant.open();
    const a = await this.call(w, 'usage', 'GET', '/v1/usage');
    const b = window.close();
    if (a.key !== '200') {
      if (a.status > 0 && a.status < 500)
        this.mismatch(w, 'usage', tenant.name, 'usage status', '200', describeAnswer(a));
      return;
    }
    const u = a.json as {
      limitBytes?: number;
      usedBytes?: number;
      reservedBytes?: number;
      fileCount?: number;
    };
    const used = Number(u.usedBytes);
    const reserved = Number(u.reservedBytes);
    const files = Number(u.fileCount);
    const problems: string[] = [];
    if (u.limitBytes !== tenant.limit) problems.push(`limitBytes ${u.limitBytes} (set to ${tenant.limit})`);
    if (!(used >= b.minUsed && used <= b.maxUsed))
      problems.push(`usedBytes ${used} not in [${b.minUsed}, ${b.maxUsed}]`);
    if (!(files >= b.minFiles && files <= b.maxFiles))
      problems.push(`fileCount ${files} not in [${b.minFiles}, ${b.maxFiles}]`);
    const maxReserved = b.maxReserved + tenant.abandonedReserved;
    if (!(reserved >= 0 && (tenant.reservedUncertain || reserved <= maxReserved)))
      problems.push(`reservedBytes ${reserved} not in [0, ${maxReserved}]`);
    if (used + reserved > tenant.limit)
      problems.push(`used + reserved ${used + reserved} > limit ${tenant.limit}`);
    if (problems.length)
      this.mismatch(
        w,
        'usage',
        tenant.name,
        'usage counters',
        'within the model bounds',
        problems.join('; '),
      );
  }

  // ---- the end -------------------------------------------------------------------------------

  /**
   * Nothing runs any more and every expiry has passed: every path must answer as the model says
   * (reading the expired ones also cleans them up), each prefix must list exactly the model's
   * files, and each tenant's counters must equal the model's sums, with nothing reserved.
   */
  async finalCheck(workers: Worker[], tenants: TenantModel[], operator: string): Promise<string[][]> {
    const before = this.mismatches.length;
    this.storeKeys.clear();
    let paths = 0;
    let files = 0;
    await Promise.all(
      workers.map(async (w) => {
        for (const [path, s] of w.model) {
          paths++;
          const a = await this.call(w, 'meta', 'GET', `/v1/meta/${encodePath(path)}`);
          const live = liveness(s, a.sentAt, a.receivedAt);
          if (live === 'live' && s) {
            files++;
            if (a.key !== '200') {
              this.mismatch(w, 'final', path, 'final meta', describeState(s), describeAnswer(a));
              continue;
            }
            const problems = stateProblems(a.json as Attachment, s, path);
            if (problems.length)
              this.mismatch(w, 'final', path, 'final meta', describeState(s), problems.join(', '));
            this.storeKeys.add(String((a.json as Attachment).storeFullName));
            const g = await this.call(w, 'get', 'GET', `/v1/objects/${encodePath(path)}`);
            if (g.key !== '200' || md5Of(g.body) !== s.md5)
              this.mismatch(
                w,
                'final',
                path,
                'final download',
                describeState(s),
                `${g.key}, ${g.body.length} bytes, md5 ${md5Of(g.body).slice(0, 8)}`,
              );
          } else {
            if (a.key !== '404 NOT_FOUND')
              this.mismatch(w, 'final', path, 'final meta', `404 (${describeState(s)})`, describeAnswer(a));
            w.update(path, null, 'expiry (the final meta read answered 404)');
          }
        }
        const listed = new Map<string, Attachment>();
        let cursor: string | null = null;
        do {
          const q = new URLSearchParams({ prefix: w.prefix, limit: '1000' });
          if (cursor) q.set('cursor', cursor);
          const a = await this.call(w, 'list-page', 'GET', `/v1/objects?${q}`);
          if (a.key !== '200') {
            this.mismatch(w, 'final', w.prefix, 'final list', '200', describeAnswer(a));
            break;
          }
          const j = a.json as { items?: Attachment[]; cursor?: string | null };
          for (const it of j.items ?? []) listed.set(String(it.fullName), it);
          cursor = j.cursor ?? null;
        } while (cursor);
        for (const [path, it] of listed) {
          const s = w.model.get(path);
          if (!s)
            this.mismatch(
              w,
              'final',
              path,
              'final list',
              'not listed (no file)',
              describeAnswer({ key: '200', json: it } as Answer),
            );
        }
        for (const [path, s] of w.model) {
          if (s && !listed.has(path))
            this.mismatch(w, 'final', path, 'final list', describeState(s), 'not listed');
        }
      }),
    );
    const rows: string[][] = [];
    for (const t of tenants) {
      const token = workers.find((w) => w.tenant === t)?.token;
      if (!token) continue;
      const a = await this.call(undefined, 'usage', 'GET', '/v1/usage', { token });
      const u = a.json as {
        usedBytes?: number;
        fileCount?: number;
        reservedBytes?: number;
        limitBytes?: number;
      };
      const want = t.settled(Date.now());
      const wantReserved = t.reservedUncertain ? undefined : t.abandonedReserved;
      const cells: [string, number | undefined, number | undefined][] = [
        ['usedBytes', want.usedBytes, u.usedBytes],
        ['fileCount', want.fileCount, u.fileCount],
        ['reservedBytes', wantReserved, u.reservedBytes],
        ['limitBytes', t.limit, u.limitBytes],
      ];
      const wrong = cells.filter(([, e, g]) => e !== undefined && e !== g);
      if (a.key !== '200' || wrong.length) {
        this.mismatch(
          undefined,
          'final',
          t.name,
          'final usage',
          cells.map(([k, e]) => `${k} ${e ?? '?'}`).join(', '),
          `${a.key}: ${cells.map(([k, , g]) => `${k} ${g}`).join(', ')}`,
        );
        // For the diagnosis: what the records say (this rewrites the counters; the run is over).
        const re = await this.call(
          undefined,
          'recalculate',
          'POST',
          `/v1/usage/recalculate?tenant=${t.name}`,
          {
            token: operator,
          },
        );
        const r = re.json as { usedBytes?: number; fileCount?: number; reservedBytes?: number };
        rows.push([
          t.name,
          ...cells.map(([, e, g]) => `${g} / ${e ?? '?'}${e !== undefined && e !== g ? ' **no**' : ''}`),
          `recalculated from the records: used ${r.usedBytes}, files ${r.fileCount}, reserved ${r.reservedBytes}`,
        ]);
      } else {
        rows.push([t.name, ...cells.map(([, e, g]) => `${g} / ${e ?? '?'}`), 'yes']);
      }
    }
    console.log(
      `  final check: ${paths} paths (${files} files), ${this.mismatches.length - before} mismatches`,
    );
    return rows;
  }

  report(r: {
    seconds: number;
    workerCount: number;
    tenants: TenantModel[];
    seed: number;
    sweepSeconds: number;
    loadMs: number;
    loadRequests: number;
    pauseMs: number;
    finalRows: string[][];
    orphans: string[];
    serverStderr: string;
    elapsedMs: number;
  }): BenchResult {
    const operations = [...this.ops.values()].reduce((a, b) => a + b, 0);
    const perSecond = (n: number) => ((n / r.loadMs) * 1000).toFixed(0);
    const mismatchCount = this.mismatches.length;
    const groups = new Map<string, Mismatch[]>();
    for (const m of this.mismatches) {
      const key = `${m.check} (${m.op.split('/')[0]})`;
      groups.set(key, [...(groups.get(key) ?? []), m]);
    }
    const failures: string[] = [];
    if (this.fiveXx) failures.push(`${this.fiveXx} answers with a 5xx status`);
    if (this.transportErrors) failures.push(`${this.transportErrors} requests without an HTTP answer`);
    for (const [key, list] of groups) {
      const m = list[0] as Mismatch;
      failures.push(
        `${list.length} model mismatch(es) in ${key}, e.g. ${m.worker} ${m.op} ${m.path}: expected ${m.expected}, got ${m.got}`,
      );
    }
    const statusRows = [...this.statuses]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, n]) => [k, String(n)]);
    const kindRows = [...this.kinds]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([kind, s]) => {
        const sorted = [...s.ms].sort((a, b) => a - b);
        const answers = [...s.answers]
          .sort(([, a], [, b]) => b - a)
          .map(([k, n]) => `${n} x ${k}`)
          .join(', ');
        return [
          kind,
          String(sorted.length),
          fmtMs(percentile(sorted, 50)),
          fmtMs(percentile(sorted, 99)),
          answers,
        ];
      });
    const opRows = [...this.ops].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => [k, String(n)]);
    const shown = this.mismatches.slice(0, 60);
    const cell = (s: string) => s.replaceAll('|', '\\|').slice(0, 300);
    const tight = r.tenants[0];
    const details = [
      `${r.workerCount} workers ran mixed operations for ${r.seconds} s against the local server (a separate ` +
        `process with its own DynamoDB Local and local disk; SWEEP_INTERVAL=${r.sweepSeconds}), over HTTP, ` +
        `through the public API only, ${r.tenants.length} tenants (worker i uses tenant i mod ${r.tenants.length}), ` +
        `seed ${r.seed}. Tenant \`${tight?.name}\` has a limit of ${fmtBytes(tight?.limit ?? 0)}, the others ` +
        `${fmtBytes(ROOMY_QUOTA)} (set with \`PUT /v1/quota/{tenant}\`). Contents come from a pool of ` +
        `${POOL_SIZES.length} (${POOL_SIZES.map((n) => fmtBytes(n)).join(', ')}) shared by every worker and tenant, ` +
        'so md5 dedupe is hit hard: the same blob is referenced, dereferenced and claimed again by many ' +
        `paths at once. ${Math.round(EXPIRING_SHARE * 100)}% of uploads expire after 1-${MAX_EXPIRES_SECONDS} s.`,
      '',
      'Each worker owns its paths (its prefix `wNN/`: ten names with varied extensions, two that are never ' +
        'uploaded, and the files onConflict=rename created), runs one operation at a time, and checks every ' +
        "answer against its model of those paths: status, the record's fields (id, md5, size, type, " +
        'fullName, expires to the millisecond), downloaded bytes by md5 (Ranges by the exact slice), ' +
        'listings page by page (exactly the live files, in path order). Expiry is decided on the same clock: ' +
        'a file whose expiry falls between sending a request and its answer may be seen either way; each ' +
        'expiring file is read again (meta, download or a listing) as soon as its expiry has passed. A 413 ' +
        "QUOTA_EXCEEDED is accepted only when the most the tenant's used + reserved bytes can have been " +
        'during that request (every path at its largest, every other operation in flight at its largest ' +
        'reservation; an upload of unknown length reserves all the quota has left) leaves no room for the file, ' +
        'or, for an upload of unknown length on the small quota, when another reservation ran concurrently ' +
        '(it reserves what it read was free, so a concurrent reservation makes its conditional write fail). ' +
        '`GET /v1/usage` during the run must lie within the same bounds and never show used + reserved over ' +
        "the limit. After an unexpected answer the worker reads the record and takes the server's state, " +
        'so one fault is counted once.',
      '',
      `At the end, after a pause of ${(r.pauseMs / 1000).toFixed(1)} s (longer than every expiry and a sweep ` +
        'interval), every path of every worker is read (`GET /v1/meta`, which also cleans expired files up; ' +
        "then the bytes of each live file), each prefix is listed in full, and each tenant's `GET /v1/usage` " +
        'must equal the sums of the model exactly, with nothing reserved.',
      '',
      table(
        ['', 'result'],
        [
          [
            'requests (run phase)',
            `${r.loadRequests} in ${(r.loadMs / 1000).toFixed(1)} s (${perSecond(r.loadRequests)}/s)`,
          ],
          ['operations (a direct upload is one)', `${operations} (${perSecond(operations)}/s)`],
          ['5xx answers', String(this.fiveXx)],
          ['requests without an answer', String(this.transportErrors)],
          ['model mismatches', String(mismatchCount)],
          ['unexpected 409 CONCURRENT_UPDATE', String(this.concurrentUpdates)],
          [
            '413 QUOTA_EXCEEDED accepted',
            `${this.quota413.bound + this.quota413.race} (${this.quota413.bound} by the bound, ${this.quota413.race} by a concurrent reservation)`,
          ],
        ],
      ),
      '',
      '**Answers by status:**',
      '',
      table(['status', 'count'], statusRows),
      '',
      '**Requests by kind** (latency from sending to the whole answer; `+md5` marks uploads that gave one):',
      '',
      table(['kind', 'requests', 'p50', 'p99', 'answers'], kindRows),
      '',
      '**Operations chosen:**',
      '',
      table(['operation', 'count'], opRows),
      '',
      '**Final counters per tenant** (server / model):',
      '',
      table(['tenant', 'usedBytes', 'fileCount', 'reservedBytes', 'limitBytes', 'exact'], r.finalRows),
      '',
      `Objects on the server's disk that no file references at the end (for information: the API cannot ` +
        `see them; the design allows an orphan only when a delete of the object itself fails): ` +
        `**${r.orphans.length}**.`,
      '',
      ...(r.orphans.length
        ? (() => {
            const { rows, groups } = this.orphanRows(r.orphans);
            return [
              table(
                ['what the file with that key last went through', 'objects'],
                [...groups].sort(([, a], [, b]) => b - a).map(([k, n]) => [k, String(n)]),
              ),
              '',
              table(
                ['object key', "the file's story (t into the run)"],
                rows.map(([k, v]) => [k ?? '', cell(v ?? '')]),
              ),
              '',
            ];
          })()
        : []),
      mismatchCount
        ? [
            `**Mismatches** (${mismatchCount}${mismatchCount > shown.length ? `, the first ${shown.length}` : ''}; t = seconds into the run):`,
            '',
            table(
              ['t', 'worker', 'op', 'path', 'check', 'expected', 'got'],
              shown.map((m) => [
                m.at.toFixed(1),
                m.worker,
                m.op,
                m.path,
                m.check,
                cell(m.expected),
                cell(m.got),
              ]),
            ),
          ].join('\n')
        : 'No mismatches.',
      '',
      this.fiveXx && r.serverStderr
        ? `Server stderr (last lines):\n\n\`\`\`\n${r.serverStderr.slice(-3000)}\n\`\`\`\n`
        : '',
    ].join('\n');

    return {
      id: 'e',
      title: `soak: ${r.seconds} s of mixed operations by ${r.workerCount} workers against the local server, with a client-side model`,
      rows: [
        { metric: 'operations', value: `${r.loadRequests} requests (${perSecond(r.loadRequests)}/s)` },
        {
          metric: '5xx answers and requests without an answer',
          value: String(this.fiveXx + this.transportErrors),
          goal: '0',
          met: this.fiveXx + this.transportErrors === 0,
        },
        { metric: 'model mismatches', value: String(mismatchCount), goal: '0', met: mismatchCount === 0 },
        {
          metric: 'unexpected 409 CONCURRENT_UPDATE',
          value: String(this.concurrentUpdates),
          goal: '0',
          met: this.concurrentUpdates === 0,
        },
      ],
      failures,
      details,
      elapsedMs: r.elapsedMs,
    };
  }
}
