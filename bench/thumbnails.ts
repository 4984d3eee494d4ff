/**
 * (g) previewThumbnail, GET /v1/thumbnails/{tenant}/{path+} (issue 11): a thumbnail miss over HTTP
 * against a bare sharp resize of the same file in the same run, a cached hit against a miss, and
 * the server's peak RSS with 8 concurrent misses, on a 12 MP photo-like JPEG and a 4000x3000 PNG.
 *
 * The server runs as its own process (bench/local-server.ts, local disk) with THUMBNAIL_EAGER_SIZES
 * empty, so an upload renders nothing ahead and the first GET of a file's thumbnail is a real miss:
 * read the source, sniff it, render (libvips checks the pixel limit from the header), answer; the
 * local server (BACKGROUND_THUMBNAILS) reserves the variant on the file, writes it and marks it ready
 * after its answer, and the bench waits for that before its next step, so that this work never
 * overlaps a bare render and is counted in the miss's server CPU. Every miss asks a fresh copy of the
 * fixture (uploaded before the timing) with the default parameters (120x120, cover, quality 80) and
 * `Accept: image/webp`, so the answer is WebP; the bare render runs in this process on the fixture's
 * file, with the service's sharp options, alternating with the misses. The two formats take turns in
 * every phase, so that neither is measured on a server warmer than the other's.
 */
import { createReadStream, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import sharp, { type SharpOptions } from 'sharp';
import { renderThumbnail } from '../shared/images/render';
import { DEFAULT_SPEC, type SourceFormat, sniffImage, variantName } from '../shared/images/thumbnail-spec';
import { fileKey, thumbnailKey } from '../shared/metadata/items';
import { type Cpu, cpuOf, cpuSince, flush } from './large-file';
import {
  type ChildServer,
  type HttpResponse,
  json,
  type ProcMemory,
  RssSampler,
  request,
  startChildServer,
} from './local-server';
import {
  type BenchResult,
  benchTempDir,
  fmtMB,
  fmtMs,
  fmtRatio,
  mean,
  nearestRank,
  percentile,
  table,
} from './report';
import { prng } from './soak-model';

export interface ThumbnailBenchOptions {
  /** Timed misses (and as many bare renders) per format (BENCH_THUMB_MISSES; 200 by default, so that p99 is not the largest). */
  misses?: number;
  /** Timed hits per format (BENCH_THUMB_HITS; 200 by default). */
  hits?: number;
  /** Rounds of CONCURRENT simultaneous misses per format, for the RSS (BENCH_THUMB_ROUNDS; 3 by default). */
  rounds?: number;
  /** Untimed thumbnail requests (hits) before any timing (BENCH_THUMB_WARMUP; 4000 by default). */
  warmup?: number;
}

/** Warm-up requests are reported in blocks of this many (the p50 of each), to show the server settling. */
const WARMUP_BLOCK = 500;

const MISS_GOAL = 1.15;
const HIT_GOAL = 20;
const CONCURRENT = 8;
const WIDTH = 4000;
const HEIGHT = 3000;
const TENANT = 'bench-thumbs';
/** The defaults of shared/config.ts (THUMBNAIL_MAX_PIXELS, THUMBNAIL_TIMEOUT_SECONDS), which the child server runs with. */
const MAX_PIXELS = 50_000_000;
const TIMEOUT_SECONDS = 10;
/** The default parameters: 120x120, cover, quality 80, with the format chosen by Accept (WebP). */
const SPEC = DEFAULT_SPEC;
const ACCEPT = 'image/webp';
const VARIANT = variantName(SPEC, 'webp');
const REQUEST_TIMEOUT_MS = 60_000;
/**
 * Misses run in blocks of this many copies per format: a block's copies (a miss copy and a bare
 * copy per miss; a PNG copy is 24 MB) are uploaded just before it and deleted after it, so the disk
 * holds one block at a time however many misses are asked.
 */
const MISS_BLOCK = 25;
/** Untimed hits after a block's uploads, which ran through the server, before its misses are timed. */
const REWARM_HITS = 200;
const UPLOAD_TIMEOUT_MS = 120_000;

/** The options render.ts gives sharp for the render itself (its header read has limitInputPixels false). */
const SHARP_OPTIONS: SharpOptions = {
  failOn: 'error',
  limitInputPixels: MAX_PIXELS,
  autoOrient: true,
  animated: false,
  pages: 1,
};

interface Fixture {
  label: 'JPEG' | 'PNG';
  ext: 'jpg' | 'png';
  contentType: string;
  format: SourceFormat;
  file: string;
  bytes: number;
}

/**
 * 4000x3000 RGB pixels that compress like a photo, not like a flat picture: smooth colour gradients
 * and waves, 30 translucent shapes (drawn at a quarter size, scaled up and blurred, so their edges
 * are soft), a multi-scale luminance texture stronger in some regions than in others, and per-pixel
 * grain (luminance and some chroma). Its JPEG at quality 90 is about 4 MB, like a 12 MP camera's.
 */
async function photoPixels(): Promise<Buffer> {
  const rand = prng(7);
  const raw = { width: WIDTH, height: HEIGHT, channels: 3 } as const;
  const base = Buffer.alloc(WIDTH * HEIGHT * 3);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      const i = (y * WIDTH + x) * 3;
      const u = x / WIDTH;
      const v = y / HEIGHT;
      base[i] = 60 + 120 * v + 30 * Math.sin(u * 5.1 + v * 2.3);
      base[i + 1] = 90 + 80 * (1 - v) * u + 25 * Math.sin(v * 7.7 - u * 1.9);
      base[i + 2] = 150 - 90 * v + 40 * Math.cos(u * 3.3 + v * 4.1);
    }
  }
  const shapes: string[] = [];
  for (let k = 0; k < 30; k++) {
    const colour = `rgb(${Math.floor(rand() * 256)},${Math.floor(rand() * 256)},${Math.floor(rand() * 256)})`;
    const cx = rand() * WIDTH;
    const cy = rand() * HEIGHT;
    const rx = 60 + rand() * 700;
    const ry = 60 + rand() * 600;
    const opacity = (0.35 + rand() * 0.6).toFixed(2);
    shapes.push(
      k % 3 === 0
        ? `<rect x="${cx - rx}" y="${cy - ry}" width="${2 * rx}" height="${ry}" fill="${colour}" opacity="${opacity}" transform="rotate(${Math.floor(rand() * 90)} ${cx} ${cy})"/>`
        : `<ellipse cx="${cx}" cy="${cy}" rx="${rx}" ry="${ry}" fill="${colour}" opacity="${opacity}"/>`,
    );
  }
  const svg = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH / 4}" height="${HEIGHT / 4}" viewBox="0 0 ${WIDTH} ${HEIGHT}">${shapes.join('')}</svg>`,
  );
  const layer = await sharp(await sharp(svg).png().toBuffer())
    .resize(WIDTH, HEIGHT, { kernel: 'cubic' })
    .blur(2)
    .png({ compressionLevel: 0 })
    .toBuffer();
  const pixels = await sharp(base, { raw })
    .composite([{ input: layer }])
    .removeAlpha()
    .raw()
    .toBuffer();
  if (pixels.length !== WIDTH * HEIGHT * 3) throw new Error(`fixture pixels: ${pixels.length} bytes`);
  // Value noise at three scales, scaled up smoothly: the coarse one gates the fine one (textured
  // regions beside smoother ones, as in a photo).
  const octave = async (width: number, height: number) => {
    const b = Buffer.alloc(width * height);
    for (let i = 0; i < b.length; i++) b[i] = Math.floor(rand() * 256);
    return sharp(b, { raw: { width, height, channels: 1 } })
      .resize(WIDTH, HEIGHT, { kernel: 'cubic' })
      .raw()
      .toBuffer();
  };
  const coarse = await octave(125, 94);
  const middle = await octave(500, 375);
  const fine = await octave(2000, 1500);
  const TEXTURE = 50;
  const GRAIN = 13;
  for (let p = 0, i = 0; p < WIDTH * HEIGHT; p++, i += 3) {
    const gate = (coarse[p] as number) / 255;
    const texture =
      ((((middle[p] as number) - 128) * 0.5 + ((fine[p] as number) - 128) * gate) * TEXTURE) / 128;
    const luminance = texture + (rand() + rand() - 1) * GRAIN;
    for (let c = 0; c < 3; c++) {
      const value = (pixels[i + c] as number) + luminance + (rand() - 0.5) * GRAIN * 0.5;
      pixels[i + c] = value < 0 ? 0 : value > 255 ? 255 : value;
    }
  }
  return pixels;
}

