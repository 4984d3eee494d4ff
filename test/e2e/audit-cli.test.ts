import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer } from '../helpers/local-server';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** `npm run --silent audit -- ...args` with the server's DATA_DIR and PORT; its exit code and output. */
function audit(env: Record<string, string>, ...args: string[]) {
  return new Promise<{ code: number; out: string }>((resolve) => {
    execFile(
      'npm',
      ['run', '--silent', 'audit', '--', ...args],
      { env: { ...process.env, ...env }, timeout: 120_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
      },
    );
  });
}

describe('npm run audit', () => {
  it('reports damage through the running server, repairs it with --repair, and runs without a server too', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'storage-audit-'));
    dirs.push(dataDir);
    const server = await startServer(dataDir, { SWEEP_INTERVAL: '0' });
    const env = { DATA_DIR: dataDir, PORT: String(server.port) };
    try {
      const token = await server.token('audited');
      const put = await fetch(`${server.url}/v1/objects/kept.txt`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' },
        body: 'kept',
      });
      expect(put.status).toBe(201);
      // An object nothing refers to, written behind the service's back an hour ago.
      const orphan = join(dataDir, 'objects', 'audited', 'ab', `${'ab'.repeat(16)}.bin`);
      mkdirSync(dirname(orphan), { recursive: true });
      writeFileSync(orphan, 'orphan');
      const hourAgo = new Date(Date.now() - 3600_000);
      utimesSync(orphan, hourAgo, hourAgo);

      const report = await audit(env, '--tenant', 'audited');
      expect(report.code).toBe(1);
      expect(report.out).toContain('1 finding(s)');
      expect(report.out).toContain(
        `orphan-object audited storages.Default audited/ab/${'ab'.repeat(16)}.bin`,
      );
      expect(existsSync(orphan)).toBe(true);

      const repair = await audit(env, '--tenant', 'audited', '--repair');
      expect(repair.code).toBe(0);
      expect(repair.out).toContain('[repaired]');
      expect(existsSync(orphan)).toBe(false);
      expect((await audit(env, '--tenant', 'audited')).out).toContain('0 finding(s)');

      const download = await fetch(`${server.url}/v1/objects/kept.txt`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(await download.text()).toBe('kept');
    } finally {
      await server.stop();
    }
    // No server: the audit starts the runtime on the same DATA_DIR for itself, and stops it.
    const alone = await audit(env);
    expect(alone.code).toBe(0);
    expect(alone.out).toMatch(/Audited \d+ tenant\(s\): 0 finding\(s\)/);
  });
});
