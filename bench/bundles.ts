/**
 * Lambda bundle benchmark: for every function, the size of its bundle and the time a fresh Node
 * process takes to import it, next to a minimal bundle that uses the same AWS SDK clients directly
 * (a raw GetItem handler; + S3 presign, + GetSecretValue when the function bundles those clients),
 * all built with the deploy settings of infra/bundling.ts. Goal: each within 1.15x of its baseline.
 *
 *   npx tsx bench/bundles.ts         prints the Markdown table
 *   import { runBundles } ...        one entry of `npm run bench` (returns a BenchResult)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Metafile } from 'esbuild';
import {
  buildFunctionAsset,
  esbuildOptions,
  functionEntry,
  lambdaFunctions,
  projectRoot,
} from '../infra/bundling';

/** Structurally the BenchResult of bench/report.ts, so bench/run.ts can list this benchmark. */
export interface BundleBenchResult {
  id: string;
  title: string;
  rows: { metric: string; value: string; goal?: string; met?: boolean }[];
  failures: string[];
  details: string;
  elapsedMs: number;
}

export interface BundleMeasurement {
  name: string;
  clients: string[];
  /** What a cold start reads: the entry file plus any files it imports statically (transitively). */
  bytes: number;
  /** The whole asset: entry file and the lazy-*.mjs files of its dynamic imports (no source maps). */
  assetBytes: number;
  /** Median of the fresh-process import times. */
  importMs: number;
}

const GOAL = 1.15;
const TITLE = 'Lambda bundles: size and fresh-process import time vs minimal SDK bundles';

/** The AWS SDK clients a baseline can use, and the minimal code that uses each. */
const CLIENTS = {
  dynamodb: {
    pkg: '@aws-sdk/client-dynamodb',
    imports: "import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';",
    code: `const ddb = (clients.ddb ??= new DynamoDBClient({}));
  const item = await ddb.send(new GetItemCommand({ TableName: process.env.TABLE_NAME, Key: { pk: { S: event.pk }, sk: { S: event.sk } } }));`,
  },
  s3: {
    pkg: '@aws-sdk/client-s3',
    imports:
      "import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';\nimport { getSignedUrl } from '@aws-sdk/s3-request-presigner';",
    code: `const s3 = (clients.s3 ??= new S3Client({}));
  const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: process.env.BUCKET, Key: event.key }), { expiresIn: 300 });`,
  },
  secrets: {
    pkg: '@aws-sdk/client-secrets-manager',
    imports: "import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';",
    code: `const sm = (clients.sm ??= new SecretsManagerClient({}));
  const secret = await sm.send(new GetSecretValueCommand({ SecretId: process.env.SIGNING_SECRET_ARN }));`,
  },
} as const;
type Client = keyof typeof CLIENTS;

/**
 * A minimal handler using exactly these clients, written the way one would by hand. Clients are
 * created on first use, as the service's own functions do, so import times compare code loading.
 */
function baselineSource(clients: Client[]): string {
  return [
    ...clients.map((c) => CLIENTS[c].imports),
    'const clients = {};',
    'export const handler = async (event) => {',
    ...clients.map((c) => `  ${CLIENTS[c].code}`),
    `  return { statusCode: 200, body: JSON.stringify([${clients.map((c) => ({ dynamodb: 'item.Item', s3: 'url', secrets: 'secret.Name' })[c]).join(', ')}]) };`,
    '};',
  ].join('\n');
}

/**
 * The output files a cold start loads: the entry file and, transitively, the files it imports
 * with static `import` statements (the lazy files, reached only through `import()`, load on first use).
 */
function coldStartOutputs(metafile: Metafile, entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const i of metafile.outputs[file]?.imports ?? []) {
      if (i.kind === 'import-statement' && !i.external && metafile.outputs[i.path]) visit(i.path);
    }
  };
  visit(entry);
  return [...seen];
}

/** Which of the baseline clients a cold start loads, from esbuild's metafile. */
function clientsIn(metafile: Metafile, outputs: string[]): Client[] {
  const inputs = outputs.flatMap((o) => Object.keys(metafile.outputs[o]?.inputs ?? {}));
  return (Object.keys(CLIENTS) as Client[]).filter((c) =>
    inputs.some((i) => i.includes(`node_modules/${CLIENTS[c].pkg}/`)),
  );
}

