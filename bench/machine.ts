import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { basename } from 'node:path';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  cpuMHz?: number;
  ramBytes: number;
  node: string;
  os: string;
  /** 1, 5 and 15 minute load averages when the run started: other work on the machine skews the numbers. */
  loadAverage: number[];
  /** Java that runs DynamoDB Local. */
  java?: string;
  /** Where the benchmarks write: the folder, its file system and device. */
  disk: {
    dir: string;
    device?: string;
    fsType?: string;
    sizeBytes?: number;
    availBytes?: number;
    rotational?: boolean;
  };
}

function run(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}

/** `java -version` writes to stderr. */
const javaVersion = () => run('sh', ['-c', 'java -version 2>&1'])?.split('\n')[0]?.trim() || undefined;

/** The file system of `dir` as `df -PT` reports it, and whether its disk spins. */
function diskOf(dir: string): MachineInfo['disk'] {
  const disk: MachineInfo['disk'] = { dir };
  const lines = run('df', ['-PT', '-B1', dir])?.trim().split('\n');
  const cells = lines?.[1]?.split(/\s+/);
  if (cells && cells.length >= 7) {
    disk.device = cells[0];
    disk.fsType = cells[1];
    disk.sizeBytes = Number(cells[2]);
    disk.availBytes = Number(cells[4]);
    const dev = basename(cells[0] ?? '');
    for (const name of [dev, dev.replace(/p?\d+$/, '')]) {
      try {
        disk.rotational = readFileSync(`/sys/block/${name}/queue/rotational`, 'utf8').trim() === '1';
        break;
      } catch {
        // not a block device name; try the parent disk
      }
    }
  }
  return disk;
}

function osName(): string {
  try {
    const pretty = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1];
    if (pretty) return `${pretty}, ${os.type()} ${os.release()} ${os.arch()}`;
  } catch {
    // not Linux
  }
  return `${os.type()} ${os.release()} ${os.arch()}`;
}

export function machineInfo(dir = os.tmpdir()): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() || 'unknown',
    cores: os.availableParallelism?.() ?? cpus.length,
    cpuMHz: cpus[0]?.speed || undefined,
    ramBytes: os.totalmem(),
    node: process.version,
    os: osName(),
    loadAverage: os.loadavg(),
    java: javaVersion(),
    disk: diskOf(dir),
  };
}

const gib = (n: number) => `${(n / 1024 ** 3).toFixed(1)} GiB`;

export const fmtLoad = (load: number[]) => load.map((l) => l.toFixed(2)).join(' / ');

export function machineRows(m: MachineInfo, loadAtEnd?: number[]): string[][] {
  const d = m.disk;
  const diskParts = [
    d.device && d.fsType ? `${d.fsType} on ${d.device}` : 'unknown',
    d.rotational === undefined ? undefined : `rotational flag ${d.rotational ? 1 : 0}`,
    d.sizeBytes ? `${gib(d.sizeBytes)} (${gib(d.availBytes ?? 0)} free)` : undefined,
    `temp dir ${d.dir}`,
  ].filter(Boolean);
  return [
    ['CPU', `${m.cpuModel}${m.cpuMHz ? ` @ ${m.cpuMHz} MHz` : ''}`],
    ['Cores', String(m.cores)],
    ['RAM', gib(m.ramBytes)],
    ['Node.js', m.node],
    ['OS', m.os],
    ['Java (DynamoDB Local)', m.java ?? 'not found'],
    ['Disk / fs', diskParts.join(', ')],
    [
      'Load average (1/5/15 min)',
      `${fmtLoad(m.loadAverage)} at start${loadAtEnd ? `, ${fmtLoad(loadAtEnd)} at end` : ''}`,
    ],
  ];
}
