import type { PathLike } from 'node:fs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LocalDiskBackend } from '../../shared/backends/local-disk';

/** The real file system in a temp folder, seen through a hook: which folders readdir reads. */
const fsHooks = vi.hoisted(() => ({ folders: [] as string[] }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  const readdir = (path: PathLike, ...rest: unknown[]) => {
    fsHooks.folders.push(String(path));
    return (actual.readdir as (...args: unknown[]) => unknown)(path, ...rest);
  };
  return { ...actual, default: { ...actual, readdir }, readdir };
});

describe('local-disk list reads only the folder its prefix names', () => {
  const root = mkdtempSync(join(tmpdir(), 'local-list-'));
  const backend = new LocalDiskBackend({ name: 'storages.Default', root, signingSecret: 's'.repeat(32) });
  const readBelow = () => fsHooks.folders.map((f) => relative(root, f).split(sep).join('/'));

  beforeAll(async () => {
    for (const key of ['t1/ab/x.txt', 't1/ab.txt', 't1/b/y.txt', 't2/z.txt', '_staging/t1/u1.bin']) {
      await backend.put(key, Buffer.from(key), { contentType: 'text/plain' });
    }
    writeFileSync(join(root, '.tmp', 'left-over-upload'), 'partial');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('a tenant folder: its own files, nothing of the root or of other tenants', async () => {
    fsHooks.folders.length = 0;
    const { items } = await backend.list('t1/');
    expect(items.map((i) => i.key)).toEqual(['t1/ab.txt', 't1/ab/x.txt', 't1/b/y.txt']);
    expect(readBelow()).toContain('t1');
    expect(readBelow().filter((f) => f !== 't1' && !f.startsWith('t1/'))).toEqual([]);
  });

  it('a prefix that ends inside a name reads only the entries that start with it', async () => {
    fsHooks.folders.length = 0;
    expect((await backend.list('t1/a')).items.map((i) => i.key)).toEqual(['t1/ab.txt', 't1/ab/x.txt']);
    expect(readBelow()).toContain('t1');
    expect(readBelow().filter((f) => f !== 't1' && !f.startsWith('t1/ab'))).toEqual([]);
  });

  it('the staging folder, and the whole root without the temp folder', async () => {
    fsHooks.folders.length = 0;
    expect((await backend.list('_staging/')).items.map((i) => i.key)).toEqual(['_staging/t1/u1.bin']);
    expect(readBelow()).toContain('_staging');
    expect(readBelow().filter((f) => !f.startsWith('_staging'))).toEqual([]);
    expect((await backend.list('')).items.map((i) => i.key)).toEqual([
      '_staging/t1/u1.bin',
      't1/ab.txt',
      't1/ab/x.txt',
      't1/b/y.txt',
      't2/z.txt',
    ]);
  });
});
