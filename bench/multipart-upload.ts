/**
 * (f) A multipart direct upload through the service against a plain `@aws-sdk/lib-storage` Upload
 * of the same bytes to the same S3 emulator, in the same run (issue 10 point 8).
 *
 * The server runs as its own process with STORAGE_EMULATOR=s3, as `STORAGE_EMULATOR=s3 npm start`
 * does: s3rver runs inside the server's process and is its default storage, with the bucket's
 * ObjectCreated notification running on-object-created. Both ways of uploading send their parts
 * from this process straight to that s3rver, 4 at a time, so the emulator's cost is in both; the
 * service's way adds the plan, the signing calls and complete (the join in place, checks, commit).
 * A third upload per round declares the md5, so the service reads the whole object to check it
 * (asynchronously): reported beside the goal, not as it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { S3RVER_KEY } from '../infra/local/emulators';
import { readApiError } from '../shared/http/read-error';
import { MAX_PARTS_PER_SIGN } from '../shared/service/multipart';
import { type Cpu, cpuOf, cpuSince, flush, median } from './large-file';
import { type ChildServer, type HttpResponse, json, request, startChildServer } from './local-server';
import {
  type BenchResult,
  benchTempDir,
  fmtBytes,
  fmtMBps,
  fmtMs,
  fmtRatio,
  percentile,
  table,
} from './report';

export interface MultipartOptions {
  /** Size of the file, bytes (BENCH_MULTIPART_BYTES; 1 GiB by default). */
  bytes?: number;
}

const THROUGHPUT_GOAL = 0.9;
/** Parts in flight at once, for the service's client and for lib-storage (queueSize). */
const PARALLEL = 4;
/** Rounds of (service, lib-storage), interleaved, after one small untimed warm-up of each. */
const ROUNDS = 3;
const MiB = 1024 ** 2;
const TENANT = 'bench-mp';
const CONTENT_TYPE = 'application/octet-stream';
/** No answer for this long (a socket idle) fails the request: a hung server must not hang the run. */
const PART_TIMEOUT_MS = 120_000;
const COMPLETE_TIMEOUT_MS = 600_000;

interface Plan {
  uploadId: string;
  mode: string;
  partSize: number;
  parts: number;
}

interface SignedPart {
  partNumber: number;
  method: string;
  url: string;
  headers: Record<string, string>;
}

interface ServiceRun {
  seconds: number;
  planMs: number;
  /** Wall time of the signing calls, summed (they overlap the part uploads after the first). */
  signMs: number;
  signCalls: number;
  partsSeconds: number;
  completeMs: number;
  /** The first complete call's own answer (200, or 202 when verified asynchronously), ms. */
  answerMs: number;
  /** CPU of the server process (service + s3rver) while complete ran. */
  completeCpu: Cpu;
  /**
   * 409 UPLOAD_IN_PROGRESS answers of complete before its 200: the storage event's finalize of the
   * same upload took the lease first and complete's wait for it (10 s) ran out; complete is asked again.
   */
  inProgress: number;
  /** 202 answers (asynchronous verification above VERIFY_INLINE_BYTES, then polled until READY). */
  accepted: number;
  partSize: number;
  parts: number;
  md5?: string;
  size?: number;
  /** The file's object key (storeFullName), to check its bytes after the timing. */
  key?: string;
}

interface BaselineRun {
  seconds: number;
  /** lib-storage's CompleteMultipartUpload call (s3rver joining the parts), ms. */
  completeMs?: number;
}

/** The bytes of the benchmark: distinct 1 MiB blocks (a random block stamped with its index), md5 on the way. */
async function writeSource(path: string, bytes: number): Promise<string> {
  const pattern = randomBytes(MiB);
  const md5 = createHash('md5');
  const file = await open(path, 'w');
  try {
    for (let offset = 0, block = 0; offset < bytes; offset += MiB, block++) {
      const chunk = Buffer.from(pattern.subarray(0, Math.min(MiB, bytes - offset)));
      // Every part differs, so parts joined in the wrong order change the md5.
      if (chunk.length >= 8) chunk.writeBigUInt64BE(BigInt(block), 0);
      md5.update(chunk);
      await file.write(chunk);
    }
  } finally {
    await file.close();
  }
  return md5.digest('hex');
}

function apiFailure(what: string, response: HttpResponse): Error {
  const error = readApiError(response.status, response.body.toString('utf8'), response.headers);
  return new Error(`${what} answered ${response.status} ${error.code}: ${error.message}`);
}

