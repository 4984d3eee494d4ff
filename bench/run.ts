/**
 * `npm run bench`: runs the benchmarks of issue 2 point 11 (a-d), the soak run of the integrity
 * issue (e, bench/soak.ts), the multipart upload of issue 10 (f, bench/multipart-upload.ts) and the
 * thumbnails of issue 11 (g, bench/thumbnails.ts), and writes BENCHMARKS.md (date, machine, a summary and one section per
 * benchmark). Each benchmark says whether its goal was met; the
 * process exits 1 only on a correctness failure (a wrong count, a wrong answer, a crash), never on
 * a missed speed or memory goal.
 *
 *   npm run bench                          all benchmarks, 1 GiB for (b)
 *   npm run bench -- --only a,c            some of them (a to j)
 *   BENCH_LARGE_BYTES=256M npm run bench   a smaller file for (b) (bytes, or with K/M/G = KiB/MiB/GiB)
 *   BENCH_MULTIPART_BYTES=256M npm run bench  a smaller file for (f), likewise
 *   BENCH_SOAK_SECONDS=20 npm run bench    a shorter soak (e) than 60 s; also BENCH_SOAK_WORKERS (8),
 *                                          BENCH_SOAK_SEED (1)
 *   BENCH_THUMB_MISSES=10 npm run bench    fewer thumbnail misses per format for (g) than 200; also
 *                                          BENCH_THUMB_HITS (200), BENCH_THUMB_ROUNDS (3),
 *                                          BENCH_THUMB_WARMUP (4000)
 *   BENCH_SMALL_CALLS=200 npm run bench    fewer measured calls per operation for (j) than 1000
 *   npm run bench -- --out /tmp/bench.md   write the report elsewhere
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { runBundles } from './bundles';
import { runConcurrentQuota } from './concurrent-quota';
import { runHandlerLatency } from './handler-latency';
import { runLargeFile } from './large-file';
import { repoRoot } from './local-server';
import { machineInfo, machineRows } from './machine';
import { runMultipartUpload } from './multipart-upload';
import { type Benchmark, type BenchResult, crashed, fmtBytes, metMark, table } from './report';
import { runSoak } from './soak';

function parseSize(name: string): number | undefined {
  const text = process.env[name];
  if (!text) return undefined;
  const m = /^(\d+)\s*([KMG]?)(i?B)?$/i.exec(text.trim());
  if (!m) throw new Error(`${name} must be a number of bytes, optionally with K, M or G: ${text}`);
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[
    (m[2] ?? '').toUpperCase() as '' | 'K' | 'M' | 'G'
  ];
  const n = Number(m[1]) * unit;
  if (n <= 0) throw new Error(`${name} must be more than 0`);
  return n;
}

function positiveInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1)
    throw new Error(`${name} must be a whole number, 1 or more: ${text}`);
  return Number(text);
}

function parseArgs(argv: string[]): { only?: Set<string>; out: string } {
  let only: Set<string> | undefined;
  let out = join(repoRoot, 'BENCHMARKS.md');
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const [name, inline] = arg.split('=', 2) as [string, string | undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (!v) throw new Error(`${name} needs a value`);
      return v;
    };
    if (name === '--only') {
      only = new Set(
        value()
          .split(',')
          .map((s) => s.trim().toLowerCase())
          .filter(Boolean),
      );
    } else if (name === '--out') out = resolve(value());
    else throw new Error(`unknown argument ${arg} (use --only a,b,c and --out FILE)`);
  }
  return { only, out };
}

const { only, out } = parseArgs(process.argv.slice(2));
const largeBytes = parseSize('BENCH_LARGE_BYTES') ?? 1024 ** 3;
const multipartBytes = parseSize('BENCH_MULTIPART_BYTES') ?? 1024 ** 3;
const soak = {
  seconds: positiveInt('BENCH_SOAK_SECONDS', 60),
  workers: positiveInt('BENCH_SOAK_WORKERS', 8),
  seed: positiveInt('BENCH_SOAK_SEED', 1),
};
const THUMB_DEFAULTS = { misses: 200, hits: 200, rounds: 3, warmup: 4000 };
const thumbs = {
  misses: positiveInt('BENCH_THUMB_MISSES', THUMB_DEFAULTS.misses),
  hits: positiveInt('BENCH_THUMB_HITS', THUMB_DEFAULTS.hits),
  rounds: positiveInt('BENCH_THUMB_ROUNDS', THUMB_DEFAULTS.rounds),
  warmup: positiveInt('BENCH_THUMB_WARMUP', THUMB_DEFAULTS.warmup),
};

const benchmarks: Benchmark[] = [
  { id: 'a', title: 'get-file-record handler vs raw GetItem', run: () => runHandlerLatency() },
  {
    id: 'b',
    title: `${fmtBytes(largeBytes)} upload/download via the local server vs raw fs copy`,
    run: () => runLargeFile({ bytes: largeBytes }),
  },
  { id: 'c', title: '200 concurrent 1 KiB uploads, 100 KiB quota', run: () => runConcurrentQuota() },
  // Lambda bundles (bench/bundles.ts, owned by the infrastructure work). More benchmarks go here:
  // one entry each, whose run() returns a BenchResult (bench/report.ts).
  { id: 'd', title: 'Lambda bundle sizes and import times', run: () => runBundles({ id: 'd' }) },
  {
    id: 'e',
    title: `soak: ${soak.seconds} s of mixed operations by ${soak.workers} workers against the local server, with a client-side model`,
    run: () => runSoak(soak),
  },
  {
    id: 'f',
    title: `${fmtBytes(multipartBytes)} multipart direct upload through the S3 emulator vs lib-storage`,
    run: () => runMultipartUpload({ bytes: multipartBytes }),
  },
  {
    id: 'g',
    title:
      'thumbnails of a 4000x3000 JPEG and PNG: HTTP miss vs bare sharp, hit vs miss, RSS with 8 concurrent misses',
    // Imported when it runs: it loads sharp (libvips) into this process, which the others do not need.
    run: async () => (await import('./thumbnails')).runThumbnails(thumbs),
  },
  {
    id: 'h',
    title: 'the sweeper: expired files per second, batched vs per item',
    run: async () =>
      (await import('./sweeper')).runSweeper({ files: positiveInt('BENCH_SWEEP_FILES', 2000) }),
  },
  {
    id: 'i',
    title: 'a hot tenant: uploads at once on one quota counter and on 8 shards',
    run: async () =>
      (await import('./hot-tenant')).runHotTenant({ uploads: positiveInt('BENCH_HOT_UPLOADS', 500) }),
  },
  {
    id: 'j',
    title: 'small requests: upload, download, getObject, list 1000 and sign vs their raw calls',
    run: async () =>
      (await import('./small-requests')).runSmallRequests({
        iterations: positiveInt('BENCH_SMALL_CALLS', 1000),
      }),
  },
];

const unknown = [...(only ?? [])].filter((id) => !benchmarks.some((b) => b.id === id));
if (unknown.length) {
  console.error(`unknown benchmark ${unknown.join(', ')}; known: ${benchmarks.map((b) => b.id).join(', ')}`);
  process.exit(2);
}
const selected = benchmarks.filter((b) => !only || only.has(b.id));

const startedAt = new Date();
const machine = machineInfo();
console.log(`Benchmarks ${selected.map((b) => b.id).join(', ')} on ${machine.cpuModel} x${machine.cores}`);

const results: BenchResult[] = [];
for (const bench of selected) {
  console.log(`\n(${bench.id}) ${bench.title} ...`);
  const t0 = performance.now();
  let result: BenchResult;
  try {
    result = await bench.run();
  } catch (e) {
    result = crashed(bench, e, performance.now() - t0);
  }
  results.push(result);
  for (const row of result.rows) {
    const goal = row.goal ? `  (goal ${row.goal}: ${row.met ? 'met' : 'NOT met'})` : '';
    console.log(`  ${row.metric}: ${row.value}${goal}`);
  }
  for (const f of result.failures) console.log(`  FAILURE: ${f}`);
  console.log(`  (${(result.elapsedMs / 1000).toFixed(1)} s)`);
}

const reduced = [
  only ? `only ${[...only].join(', ')}` : undefined,
  selected.some((b) => b.id === 'b') && largeBytes !== 1024 ** 3
    ? `BENCH_LARGE_BYTES=${largeBytes} (${fmtBytes(largeBytes)} instead of 1 GiB)`
    : undefined,
  selected.some((b) => b.id === 'f') && multipartBytes !== 1024 ** 3
    ? `BENCH_MULTIPART_BYTES=${multipartBytes} (${fmtBytes(multipartBytes)} instead of 1 GiB)`
    : undefined,
  selected.some((b) => b.id === 'e') && soak.seconds !== 60
    ? `BENCH_SOAK_SECONDS=${soak.seconds} (instead of 60)`
    : undefined,
  selected.some((b) => b.id === 'e') && soak.workers !== 8
    ? `BENCH_SOAK_WORKERS=${soak.workers} (instead of 8)`
    : undefined,
  ...(['misses', 'hits', 'rounds', 'warmup'] as const).map((k) =>
    selected.some((b) => b.id === 'g') && thumbs[k] !== THUMB_DEFAULTS[k]
      ? `BENCH_THUMB_${k.toUpperCase()}=${thumbs[k]} (instead of ${THUMB_DEFAULTS[k]})`
      : undefined,
  ),
].filter(Boolean);
const totalSeconds = (Date.now() - startedAt.getTime()) / 1000;
const loadAtEnd = os.loadavg();

const report = [
  '# Benchmarks',
  '',
  `Written by \`npm run bench\` on ${startedAt.toISOString()} (${totalSeconds.toFixed(0)} s).` +
    (reduced.length ? ` **Reduced run:** ${reduced.join('; ')}.` : ''),
  '',
  '## Machine',
  '',
  table(['', ''], machineRows(machine, loadAtEnd)),
  '',
  '## Summary',
  '',
  table(
    ['', 'metric', 'result', 'goal', 'met'],
    results.flatMap((r) =>
      r.rows.map((row, i) => [
        i === 0 ? `(${r.id})` : '',
        row.metric,
        row.value,
        row.goal ?? '',
        metMark(row.met),
      ]),
    ),
  ),
  '',
  results.some((r) => r.failures.length)
    ? `**Correctness failures:**\n\n${results.flatMap((r) => r.failures.map((f) => `- (${r.id}) ${f}`)).join('\n')}`
    : 'No correctness failures.',
  '',
  ...results.flatMap((r) => [`## (${r.id}) ${r.title}`, '', r.details, '']),
  '## Running',
  '',
  '```sh',
  'npm run bench                          # all, 1 GiB for (b); writes BENCHMARKS.md',
  'npm run bench -- --only a,c            # some of them (a to j)',
  'BENCH_LARGE_BYTES=256M npm run bench   # a smaller file for (b)',
  'BENCH_MULTIPART_BYTES=256M npm run bench  # a smaller file for (f)',
  'BENCH_SOAK_SECONDS=20 npm run bench    # a shorter soak (e); BENCH_SOAK_WORKERS, BENCH_SOAK_SEED',
  'BENCH_THUMB_MISSES=10 npm run bench    # fewer thumbnail misses (g); BENCH_THUMB_HITS, BENCH_THUMB_ROUNDS, BENCH_THUMB_WARMUP',
  'BENCH_SMALL_CALLS=200 npm run bench    # fewer measured calls per operation (j) than 1000',
  'npm run bench -- --out /tmp/bench.md   # write the report elsewhere',
  '```',
  '',
  'Needs Java 17+ (DynamoDB Local) and about 4x the (b) or (f) file size free in the temp folder; ' +
    'everything it starts and writes is removed at the end. Exit code 1 means a correctness failure, ' +
    'not a missed goal.',
  '',
].join('\n');

writeFileSync(out, report);
console.log(`\nWrote ${out}`);
const failed = results.some((r) => r.failures.length > 0);
if (failed) console.error('Correctness failures: see above.');
process.exit(failed ? 1 : 0);