/** Sizes of a build's output files (source maps left out), cold-start set and whole asset. */
function sizesOf(metafile: Metafile) {
  const js = Object.keys(metafile.outputs).filter((o) => !o.endsWith('.map'));
  const entry = js.find((o) => o === 'index.mjs' || o.endsWith('/index.mjs'));
  if (!entry) throw new Error('no entry file in the build output');
  const cold = coldStartOutputs(metafile, entry);
  const bytesOf = (files: string[]) => files.reduce((sum, o) => sum + (metafile.outputs[o]?.bytes ?? 0), 0);
  return { cold, bytes: bytesOf(cold), assetBytes: bytesOf(js), files: js.length };
}

async function buildFunction(fn: string, outdir: string) {
  const metafile = await buildFunctionAsset(functionEntry(fn), outdir);
  const sizes = sizesOf(metafile);
  return { file: join(outdir, 'index.mjs'), clients: clientsIn(metafile, sizes.cold), ...sizes };
}

async function buildBaseline(clients: Client[], outdir: string) {
  // One file: what the SDK itself loads with import() (credential providers) is inlined, as in a
  // hand-made esbuild bundle; the functions get lazy files for it (not read at cold start).
  const { outdir: _, outExtension: __, plugins: ___, ...options } = esbuildOptions('unused', outdir);
  const result = await build({
    ...options,
    outfile: join(outdir, 'index.mjs'),
    metafile: true,
    entryPoints: undefined,
    stdin: {
      contents: baselineSource(clients),
      resolveDir: projectRoot,
      sourcefile: 'baseline.mjs',
      loader: 'js',
    },
  });
  return { file: join(outdir, 'index.mjs'), ...sizesOf(result.metafile) };
}

/** Time for a new Node process, with the Lambda's NODE_OPTIONS, to import one bundle. */
function importOnce(file: string): number {
  const script = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); process.stdout.write(String(performance.now() - t));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { PATH: process.env.PATH ?? '', NODE_OPTIONS: '--enable-source-maps', AWS_REGION: 'us-east-1' },
    encoding: 'utf8',
  });
  return Number(out);
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};
const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;
const ratio = (r: number) => `${r.toFixed(2)}x`;
const clientLabel = (clients: string[]) => (clients.length ? clients.join(' + ') : 'none');