/**
 * The service's client: plan, part URLs signed a batch of MAX_PARTS_PER_SIGN at a time (the next
 * batch asked for while the current one is half sent), PARALLEL part PUTs straight to the storage,
 * each read from the file with a range stream, then complete with the part list.
 */
async function serviceUpload(
  server: ChildServer,
  auth: Record<string, string>,
  source: string,
  bytes: number,
  path: string,
  agent: http.Agent,
  md5?: string,
): Promise<ServiceRun> {
  const t0 = performance.now();
  const api = (method: string, route: string, body?: unknown, timeoutMs = 60_000) =>
    request(`${server.url}${route}`, {
      method,
      headers: body === undefined ? auth : { ...auth, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      timeoutMs,
    });

  const planned = await api('POST', '/v1/uploads', {
    path,
    contentType: CONTENT_TYPE,
    size: bytes,
    multipart: true,
    ...(md5 ? { md5 } : {}),
  });
  if (planned.status !== 201) throw apiFailure('POST /v1/uploads', planned);
  const plan = json<Plan>(planned);
  if (plan.mode !== 'multipart' || !(plan.partSize > 0) || plan.parts !== Math.ceil(bytes / plan.partSize))
    throw new Error(`POST /v1/uploads planned ${JSON.stringify(plan)} for ${bytes} bytes`);
  const planMs = performance.now() - t0;

  let signMs = 0;
  let signCalls = 0;
  const batches = new Map<number, Promise<Map<number, SignedPart>>>();
  const batch = (index: number): Promise<Map<number, SignedPart>> | undefined => {
    const first = index * MAX_PARTS_PER_SIGN + 1;
    if (first > plan.parts) return undefined;
    let pending = batches.get(index);
    if (!pending) {
      const numbers = Array.from(
        { length: Math.min(MAX_PARTS_PER_SIGN, plan.parts - first + 1) },
        (_, i) => first + i,
      );
      pending = (async () => {
        const s0 = performance.now();
        const signed = await api('POST', `/v1/uploads/${plan.uploadId}/parts`, { parts: numbers });
        signMs += performance.now() - s0;
        signCalls++;
        if (signed.status !== 200) throw apiFailure('POST /v1/uploads/{id}/parts', signed);
        const parts = json<{ parts?: SignedPart[] }>(signed).parts ?? [];
        return new Map(parts.map((p) => [p.partNumber, p]));
      })();
      // A batch asked for ahead may fail before anyone awaits it: it is reported when awaited.
      pending.catch(() => {});
      batches.set(index, pending);
    }
    return pending;
  };
  const signedPart = async (partNumber: number): Promise<SignedPart> => {
    const index = Math.floor((partNumber - 1) / MAX_PARTS_PER_SIGN);
    if ((partNumber - 1) % MAX_PARTS_PER_SIGN >= MAX_PARTS_PER_SIGN / 2) batch(index + 1);
    const part = (await batch(index))?.get(partNumber);
    if (!part) throw new Error(`part ${partNumber} was not signed`);
    return part;
  };

  const etags: string[] = new Array(plan.parts);
  let next = 1;
  const p0 = performance.now();
  const worker = async () => {
    for (let n = next++; n <= plan.parts; n = next++) {
      const part = await signedPart(n);
      const start = (n - 1) * plan.partSize;
      const end = Math.min(bytes, start + plan.partSize);
      const sent = await request(part.url, {
        method: part.method,
        headers: { ...part.headers, 'content-length': end - start },
        body: createReadStream(source, { start, end: end - 1, highWaterMark: MiB }),
        agent,
        timeoutMs: PART_TIMEOUT_MS,
      });
      const etag = sent.headers.etag;
      if (sent.status !== 200 || !etag)
        throw new Error(`PUT part ${n} answered ${sent.status}: ${sent.body.toString().slice(0, 300)}`);
      etags[n - 1] = etag;
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, plan.parts) }, worker));
  const partsSeconds = (performance.now() - p0) / 1000;

  const parts = etags.map((etag, i) => ({ partNumber: i + 1, etag }));
  const c0 = performance.now();
  const cpu0 = cpuOf(server.pid);
  let inProgress = 0;
  let accepted = 0;
  let file: StoredFile | undefined;
  let answerMs: number | undefined;
  while (!file) {
    const done = await api('POST', `/v1/uploads/${plan.uploadId}/complete`, { parts }, COMPLETE_TIMEOUT_MS);
    answerMs ??= performance.now() - c0;
    if (done.status === 200) {
      file = json<StoredFile>(done);
    } else if (done.status === 202) {
      // Verified asynchronously: poll until READY, as a client does.
      accepted++;
      file = await pollReady(api, plan.uploadId);
    } else if (done.status === 409 && readApiError(409, done.body.toString()).code === 'UPLOAD_IN_PROGRESS') {
      // The storage event's finalize holds the lease: complete is idempotent, ask again.
      inProgress++;
      if (inProgress > 20) throw apiFailure('POST /v1/uploads/{id}/complete (20th time)', done);
    } else {
      throw apiFailure('POST /v1/uploads/{id}/complete', done);
    }
  }
  const completeCpu = cpuSince(server.pid, cpu0);
  const completeMs = performance.now() - c0;
  return {
    seconds: (performance.now() - t0) / 1000,
    planMs,
    signMs,
    signCalls,
    partsSeconds,
    completeMs,
    answerMs: answerMs ?? completeMs,
    completeCpu,
    inProgress,
    accepted,
    partSize: plan.partSize,
    parts: plan.parts,
    md5: file.md5,
    size: file.size,
    key: file.storeFullName,
  };
}