/** The two fixtures, of the same pixels: a JPEG at quality 90 and a PNG (zlib 6, adaptive filtering). */
async function writeFixtures(dir: string): Promise<Fixture[]> {
  const pixels = await photoPixels();
  const image = () => sharp(pixels, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } });
  const jpeg = join(dir, 'photo.jpg');
  const png = join(dir, 'photo.png');
  writeFileSync(jpeg, await image().jpeg({ quality: 90 }).toBuffer());
  writeFileSync(png, await image().png({ compressionLevel: 6, adaptiveFiltering: true }).toBuffer());
  return [
    {
      label: 'JPEG',
      ext: 'jpg',
      contentType: 'image/jpeg',
      format: 'jpeg',
      file: jpeg,
      bytes: statSync(jpeg).size,
    },
    {
      label: 'PNG',
      ext: 'png',
      contentType: 'image/png',
      format: 'png',
      file: png,
      bytes: statSync(png).size,
    },
  ];
}

/** The bare render, the baseline: the same file by its path, the same sharp options and pipeline, nothing else. */
const bareRender = (file: string) =>
  sharp(file, SHARP_OPTIONS)
    .resize(SPEC.width, SPEC.height, { fit: SPEC.fit })
    .webp({ quality: SPEC.quality })
    .toBuffer();

/**
 * The service's own steps that need no server, in this process, as loadSource does them on local
 * disk: the first 4100 bytes read (a ranged read stream), sniffImage on them, and render.ts's
 * renderThumbnail on the file by its path (header read, pixel check, render).
 */
async function serviceRenderHere(
  fixture: Fixture,
): Promise<{ readMs: number; sniffMs: number; renderMs: number }> {
  const t0 = performance.now();
  const chunks: Buffer[] = [];
  for await (const chunk of createReadStream(fixture.file, { start: 0, end: 4099 }))
    chunks.push(chunk as Buffer);
  const head = Buffer.concat(chunks);
  const t1 = performance.now();
  const format = await sniffImage(head);
  const t2 = performance.now();
  if (format !== fixture.format) throw new Error(`sniffImage says ${format} of the ${fixture.label} fixture`);
  await renderThumbnail(fixture.file, format, SPEC, 'webp', {
    maxPixels: MAX_PIXELS,
    timeoutSeconds: TIMEOUT_SECONDS,
  });
  return { readMs: t1 - t0, sniffMs: t2 - t1, renderMs: performance.now() - t2 };
}

