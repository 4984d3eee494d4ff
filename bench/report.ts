import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What every benchmark hands back to bench/run.ts, and small helpers to format it. */

export interface SummaryRow {
  metric: string;
  value: string;
  /** The goal as written in the issue, e.g. "<= 1.2x"; absent for informational rows. */
  goal?: string;
  /** Whether the goal was met; absent for informational rows. */
  met?: boolean;
}

export interface BenchResult {
  /** The letter of the benchmark in issue 2 point 11 (a, b, c, ...). */
  id: string;
  title: string;
  /** One line per metric for the summary table of BENCHMARKS.md. */
  rows: SummaryRow[];
  /** Correctness failures (wrong counts, wrong status codes, errors): any makes `npm run bench` exit 1. */
  failures: string[];
  /** Markdown for the benchmark's own section: method and full numbers. */
  details: string;
  elapsedMs: number;
}

/** A benchmark as run.ts sees it. `run` must never leave processes or temp files behind. */
export interface Benchmark {
  id: string;
  title: string;
  run(): Promise<BenchResult>;
}

/** Which sample (1-based, ascending) the nearest-rank percentile p of `count` samples is. */
export const nearestRank = (count: number, p: number) =>
  Math.min(count, Math.max(1, Math.ceil((p / 100) * count)));

/** Nearest-rank percentile of an ascending-sorted array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[nearestRank(sorted.length, p) - 1] as number;
}

export const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;

export const fmtMs = (ms: number) => `${ms.toFixed(ms < 10 ? 3 : 1)} ms`;
export const fmtRatio = (r: number) => `${r.toFixed(2)}x`;
export const fmtMBps = (bytesPerSecond: number) => `${(bytesPerSecond / 1e6).toFixed(0)} MB/s`;
export const fmtMB = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

export function fmtBytes(bytes: number): string {
  if (bytes >= 1024 ** 3 && bytes % 1024 ** 3 === 0) return `${bytes / 1024 ** 3} GiB`;
  if (bytes >= 1024 ** 2 && bytes % 1024 ** 2 === 0) return `${bytes / 1024 ** 2} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

/** A Markdown table. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export const metMark = (met: boolean | undefined) => (met === undefined ? '' : met ? 'yes' : '**no**');

/** The result of a benchmark that threw before it could report anything else. */
export function crashed(
  bench: Pick<Benchmark, 'id' | 'title'>,
  error: unknown,
  elapsedMs: number,
): BenchResult {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return {
    id: bench.id,
    title: bench.title,
    rows: [{ metric: 'run', value: 'crashed', goal: 'completes', met: false }],
    failures: [`benchmark crashed: ${error instanceof Error ? error.message : String(error)}`],
    details: `The benchmark crashed:\n\n\`\`\`\n${message}\n\`\`\``,
    elapsedMs,
  };
}

const tempDirs = new Set<string>();
let signalsHooked = false;

/**
 * A temp folder that is removed by `remove()`, and also when the run is interrupted (Ctrl-C), so an
 * aborted run of (b) does not leave gigabytes behind.
 */
export function benchTempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(path);
  if (!signalsHooked) {
    signalsHooked = true;
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
        process.exit(130);
      });
    }
  }
  return {
    path,
    remove() {
      rmSync(path, { recursive: true, force: true });
      tempDirs.delete(path);
    },
  };
}