export async function runBundles(options: { id?: string; runs?: number } = {}): Promise<BundleBenchResult> {
  const started = performance.now();
  const runs = options.runs ?? 9;
  const work = mkdtempSync(join(tmpdir(), 'storage-bench-bundles-'));
  const failures: string[] = [];
  try {
    const functions: (BundleMeasurement & { file: string; files: number })[] = [];
    for (const fn of lambdaFunctions) {
      const { file, clients, bytes, assetBytes, files } = await buildFunction(
        fn,
        join(work, 'functions', fn),
      );
      functions.push({ name: fn, clients, file, bytes, assetBytes, files, importMs: 0 });
    }
    // One baseline per set of clients found in the functions, plus the two of the issue.
    const sets = new Map<string, Client[]>();
    for (const set of [['dynamodb'], ['dynamodb', 's3'], ...functions.map((f) => f.clients)] as Client[][]) {
      const withDb = [...new Set<Client>(['dynamodb', ...set])];
      sets.set(withDb.join('+'), withDb);
    }
    const baselines = new Map<string, BundleMeasurement & { file: string }>();
    for (const [key, clients] of sets) {
      const dir = join(work, 'baselines', key);
      mkdirSync(dir, { recursive: true });
      const { file, bytes, assetBytes } = await buildBaseline(clients, dir);
      baselines.set(key, {
        name: `minimal ${clientLabel(clients)}`,
        clients,
        file,
        bytes,
        assetBytes,
        importMs: 0,
      });
    }
    // Round after round over all bundles, so a busy moment of the machine spreads over all of them
    // instead of skewing the ones measured at that time.
    const measured = [...baselines.values(), ...functions];
    const times = new Map<string, number[]>(measured.map((m) => [m.file, []]));
    for (let round = 0; round < runs; round++) {
      for (const m of measured) {
        if (Number.isNaN(m.importMs)) continue;
        try {
          times.get(m.file)?.push(importOnce(m.file));
        } catch (e) {
          failures.push(
            `${m.name}: the bundle does not import in a fresh process (${(e as Error).message.split('\n')[0]})`,
          );
          m.importMs = Number.NaN;
        }
      }
    }
    for (const m of measured) if (!Number.isNaN(m.importMs)) m.importMs = median(times.get(m.file) ?? []);

    const rows: string[][] = [];
    let sizeMet = 0;
    let timeMet = 0;
    let worstSize = 0;
    let worstTime = 0;
    for (const f of functions) {
      const base = baselines.get([...new Set<Client>(['dynamodb', ...(f.clients as Client[])])].join('+'));
      if (!base) throw new Error(`no baseline for ${f.name}`);
      const sizeRatio = f.bytes / base.bytes;
      const timeRatio = f.importMs / base.importMs;
      if (sizeRatio <= GOAL) sizeMet++;
      if (timeRatio <= GOAL) timeMet++;
      worstSize = Math.max(worstSize, sizeRatio);
      worstTime = Math.max(worstTime, timeRatio);
      rows.push([
        f.name,
        clientLabel(f.clients),
        kb(f.bytes),
        ratio(sizeRatio),
        `${kb(f.assetBytes)} (${f.files} files)`,
        `${f.importMs.toFixed(0)} ms`,
        ratio(timeRatio),
        sizeRatio <= GOAL && timeRatio <= GOAL ? 'yes' : '**no**',
      ]);
    }
    const baselineRows = [...baselines.values()].map((b) => [
      b.name,
      kb(b.bytes),
      `${b.importMs.toFixed(0)} ms`,
    ]);
    const table = (header: string[], body: string[][]) =>
      [header, header.map(() => '---'), ...body].map((r) => `| ${r.join(' | ')} |`).join('\n');
    const details = [
      `Every bundle is built with infra/bundling.ts (minified ESM in one file, source maps, target`,
      `node22, AWS SDK bundled), the settings CDK deploys with. Cold-start size: index.mjs (what a`,
      'cold start loads; source maps left out); asset: every file Lambda gets, the self-contained',
      'lazy-*.mjs files of the dynamic imports (adapters, EventBridge, Secrets Manager) included.',
      `Import time: median of ${runs} fresh \`node\` processes`,
      `importing the bundle (NODE_OPTIONS=--enable-source-maps, as in Lambda), on this machine's Node`,
      `${process.version}. Each function is compared with the minimal bundle that uses the same AWS SDK`,
      'clients directly (clients created on first use in both, so import times compare code loading).',
      '',
      table(['minimal bundle', 'size', 'import'], baselineRows),
      '',
      table(
        [
          'function',
          'clients',
          'cold-start size',
          'size ratio',
          'asset',
          'import',
          'import ratio',
          `within ${GOAL}x`,
        ],
        rows,
      ),
    ].join('\n');
    return {
      id: options.id ?? 'd',
      title: TITLE,
      rows: [
        {
          metric: 'bundles within 1.15x in size',
          value: `${sizeMet} / ${functions.length}`,
          goal: `all`,
          met: sizeMet === functions.length,
        },
        {
          metric: 'largest size ratio',
          value: ratio(worstSize),
          goal: `<= ${GOAL}x`,
          met: worstSize <= GOAL,
        },
        {
          metric: 'bundles within 1.15x in import time',
          value: `${timeMet} / ${functions.length}`,
          goal: 'all',
          met: timeMet === functions.length,
        },
        {
          metric: 'largest import-time ratio',
          value: ratio(worstTime),
          goal: `<= ${GOAL}x`,
          met: worstTime <= GOAL,
        },
      ],
      failures,
      details,
      elapsedMs: performance.now() - started,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runBundles();
  const summary = result.rows.map(
    (r) => `- ${r.metric}: ${r.value} (goal ${r.goal}: ${r.met ? 'met' : 'NOT met'})`,
  );
  process.stdout.write(`## ${result.title}\n\n${summary.join('\n')}\n\n${result.details}\n`);
  for (const f of result.failures) console.error(`FAILURE: ${f}`);
  process.exit(result.failures.length ? 1 : 0);
}