const sorted = (values: readonly number[]) => [...values].sort((a, b) => a - b);
const p50 = (values: readonly number[]) => percentile(sorted(values), 50);
const p99 = (values: readonly number[]) => percentile(sorted(values), 99);
const ordinal = (n: number) =>
  `${n}${n % 100 >= 11 && n % 100 <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th')}`;
const cpuMs = (cpu: Cpu) => (cpu.user + cpu.sys) * 1000;

interface FormatResult {
  fixture: Fixture;
  /** The copies whose thumbnails are asked once each (the first is asked again for the hits). */
  paths: string[];
  /** The stored files of as many other copies, each rendered once by the bare render. */
  bareFiles: string[];
  missMs: number[];
  bareMs: number[];
  hereMs: number[];
  readMs: number[];
  sniffMs: number[];
  renderMs: number[];
  /** From the miss's request until its variant was marked ready (kept after the answer). */
  keptMs: number[];
  hitMs: number[];
  /** The DynamoDB calls of a miss, raw, from this process to the server's DynamoDB Local (breakdown). */
  getItemMs: number[];
  reserveMs: number[];
  markMs: number[];
  /** Server CPU (all its threads) per miss, and this process's CPU per bare render, ms. */
  serverCpuMs: number[];
  bareCpuMs: number[];
  rss?: RssResult;
}

interface RssResult {
  idle: ProcMemory | undefined;
  /** Highest VmRSS sampled (every 25 ms) during each round of CONCURRENT misses. */
  peaks: number[];
  /** Each round, first request sent to last answer. */
  roundMs: number[];
  /** Each request's latency within its round. */
  latencyMs: number[];
}