/** What the API answers of a stored file, as far as this benchmark checks it. */
interface StoredFile {
  md5?: string;
  size?: number;
  storeFullName?: string;
}

async function pollReady(
  api: (method: string, route: string) => Promise<HttpResponse>,
  uploadId: string,
): Promise<StoredFile> {
  const deadline = Date.now() + COMPLETE_TIMEOUT_MS;
  for (;;) {
    const status = await api('GET', `/v1/uploads/${uploadId}`);
    if (status.status !== 200) throw apiFailure('GET /v1/uploads/{id}', status);
    const body = json<{ status?: string; file?: StoredFile; error?: unknown }>(status);
    if (body.status === 'READY' && body.file) return body.file;
    if (body.status === 'FAILED') throw new Error(`upload FAILED: ${JSON.stringify(body.error)}`);
    if (Date.now() > deadline) throw new Error(`upload not READY in ${COMPLETE_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Times each CompleteMultipartUpload the client sends (lib-storage's last call: s3rver joins the parts). */
function timeCompletes(client: S3Client, into: number[]): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const t0 = performance.now();
      try {
        return await next(args);
      } finally {
        if (context.commandName === 'CompleteMultipartUploadCommand') into.push(performance.now() - t0);
      }
    },
    { step: 'initialize', name: 'benchCompleteTiming' },
  );
}

async function baselineUpload(
  client: S3Client,
  completes: number[],
  bucket: string,
  key: string,
  source: string,
  partSize: number,
): Promise<BaselineRun> {
  const before = completes.length;
  const t0 = performance.now();
  await new Upload({
    client,
    params: { Bucket: bucket, Key: key, Body: createReadStream(source, { highWaterMark: MiB }) },
    queueSize: PARALLEL,
    partSize,
  }).done();
  return { seconds: (performance.now() - t0) / 1000, completeMs: completes[before] };
}

export async function runMultipartUpload(options: MultipartOptions = {}): Promise<BenchResult> {
  const bytes = options.bytes ?? 1024 ** 3;
  const started = performance.now();
  const failures: string[] = [];
  const temp = benchTempDir('bench-multipart-');
  const source = join(temp.path, 'source.bin');
  let server: ChildServer | undefined;
  let client: S3Client | undefined;
  const agent = new http.Agent({ keepAlive: true, maxSockets: PARALLEL });
  try {
    const expectedMd5 = await writeSource(source, bytes);
    server = await startChildServer(join(temp.path, 'server'), { storageEmulator: 's3' });
    const emulator = server.emulator;
    if (emulator?.kind !== 's3') throw new Error('the server did not start its S3 emulator');
    const auth = { authorization: `Bearer ${await server.token(TENANT, 'bench-user')}` };
    // The baseline's client: the emulator's fixed key, path-style addressing, and no checksum of its
    // own, as the service's S3 client for an endpoint (shared/backends/s3.ts) and a presigned PUT.
    client = new S3Client({
      region: 'us-east-1',
      endpoint: emulator.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: S3RVER_KEY, secretAccessKey: S3RVER_KEY },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    const completes: number[] = [];
    timeCompletes(client, completes);
    const s3 = client;
    const bucket = emulator.bucket;

    const removeServiceFile = async (path: string) => {
      const removed = await request(`${server?.url}/v1/objects/${path}`, { method: 'DELETE', headers: auth });
      if (removed.status !== 204) failures.push(`DELETE /v1/objects/${path} answered ${removed.status}`);
    };

    // Warm-up, untimed: loads the route handlers, on-object-created and the SDK, opens the sockets.
    const warmBytes = Math.min(bytes, 6 * MiB);
    const warmSource = join(temp.path, 'warm.bin');
    await writeSource(warmSource, warmBytes);
    await serviceUpload(server, auth, warmSource, warmBytes, 'bench/warm.bin', agent);
    await removeServiceFile('bench/warm.bin');
    await baselineUpload(s3, [], bucket, 'bench-baseline/warm.bin', warmSource, 5 * MiB);
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'bench-baseline/warm.bin' }));
    completes.length = 0;

    /** The md5 of a stored object, read straight from the emulator (after the timing). */
    const md5Stored = async (key: string | undefined) => {
      if (!key) return 'no key answered';
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const hash = createHash('md5');
      for await (const chunk of got.Body as AsyncIterable<Buffer>) hash.update(chunk);
      return hash.digest('hex');
    };

    const service: ServiceRun[] = [];
    const verified: ServiceRun[] = [];
    const baseline: BaselineRun[] = [];
    let lastBaselineKey: string | undefined;
    for (let round = 1; round <= ROUNDS; round++) {
      const path = `bench/multipart-${round}.bin`;
      flush();
      const a = await serviceUpload(server, auth, source, bytes, path, agent);
      service.push(a);
      // Without a declared md5 the service reads nothing, so it answers none: the bytes are checked here.
      const stored = await md5Stored(a.key);
      if (a.size !== bytes || a.md5 !== undefined || stored !== expectedMd5)
        failures.push(
          `round ${round}: the service stored size ${a.size} (md5 answered ${a.md5}, of the object ${stored}); sent ${bytes} md5 ${expectedMd5}`,
        );
      await removeServiceFile(path);

      flush();
      const v = await serviceUpload(server, auth, source, bytes, path, agent, expectedMd5);
      verified.push(v);
      if (v.size !== bytes || v.md5 !== expectedMd5)
        failures.push(
          `round ${round} (md5 declared): the service stored size ${v.size} md5 ${v.md5}; sent ${bytes} md5 ${expectedMd5}`,
        );
      await removeServiceFile(path);

      const key = `bench-baseline/round-${round}.bin`;
      flush();
      baseline.push(await baselineUpload(s3, completes, bucket, key, source, a.partSize));
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      if (head.ContentLength !== bytes)
        failures.push(`round ${round}: lib-storage's object has ${head.ContentLength} bytes, not ${bytes}`);
      if (lastBaselineKey) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: lastBaselineKey }));
      lastBaselineKey = key;
    }

    // What a complete with a declared md5 adds, by itself on the last baseline object (the same
    // bytes in the same emulator): a GetObject through md5 and sha256. s3rver joining the parts is
    // the baseline's own complete (above).
    let hashedReadMs = Number.NaN;
    if (lastBaselineKey) {
      flush();
      const h0 = performance.now();
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: lastBaselineKey }));
      const md5 = createHash('md5');
      const sha256 = createHash('sha256');
      for await (const chunk of got.Body as AsyncIterable<Buffer>) {
        md5.update(chunk);
        sha256.update(chunk);
      }
      hashedReadMs = performance.now() - h0;
      if (md5.digest('hex') !== expectedMd5)
        failures.push("lib-storage's object does not have the bytes sent");
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: lastBaselineKey }));
    }

    const rateOf = (seconds: number) => bytes / seconds;
    const p50 = (values: number[]) =>
      percentile(
        [...values].sort((x, y) => x - y),
        50,
      );
    const serviceRate = median(service.map((r) => rateOf(r.seconds)));
    const verifiedRate = median(verified.map((r) => rateOf(r.seconds)));
    const baselineRate = median(baseline.map((r) => rateOf(r.seconds)));
    const ratio = serviceRate / baselineRate;
    const verifiedRatio = verifiedRate / baselineRate;
    const roundRatios = service.map((a, i) => (baseline[i] as BaselineRun).seconds / a.seconds);
    const completeP50 = p50(service.map((r) => r.completeMs));
    const answerP50 = p50(service.map((r) => r.answerMs));
    const verifiedCompleteP50 = p50(verified.map((r) => r.completeMs));
    const verifiedAnswerP50 = p50(verified.map((r) => r.answerMs));
    const joinP50 = p50(baseline.map((r) => r.completeMs).filter((ms): ms is number => ms !== undefined));
    const partsRate = median(service.map((r) => rateOf(r.partsSeconds)));
    const first = service[0] as ServiceRun;
    const noteOf = (runs: ServiceRun[]) =>
      [
        runs.some((r) => r.inProgress > 0)
          ? `${runs.filter((r) => r.inProgress > 0).length} of ${runs.length} answered 409 UPLOAD_IN_PROGRESS first`
          : '',
        runs.some((r) => r.accepted > 0)
          ? `${runs.filter((r) => r.accepted > 0).length} of ${runs.length} answered 202 and were polled`
          : '',
      ]
        .filter(Boolean)
        .join('; ');
    const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    const completeCell = (a: ServiceRun) =>
      sec(a.completeMs) +
      (a.inProgress ? ` (after ${a.inProgress} x 409 UPLOAD_IN_PROGRESS)` : '') +
      (a.accepted ? ` (202 after ${sec(a.answerMs)}, polled)` : '');

    const details = [
      `${fmtBytes(bytes)} file (distinct 1 MiB blocks, generated once into a temp file; every part is read ` +
        'from it with a range stream). The server is `bench/local-server-child.ts` in its own Node process ' +
        'with `STORAGE_EMULATOR=s3`: s3rver runs inside that process as the default storage, and its bucket ' +
        'notifications run on-object-created for the staging and assembled prefixes, as with ' +
        '`STORAGE_EMULATOR=s3 npm start`. ' +
        `All uploads send their parts from this process straight to that s3rver, ${PARALLEL} at a time, ` +
        `parts of ${fmtBytes(first.partSize)} (${first.parts} parts: the service's plan, and lib-storage's partSize).`,
      '',
      '- **service**: `POST /v1/uploads` (`multipart: true`), `POST /v1/uploads/{id}/parts` for ' +
        `${MAX_PARTS_PER_SIGN} parts at a time (the next batch asked for while the current one is half sent), ` +
        `${PARALLEL} part PUTs in flight to the presigned URLs, then \`POST /v1/uploads/{id}/complete\` with the ` +
        "part list (and ETags); timed from the plan to the 200 of complete. The parts are joined in the file's " +
        'own key (no copy) and, without a declared md5, not read again: the storage checked each part against ' +
        'its ETag, the size comes from a HEAD. After the timing the stored object is read back from the ' +
        'emulator and its md5 must be that of the bytes.',
      '- **service, md5 declared**: the same with `md5` in the plan, so the finalize reads the whole object ' +
        '(md5 + sha256) before READY; above `VERIFY_INLINE_BYTES` complete answers 202 and the client polls ' +
        "`GET /v1/uploads/{id}` until READY, as a client does. Timed to READY; the md5 answered must be the bytes'.",
      `- **lib-storage**: \`new Upload({ client, params: { Bucket, Key, Body: createReadStream(file) }, queueSize: ${PARALLEL}, ` +
        'partSize })` to the same emulator, timed until `done()` resolves. Its S3Client adds no checksums ' +
        "(`requestChecksumCalculation: 'WHEN_REQUIRED'`, as the service's own S3 client for an endpoint; a " +
        'presigned part PUT carries none either).',
      '',
      `Order: one small untimed warm-up of each (${fmtBytes(warmBytes)}), then ${ROUNDS} x (service, service ` +
        'with md5, lib-storage); `sync` before each timed upload, and the previous upload deleted before it.',
      '',
      table(
        [
          'round',
          'service total',
          'throughput',
          'plan',
          'sign calls (sum)',
          'parts',
          'complete',
          'server CPU during complete',
          'md5 declared: total',
          'throughput',
          'its complete',
          'lib-storage total',
          'throughput',
          'its CompleteMultipartUpload',
          'service / lib-storage',
        ],
        service.map((a, i) => {
          const b = baseline[i] as BaselineRun;
          const v = verified[i] as ServiceRun;
          return [
            String(i + 1),
            `${a.seconds.toFixed(2)} s`,
            fmtMBps(rateOf(a.seconds)),
            fmtMs(a.planMs),
            `${a.signCalls} (${fmtMs(a.signMs)})`,
            `${a.partsSeconds.toFixed(2)} s (${fmtMBps(rateOf(a.partsSeconds))})`,
            completeCell(a),
            `${a.completeCpu.user.toFixed(2)} s + ${a.completeCpu.sys.toFixed(2)} s`,
            `${v.seconds.toFixed(2)} s`,
            fmtMBps(rateOf(v.seconds)),
            completeCell(v),
            `${b.seconds.toFixed(2)} s`,
            fmtMBps(rateOf(b.seconds)),
            b.completeMs === undefined ? 'n/a' : sec(b.completeMs),
            fmtRatio(roundRatios[i] as number),
          ];
        }),
      ),
      '',
      `Medians: service **${fmtMBps(serviceRate)}**, lib-storage **${fmtMBps(baselineRate)}**, ratio ` +
        `**${fmtRatio(ratio)}** (goal >= ${THROUGHPUT_GOAL}x; per-round ratios ${roundRatios.map(fmtRatio).join(', ')}). ` +
        `The service's parts alone (first PUT to last ETag) run at ${fmtMBps(partsRate)}. ` +
        `complete p50 **${sec(completeP50)}** for ${fmtBytes(bytes)}` +
        (noteOf(service) ? ` (${noteOf(service)})` : '') +
        `. With the md5 declared: ${fmtMBps(verifiedRate)} (${fmtRatio(verifiedRatio)} of lib-storage), ` +
        `complete answers in ${sec(verifiedAnswerP50)} and the file is READY ${sec(verifiedCompleteP50)} after ` +
        `complete was called (p50${noteOf(verified) ? `; ${noteOf(verified)}` : ''}).`,
      '',
      "What complete does, in order: list the parts, CompleteMultipartUpload into the file's key (s3rver " +
        're-reads every part, md5s and writes the whole object: the join lib-storage pays too), HeadObject, ' +
        'DynamoDB commit. With a declared md5 it also reads the whole object through md5 and sha256 ' +
        '(on worker threads). The same steps by themselves on the same bytes in the same emulator:',
      '',
      table(
        ['step', 'time'],
        [
          ["s3rver joining the parts (lib-storage's CompleteMultipartUpload, p50)", sec(joinP50)],
          [
            'GetObject of the whole object through md5 + sha256 (here in the benchmark process)',
            sec(hashedReadMs),
          ],
          ["the service's complete (p50)", sec(completeP50)],
          ["the service's complete with a declared md5, until READY (p50)", sec(verifiedCompleteP50)],
        ],
      ),
      '',
      'On a real S3 the join is server-side and takes about a second whatever the size; the read that a ' +
        'declared md5 needs moves every byte through the function, which is why it is asynchronous and ' +
        'bounded (`VERIFY_READ_MAX_BYTES`). MB = 10^6 bytes.',
    ].join('\n');

    return {
      id: 'f',
      title: `${fmtBytes(bytes)} multipart direct upload through the S3 emulator vs lib-storage`,
      rows: [
        { metric: 'lib-storage Upload, 4 parallel parts (median)', value: fmtMBps(baselineRate) },
        {
          metric: 'service multipart upload, plan to complete (median; ratio)',
          value: `${fmtMBps(serviceRate)} (${fmtRatio(ratio)})`,
          goal: `>= ${THROUGHPUT_GOAL}x`,
          met: ratio >= THROUGHPUT_GOAL,
        },
        {
          metric: 'the same with a declared md5, read to verify (median; ratio)',
          value: `${fmtMBps(verifiedRate)} (${fmtRatio(verifiedRatio)})`,
        },
        {
          metric: `complete call's answer, ${fmtBytes(bytes)} (p50; md5 declared)`,
          value: `${sec(answerP50)}; ${sec(verifiedAnswerP50)}`,
          goal: '< 29 s (API Gateway)',
          met: Math.max(answerP50, verifiedAnswerP50) < 29_000,
        },
        {
          metric: `complete until READY, ${fmtBytes(bytes)} (p50; md5 declared)`,
          value: `${sec(completeP50)}; ${sec(verifiedCompleteP50)}`,
        },
      ],
      failures,
      details,
      elapsedMs: performance.now() - started,
    };
  } finally {
    agent.destroy();
    client?.destroy();
    await server?.stop();
    temp.remove();
  }
}