export async function runThumbnails(options: ThumbnailBenchOptions = {}): Promise<BenchResult> {
  const misses = options.misses ?? 200;
  const hits = options.hits ?? 200;
  const rounds = options.rounds ?? 3;
  const warmup = options.warmup ?? 4000;
  const warmupMs: number[] = [];
  const title = `thumbnails of a ${WIDTH}x${HEIGHT} JPEG and PNG: HTTP miss vs bare sharp, hit vs miss, RSS with ${CONCURRENT} concurrent misses`;
  const started = performance.now();
  const failures: string[] = [];
  const temp = benchTempDir('bench-thumbs-');
  const dataDir = join(temp.path, 'server');
  let server: ChildServer | undefined;
  let probe: DynamoProbe | undefined;
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENT });
  sharp.cache(false); // as render.ts sets it in the server
  try {
    const g0 = performance.now();
    const fixtures = await writeFixtures(temp.path);
    const fixtureMs = performance.now() - g0;
    for (const f of fixtures)
      console.log(`  fixture ${f.label} ${WIDTH}x${HEIGHT}: ${fmtMB(f.bytes)} (${f.bytes} bytes)`);

    server = await startChildServer(dataDir, {
      // Nothing rendered at upload: the first GET of a thumbnail is a miss. API uploads of any size.
      env: { THUMBNAIL_EAGER_SIZES: '', MAX_API_UPLOAD_BYTES: String(1024 ** 3) },
    });
    const srv = server;
    const memoryAtStart = srv.memory();
    const auth = { authorization: `Bearer ${await srv.token(TENANT, 'bench-user')}` };

    /** Where a backend key is on the server's local disk. */
    const storedFile = (key: string) => join(dataDir, 'objects', ...key.split('/'));
    /** The variant's object: absent before a miss, present after it. */
    const variantFile = (id: string) => storedFile(thumbnailKey({ tenant: TENANT, id }, VARIANT));
    const ids = new Map<string, string>();
    const upload = async (fixture: Fixture, path: string, body: Buffer) => {
      const put = await request(`${srv.url}/v1/objects/${path}?visibility=public`, {
        method: 'PUT',
        headers: { ...auth, 'content-type': fixture.contentType, 'content-length': body.length },
        body,
        agent,
        timeoutMs: UPLOAD_TIMEOUT_MS,
      });
      const id = json<{ id?: string }>(put).id;
      if (put.status !== 201 || !id)
        throw new Error(
          `PUT /v1/objects/${path} answered ${put.status}: ${put.body.toString().slice(0, 300)}`,
        );
      if (existsSync(variantFile(id))) failures.push(`${path}: a thumbnail exists right after its upload`);
      ids.set(path, id);
    };
    const uploadAll = async (fixture: Fixture, paths: string[]) => {
      const body = readFileSync(fixture.file);
      for (const path of paths) await upload(fixture, path, body);
    };
    /** Deletes a copy; its thumbnail, if it was rendered, must be gone from the disk with it. */
    const remove = async (path: string) => {
      const removed = await request(`${srv.url}/v1/objects/${path}`, {
        method: 'DELETE',
        headers: auth,
        agent,
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
      if (removed.status !== 204) failures.push(`DELETE /v1/objects/${path} answered ${removed.status}`);
      const id = ids.get(path);
      if (id && existsSync(variantFile(id)))
        failures.push(`${path}: its thumbnail outlived the file's delete`);
    };
    const get = async (path: string): Promise<{ ms: number; response: HttpResponse }> => {
      const t0 = performance.now();
      const response = await request(`${srv.url}/v1/thumbnails/${TENANT}/${path}`, {
        method: 'GET',
        headers: { accept: ACCEPT },
        agent,
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
      return { ms: performance.now() - t0, response };
    };
    /** Every answer: 200, WebP, 120x120 (decoded); a miss also left its variant on the disk. */
    const check = async (what: string, response: HttpResponse, path?: string) => {
      if (response.status !== 200 || response.headers['content-type'] !== 'image/webp') {
        failures.push(
          `${what}: answered ${response.status} ${response.headers['content-type']}: ${response.body.toString().slice(0, 200)}`,
        );
        return;
      }
      try {
        const meta = await sharp(response.body).metadata();
        if (meta.format !== 'webp' || meta.width !== SPEC.width || meta.height !== SPEC.height)
          failures.push(`${what}: the thumbnail is ${meta.format} ${meta.width}x${meta.height}`);
      } catch (e) {
        failures.push(`${what}: the thumbnail does not decode: ${(e as Error).message}`);
      }
      const id = path && ids.get(path);
      if (id && !existsSync(variantFile(id)))
        failures.push(`${what}: the variant was not stored after the miss`);
    };
    const pathsOf = (fixture: Fixture, kind: string, n: number) =>
      Array.from(
        { length: n },
        (_, i) => `bench/${fixture.ext}/${kind}-${String(i + 1).padStart(3, '0')}.${fixture.ext}`,
      );

    if (!srv.dynamoEndpoint) throw new Error('the local server did not say where its DynamoDB Local is');
    const dynamo = new DynamoProbe(srv.dynamoEndpoint);
    probe = dynamo;
    await dynamo.time(); // warm-up: the client, its socket
    /** Until the file's record marks the variant ready: the server keeps a miss's render after answering it. */
    const untilKept = async (path: string) => {
      const deadline = performance.now() + REQUEST_TIMEOUT_MS;
      while (!(await dynamo.ready(TENANT, path, VARIANT))) {
        if (performance.now() > deadline) throw new Error(`${path}: the variant was never marked ready`);
        await new Promise((r) => setTimeout(r, 1));
      }
    };

    // The two formats alternate in every phase (misses, hits), the order flipping each time: the
    // server and DynamoDB Local's JVM keep warming up over thousands of requests, and a format
    // measured after the other one was seen to gain from it (its hits about 1 ms faster).
    const results: FormatResult[] = fixtures.map((fixture) => ({
      fixture,
      paths: pathsOf(fixture, 'miss', misses),
      bareFiles: [],
      missMs: [],
      bareMs: [],
      hereMs: [],
      readMs: [],
      sniffMs: [],
      renderMs: [],
      keptMs: [],
      hitMs: [],
      getItemMs: [],
      reserveMs: [],
      markMs: [],
      serverCpuMs: [],
      bareCpuMs: [],
    }));
    const inTurn = (i: number) => (i % 2 === 0 ? results : [...results].reverse());
    for (const r of results) await uploadAll(r.fixture, pathsOf(r.fixture, 'warm', 2));
    flush();
    // Warm-up, untimed: loads sharp and the route in both processes, opens the socket.
    for (let i = 0; i < 2; i++) {
      for (const { fixture } of inTurn(i)) {
        const path = pathsOf(fixture, 'warm', 2)[i] as string;
        const warmup = await get(path);
        await untilKept(path);
        await check(`${fixture.label} warm-up miss ${path}`, warmup.response, path);
        await bareRender(fixture.file);
        await serviceRenderHere(fixture);
      }
    }
    // Then the server is warmed as a running service is, and as (a) and (j) warm theirs: a node
    // process tiers up its request path (HTTP, routing, the SDK's DynamoDB call) and DynamoDB
    // Local's JVM compiles its own over a few thousand requests; until then a request costs up to
    // 3x as much (the block p50s below), and a miss would be timed on a cold server.
    console.log(`  ${warmup} untimed thumbnail hits of the warm-up copies ...`);
    const warmCopies = results.flatMap((r) => pathsOf(r.fixture, 'warm', 2));
    const warmHits = async (n: number, into?: number[]) => {
      for (let i = 0; i < n; i++) {
        const path = warmCopies[i % warmCopies.length] as string;
        const hit = await get(path);
        into?.push(hit.ms);
        if (hit.response.status !== 200)
          failures.push(`warm-up hit ${path}: answered ${hit.response.status}`);
      }
    };
    await warmHits(warmup, warmupMs);

    console.log(
      `  ${misses} misses and bare renders of each format, interleaved, in blocks of ${MISS_BLOCK} copies ...`,
    );
    for (let first = 0; first < misses; first += MISS_BLOCK) {
      const block = { first, end: Math.min(misses, first + MISS_BLOCK) };
      const blockPaths = results.map((r) => ({
        r,
        missPaths: r.paths.slice(block.first, block.end),
        bares: pathsOf(r.fixture, 'bare', misses).slice(block.first, block.end),
      }));
      for (const { r, missPaths, bares } of blockPaths) {
        await uploadAll(r.fixture, [...missPaths, ...bares]);
        for (const path of bares) r.bareFiles.push(storedFile(await dynamo.keyOf(TENANT, path)));
      }
      flush();
      // The uploads ran through the server: its request path is warmed again before the timing.
      await warmHits(REWARM_HITS);
      for (let i = block.first; i < block.end; i++) {
        for (const r of inTurn(i)) {
          const { fixture } = r;
          const path = r.paths[i] as string;
          // A: the service's miss, end to end (until the body is read).
          const cpu0 = cpuOf(srv.pid);
          const k0 = performance.now();
          const miss = await get(path);
          r.missMs.push(miss.ms);
          await untilKept(path);
          r.keptMs.push(performance.now() - k0);
          r.serverCpuMs.push(cpuMs(cpuSince(srv.pid, cpu0)));
          // B: the bare render of the same file.
          const c0 = process.cpuUsage();
          const b0 = performance.now();
          const bare = await bareRender(r.bareFiles[i] as string);
          r.bareMs.push(performance.now() - b0);
          const c1 = process.cpuUsage(c0);
          r.bareCpuMs.push((c1.user + c1.system) / 1000);
          // C: the service's own render code here (breakdown, not the goal).
          const h0 = performance.now();
          const here = await serviceRenderHere(fixture);
          r.hereMs.push(performance.now() - h0);
          r.readMs.push(here.readMs);
          r.sniffMs.push(here.sniffMs);
          r.renderMs.push(here.renderMs);
          // D: the miss's DynamoDB calls by themselves (breakdown, not the goal).
          const t = await dynamo.time();
          r.getItemMs.push(t.getItemMs);
          r.reserveMs.push(t.reserveMs);
          r.markMs.push(t.markMs);
          // Checked after the timing.
          await check(`${fixture.label} miss ${path}`, miss.response, path);
          const meta = await sharp(bare).metadata();
          if (meta.width !== SPEC.width || meta.height !== SPEC.height)
            failures.push(`${fixture.label} bare render: ${meta.width}x${meta.height}`);
        }
      }
      // The block's copies are deleted (untimed), so the disk holds one block at a time; the first
      // miss copy of each format stays, asked again for the hits.
      for (const { missPaths, bares } of blockPaths)
        for (const path of [...missPaths, ...bares].filter((p) => !results.some((r) => r.paths[0] === p)))
          await remove(path);
    }

    // Hits: each format's first copy again and again, its variant cached by its miss. Untimed first,
    // as (a) warms up: DynamoDB Local's JVM compiles its read path over the first hundreds.
    console.log(`  ${hits} hits of each format (after as many untimed), interleaved ...`);
    for (const timed of [false, true]) {
      for (let i = 0; i < hits; i++) {
        for (const r of inTurn(i)) {
          const hit = await get(r.paths[0] as string);
          if (timed) r.hitMs.push(hit.ms);
          await check(`${r.fixture.label} ${timed ? '' : 'warm-up '}hit ${i + 1}`, hit.response);
        }
      }
    }

    // RSS: CONCURRENT fresh copies asked at once, a few rounds per format, the server's RSS sampled.
    const rssIdle = await settledMemory(srv);
    for (const r of results) {
      const { fixture } = r;
      const rss: RssResult = { idle: undefined, peaks: [], roundMs: [], latencyMs: [] };
      r.rss = rss;
      console.log(`  ${fixture.label}: ${rounds} rounds of ${CONCURRENT} concurrent misses ...`);
      for (let round = 1; round <= rounds; round++) {
        const paths = pathsOf(fixture, `burst-${round}`, CONCURRENT);
        await uploadAll(fixture, paths);
        const idle = await settledMemory(srv);
        if (round === 1) rss.idle = idle;
        const sampler = new RssSampler(srv.pid).start();
        const t0 = performance.now();
        const answers = await Promise.all(paths.map((path) => get(path)));
        rss.roundMs.push(performance.now() - t0);
        rss.peaks.push(sampler.stop());
        for (const [i, a] of answers.entries()) {
          rss.latencyMs.push(a.ms);
          await untilKept(paths[i] as string);
          await check(`${fixture.label} concurrent miss ${paths[i]}`, a.response, paths[i]);
        }
      }
    }
    const memoryAtEnd = srv.memory();

    return {
      id: 'g',
      title,
      rows: summaryRows(results),
      failures,
      details: detailsOf({
        results,
        misses,
        hits,
        rounds,
        warmupMs,
        fixtureMs,
        memoryAtStart,
        rssIdle,
        memoryAtEnd,
      }),
      elapsedMs: performance.now() - started,
    };
  } finally {
    agent.destroy();
    probe?.destroy();
    await server?.stop();
    temp.remove();
  }
}

/**
 * The DynamoDB calls a miss makes, raw, against the server's DynamoDB Local, on an item of their
 * own (a tenant no request uses): the file's GetItem (ConsistentRead, as getFileRecord), the
 * reservation (reserveThumbnail's conditional update) and the mark (markThumbnailReady's). The table
 * is the local runtime's default, TABLE_NAME being removed from the child's environment.
 */
class DynamoProbe {
  private readonly client: DynamoDBClient;
  private readonly db: DynamoDBDocumentClient;
  private n = 0;
  private static readonly TABLE = 'storage-files';

  constructor(endpoint: string) {
    // DynamoDB Local takes any credentials (letters and digits in the key id).
    this.client = new DynamoDBClient({
      region: 'us-east-1',
      endpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    this.db = DynamoDBDocumentClient.from(this.client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async time(): Promise<{ getItemMs: number; reserveMs: number; markMs: number }> {
    const TableName = DynamoProbe.TABLE;
    const id = `probe-${++this.n}`;
    const Key = fileKey('bench-probe', 'storages.Default', `probe/${id}.jpg`);
    await this.db.send(new PutCommand({ TableName, Item: { ...Key, id, size: 1, visibility: 'public' } }));
    const t0 = performance.now();
    await this.db.send(new GetCommand({ TableName, Key, ConsistentRead: true }));
    const t1 = performance.now();
    await this.db.send(
      new UpdateCommand({
        TableName,
        Key,
        UpdateExpression: 'ADD thumbnails :variant SET imageFormat = :format',
        ConditionExpression:
          'id = :id AND (attribute_not_exists(thumbnails) OR size(thumbnails) < :max OR contains(thumbnails, :name))',
        ExpressionAttributeValues: {
          ':variant': new Set([VARIANT]),
          ':name': VARIANT,
          ':format': 'jpeg',
          ':id': id,
          ':max': 16,
        },
      }),
    );
    const t2 = performance.now();
    await this.db.send(
      new UpdateCommand({
        TableName,
        Key,
        UpdateExpression: 'ADD thumbnailsReady :variant',
        ConditionExpression: 'id = :id AND contains(thumbnails, :name)',
        ExpressionAttributeValues: { ':variant': new Set([VARIANT]), ':name': VARIANT, ':id': id },
      }),
    );
    return { getItemMs: t1 - t0, reserveMs: t2 - t1, markMs: performance.now() - t2 };
  }

  /** A file's record (the server's, in the runtime's default storage), read as getFileRecord does. */
  private async record(tenant: string, path: string): Promise<Record<string, unknown> | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: DynamoProbe.TABLE,
        Key: fileKey(tenant, 'storages.Default', path),
        ConsistentRead: true,
      }),
    );
    return Item;
  }

  /** The backend key of a file (on the server's local disk). */
  async keyOf(tenant: string, path: string): Promise<string> {
    const key = (await this.record(tenant, path))?.key;
    if (typeof key !== 'string') throw new Error(`${path}: no file record`);
    return key;
  }

  /** Whether the file's record marks the variant ready. */
  async ready(tenant: string, path: string, variant: string): Promise<boolean> {
    const ready = (await this.record(tenant, path))?.thumbnailsReady as Set<string> | undefined;
    return ready?.has(variant) ?? false;
  }

  destroy(): void {
    this.db.destroy();
    this.client.destroy();
  }
}

/** The server's memory after a pause (its GC and libvips' frees have settled). */
async function settledMemory(server: ChildServer): Promise<ProcMemory | undefined> {
  await new Promise((r) => setTimeout(r, 1000));
  return server.memory();
}

function summaryRows(results: FormatResult[]) {
  return results.flatMap((r) => {
    const label = r.fixture.label;
    const missRatio50 = p50(r.missMs) / p50(r.bareMs);
    const missRatio99 = p99(r.missMs) / p99(r.bareMs);
    const hitRatio = p50(r.missMs) / p50(r.hitMs);
    const peak = Math.max(...(r.rss?.peaks ?? [Number.NaN]));
    return [
      {
        metric: `${label} thumbnail miss (HTTP) vs bare sharp, p50`,
        value: `${fmtMs(p50(r.missMs))} vs ${fmtMs(p50(r.bareMs))} (${fmtRatio(missRatio50)})`,
        goal: `<= ${MISS_GOAL}x`,
        met: missRatio50 <= MISS_GOAL,
      },
      {
        metric: `${label} thumbnail miss (HTTP) vs bare sharp, p99`,
        value: `${fmtMs(p99(r.missMs))} vs ${fmtMs(p99(r.bareMs))} (${fmtRatio(missRatio99)})`,
        goal: `<= ${MISS_GOAL}x`,
        met: missRatio99 <= MISS_GOAL,
      },
      {
        metric: `${label} cached hit p50 (miss p50 / hit p50)`,
        value: `${fmtMs(p50(r.hitMs))} (${hitRatio.toFixed(0)}x faster)`,
        goal: `>= ${HIT_GOAL}x`,
        met: hitRatio >= HIT_GOAL,
      },
      {
        metric: `${label}: server peak RSS, ${CONCURRENT} concurrent misses (idle before)`,
        value: `${fmtMB(peak)} (${r.rss?.idle ? fmtMB(r.rss.idle.rss) : 'n/a'})`,
      },
    ];
  });
}

function detailsOf(input: {
  results: FormatResult[];
  misses: number;
  hits: number;
  rounds: number;
  warmupMs: number[];
  fixtureMs: number;
  memoryAtStart: ProcMemory | undefined;
  rssIdle: ProcMemory | undefined;
  memoryAtEnd: ProcMemory | undefined;
}): string {
  const { results, misses, hits, rounds, warmupMs } = input;
  const blocks = Array.from({ length: Math.ceil(warmupMs.length / WARMUP_BLOCK) }, (_, i) =>
    fmtMs(p50(warmupMs.slice(i * WARMUP_BLOCK, (i + 1) * WARMUP_BLOCK))),
  );
  const mem = (m: ProcMemory | undefined) => (m ? fmtMB(m.rss) : 'n/a');
  const cells = (values: number[]) => [fmtMs(p50(values)), fmtMs(p99(values))];
  const byFormat = (f: (r: FormatResult) => string[]) => results.flatMap(f);
  const header = ['', ...results.flatMap((r) => [`${r.fixture.label} p50`, `${r.fixture.label} p99`])];
  const ratioCells = (a: (r: FormatResult) => number[], b: (r: FormatResult) => number[]) =>
    byFormat((r) => [fmtRatio(p50(a(r)) / p50(b(r))), fmtRatio(p99(a(r)) / p99(b(r)))]);
  const fixtureText = results.map((r) => `${r.fixture.label} ${fmtMB(r.fixture.bytes)}`).join(', ');
  const breakdown = results
    .map((r) => {
      const miss = p50(r.missMs);
      const parts: [string, number][] = [
        ['a hit (HTTP, the GetItem of the file, a small read)', p50(r.hitMs)],
        ["the read of the source's first bytes", p50(r.readMs)],
        ['sniffImage', p50(r.sniffMs)],
        ['renderThumbnail', p50(r.renderMs)],
      ];
      const accounted = parts.reduce((sum, [, ms]) => sum + ms, 0);
      const floor = p50(r.bareMs) + p50(r.getItemMs) + p50(r.readMs) + p50(r.sniffMs);
      return (
        `${r.fixture.label}: the miss takes ${fmtMs(miss)} (p50) against the bare render's ${fmtMs(p50(r.bareMs))}. ` +
        `Its sequential steps, each timed apart (p50): ${parts.map(([what, ms]) => `${what} ${fmtMs(ms)}`).join(', ')}; ` +
        `together ${fmtMs(accounted)}, leaving ${fmtMs(miss - accounted)} (HTTP, routing, and contention: the ` +
        "server, DynamoDB Local's JVM and the rest of the machine share its cores). After the answer the variant " +
        `was reserved, written and marked ready ${fmtMs(p50(r.keptMs) - miss)} later (p50). ` +
        `Server CPU per miss, its keeping included (all its threads, mean) ${mean(r.serverCpuMs).toFixed(0)} ms, ` +
        `against this process's CPU per bare render ${mean(r.bareCpuMs).toFixed(0)} ms (DynamoDB Local's not counted). ` +
        // What no render work can remove: the file's record is read before its source is known.
        `The file's GetItem made raw after the renders, as a miss makes it after the machine has idled, took ` +
        `${fmtMs(p50(r.getItemMs))} (p50, against the warm hit's ${fmtMs(p50(r.hitMs))} in all); with the source's ` +
        `first bytes and their sniff, a miss is at least ${fmtRatio(floor / p50(r.bareMs))} of the bare render here ` +
        'before any HTTP.'
      );
    })
    .join('\n\n');

  return [
    `Fixtures, generated once per run (${(input.fixtureMs / 1000).toFixed(1)} s) from the same ${WIDTH}x${HEIGHT} ` +
      'pixels: smooth colour gradients and waves, 30 translucent blurred shapes, a multi-scale texture and ' +
      `per-pixel grain, so they compress like a photo: ${fixtureText} (JPEG quality 90 with 4:2:0 chroma, PNG zlib 6 ` +
      'with adaptive filtering, deterministic pixels). The server is `bench/local-server-child.ts` in its own ' +
      "process (local disk, DynamoDB Local), with `THUMBNAIL_EAGER_SIZES=''` so that uploads render nothing and " +
      'the thumbnail limits at their defaults (sources up to 25 MiB and 50 MP). Requests go over keep-alive ' +
      'connections; each is timed until its body is read.',
    '',
    `- **miss**: ${misses} copies of each fixture, each uploaded as a public file (\`PUT /v1/objects/{path}?visibility=public\`) ` +
      `in blocks of ${MISS_BLOCK} per format: a block's copies are uploaded, then \`sync\`, then ${REWARM_HITS} untimed ` +
      'hits (the uploads ran through the server), then its misses are timed, then its copies are deleted (each ' +
      "copy's thumbnail must be gone from the disk with it), so that the disk holds one block at a time. Each " +
      "copy's thumbnail is asked once: `GET /v1/thumbnails/{tenant}/{path}` with the default " +
      `parameters (${SPEC.width}x${SPEC.height}, fit ${SPEC.fit}, quality ${SPEC.quality}) and \`Accept: ${ACCEPT}\`, so a ` +
      'WebP is rendered and answered on every timed request. The local server (`BACKGROUND_THUMBNAILS`, set by the ' +
      'local runtime) reserves the variant on the file, writes it and marks it ready after the answer (in Lambda, ' +
      "which freezes once it answers, that is awaited first); the bench polls the file's record until the variant " +
      'is marked ready before it goes on, so this work never overlaps a bare render.',
    `- **bare sharp**, in this process, alternating with the misses (miss, bare, miss, bare, ...): \`sharp(file, { failOn: 'error', ` +
      `limitInputPixels: ${MAX_PIXELS}, autoOrient: true, animated: false, pages: 1 }).resize(${SPEC.width}, ${SPEC.height}, ` +
      `{ fit: '${SPEC.fit}' }).webp({ quality: ${SPEC.quality} }).toBuffer()\` with \`sharp.cache(false)\`: the ` +
      "service's pipeline and options, and nothing else (no header read first, no timeout, no read of the file " +
      `into memory). Its file is, by its path, the stored file of another copy uploaded with the miss's (${misses} ` +
      "more per format), never read before: as cold as the miss's source. (The fixture's own file, read by " +
      'every bare render, rendered about 2.5 ms faster than a stored copy of the same bytes in the same process ' +
      'when it was the baseline.)',
    "- **service's render here** (for the breakdown, not the goal): after each bare render, the service's own " +
      'steps that need no server, in this process, as `loadSource` does them on local disk: the first 4100 bytes ' +
      "read (a ranged read stream), `sniffImage` on them, and render.ts's `renderThumbnail` on the file by its " +
      'path (libvips opens the file itself and checks the pixel limit from its header).',
    "- **DynamoDB calls** (for the breakdown): after each of those, the miss's three DynamoDB calls made raw from " +
      "this process to the server's DynamoDB Local, on an item of their own with the same expressions: the file's " +
      "GetItem (consistent), reserveThumbnail's conditional UpdateItem and markThumbnailReady's (the last two " +
      'after the answer).',
    `- **hit**: the first copy's URL again, ${hits} times untimed (DynamoDB Local's JVM warms its read path, ` +
      `as in (a)), then ${hits} times timed (its variant was stored after its miss; local disk answers the cached ` +
      'bytes, no redirect).',
    `- **warm-up**: after 2 untimed misses of each format (their copies' variants kept), ${warmupMs.length} ` +
      'untimed thumbnail requests of those copies (hits), before any timing, as (a) and (j) warm up: the ' +
      "server's node process tiers up its request path and DynamoDB Local's JVM compiles its own over a few " +
      `thousand requests. Their p50 in blocks of ${WARMUP_BLOCK}: ${blocks.join(', ')}.`,
    '- **order**: the two formats take turns in every phase, the order flipping each time (JPEG miss and its ' +
      'steps, PNG miss and its steps, then PNG first, ...; the same for the hits): the server and DynamoDB ' +
      "Local's JVM keep warming up over thousands of requests, and whichever format went second gained from it " +
      '(measured when the formats ran one after the other: swapping them moved about 1 ms of hit time from one ' +
      'to the other).',
    `- **RSS**: ${rounds} rounds per format of ${CONCURRENT} fresh copies asked at once, the server's VmRSS sampled ` +
      'every 25 ms during each round; idle is VmRSS 1 s after the copies were uploaded, before the first round.',
    '',
    'Every answer must be 200 `image/webp` and decode as a 120x120 WebP, and once every miss is marked kept the ' +
      `variant must be on the disk (absent right after each upload). p99 is nearest-rank: of ${misses} misses (or ` +
      `bare renders) in ascending order, the ${ordinal(nearestRank(misses, 99))}${nearestRank(misses, 99) === misses ? ', the largest' : ''}. ` +
      `The largest of each, for the record (no goal): ${results
        .map(
          (r) =>
            `${r.fixture.label} miss ${fmtMs(Math.max(...r.missMs))}, bare ${fmtMs(Math.max(...r.bareMs))}`,
        )
        .join('; ')}.`,
    '',
    table(header, [
      ['thumbnail miss (HTTP)', ...byFormat((r) => cells(r.missMs))],
      ['bare sharp (baseline)', ...byFormat((r) => cells(r.bareMs))],
      [
        '**miss / bare**',
        ...ratioCells(
          (r) => r.missMs,
          (r) => r.bareMs,
        ),
      ],
      ["service's read + sniff + render here", ...byFormat((r) => cells(r.hereMs))],
      ["- read the source's first 4100 bytes", ...byFormat((r) => cells(r.readMs))],
      ['- sniffImage', ...byFormat((r) => cells(r.sniffMs))],
      ['- renderThumbnail', ...byFormat((r) => cells(r.renderMs))],
      ["the miss's DynamoDB calls, raw: GetItem of the file", ...byFormat((r) => cells(r.getItemMs))],
      ['- UpdateItem reserving the variant (after the answer)', ...byFormat((r) => cells(r.reserveMs))],
      ['- UpdateItem marking it ready (after the write)', ...byFormat((r) => cells(r.markMs))],
      ['miss until its variant was marked ready (not the goal)', ...byFormat((r) => cells(r.keptMs))],
      ['cached hit (HTTP)', ...byFormat((r) => cells(r.hitMs))],
      [
        '**miss / hit**',
        ...ratioCells(
          (r) => r.missMs,
          (r) => r.hitMs,
        ),
      ],
    ]),
    '',
    breakdown,
    '',
    table(
      ['server memory', ...results.map((r) => r.fixture.label)],
      [
        ['VmRSS idle before the rounds', ...results.map((r) => mem(r.rss?.idle))],
        [
          `peak VmRSS during ${CONCURRENT} concurrent misses (highest of ${rounds} rounds; each round)`,
          ...results.map(
            (r) =>
              `**${fmtMB(Math.max(...(r.rss?.peaks ?? [Number.NaN])))}** (${(r.rss?.peaks ?? []).map(fmtMB).join(', ')})`,
          ),
        ],
        [
          `a round of ${CONCURRENT} (first sent to last answered), p50`,
          ...results.map((r) => fmtMs(p50(r.rss?.roundMs ?? []))),
        ],
        [
          'latency of a request in a round, p50 / max',
          ...results.map(
            (r) => `${fmtMs(p50(r.rss?.latencyMs ?? []))} / ${fmtMs(Math.max(...(r.rss?.latencyMs ?? [])))}`,
          ),
        ],
      ],
    ),
    '',
    `Server VmRSS when it had started (sharp not loaded yet): ${mem(input.memoryAtStart)}; after the sequential ` +
      `misses and hits, settled: ${mem(input.rssIdle)}; at the end: ${mem(input.memoryAtEnd)}, VmHWM of the whole run ` +
      `${input.memoryAtEnd ? fmtMB(input.memoryAtEnd.hwm) : 'n/a'}. sharp runs with its defaults in both processes ` +
      `(concurrency ${sharp.concurrency()} thread per image here; libuv's 4 threads run up to 4 renders at once). ` +
      'No goal was set for the RSS. MB = 10^6 bytes.',
  ].join('\n');
}
