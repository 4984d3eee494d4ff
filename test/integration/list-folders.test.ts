import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disableFaults, recordFailpoints, stopRecording } from '../../shared/faults';
import { resetDb } from '../../shared/metadata/client';
import { listFiles } from '../../shared/service/list';
import { principal, setupTestEnv, type TestEnv } from '../helpers/env';
import { failure, upload } from '../helpers/service-helpers';

/**
 * Folder listings (`delimiter=/`) against DynamoDB Local: every page chained by its cursor gives,
 * exactly once and in path order, what a model computed from the plain list of paths says (the
 * model shares no code with the service), and a large sub-folder is skipped, not read.
 */
let env: TestEnv;
const T = 'folders';
const who = principal(T);

beforeAll(async () => {
  env = await setupTestEnv();
});
afterAll(async () => {
  await env?.cleanup();
});

/** What a folder listing must answer: files right under the prefix, and the first-level sub-folders. */
function model(paths: string[], prefix: string) {
  const bytes = (s: string) => Buffer.from(s);
  const order = (a: string, b: string) => Buffer.compare(bytes(a), bytes(b));
  const items = new Set<string>();
  const prefixes = new Set<string>();
  for (const p of paths) {
    if (!p.startsWith(prefix)) continue;
    const rest = p.slice(prefix.length);
    const slash = rest.indexOf('/');
    if (slash < 0) items.add(p);
    else prefixes.add(prefix + rest.slice(0, slash + 1));
  }
  return { items: [...items].sort(order), prefixes: [...prefixes].sort(order) };
}

async function listAll(prefix: string, limit: number) {
  const items: string[] = [];
  const prefixes: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await listFiles({ tenant: T, prefix, delimiter: '/', cursor, limit });
    expect(page.items.length + (page.prefixes?.length ?? 0)).toBeLessThanOrEqual(limit);
    items.push(...page.items.map((r) => r.path));
    prefixes.push(...(page.prefixes ?? []));
    cursor = page.cursor ?? undefined;
    pages++;
    expect(pages).toBeLessThan(200);
  } while (cursor);
  return { items, prefixes };
}

describe('folder listings (delimiter=/)', () => {
  const paths = [
    'a.txt',
    'b.txt',
    'b/1.txt',
    'b/2.txt',
    'b/c/3.txt',
    'b0.txt',
    'c.txt',
    'd/4.txt',
    'd/e/f/5.txt',
    'é/6.txt',
    'z.txt',
  ];

  beforeAll(async () => {
    for (const p of paths) await upload(who, p, p);
  });

  it('the root and a sub-folder, in one page and in pages of every size', async () => {
    const root = await listFiles({ tenant: T, delimiter: '/', limit: 100 });
    expect({ items: root.items.map((r) => r.path), prefixes: root.prefixes }).toEqual(model(paths, ''));
    expect(root.cursor).toBeNull();
    for (const prefix of ['', 'b/', 'd/', 'd/e/', 'b', 'nothing/']) {
      for (const limit of [1, 2, 3, 7]) {
        expect(await listAll(prefix, limit), `${prefix} by ${limit}`).toEqual(model(paths, prefix));
      }
    }
  });

  it('a random tree, against the model', async () => {
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    const names = ['x', 'y', 'x.y', 'x0', 'x-', 'ü'];
    const tree = new Set<string>();
    while (tree.size < 60) {
      const depth = 1 + (next() % 3);
      const segments = Array.from({ length: depth }, () => names[next() % names.length] as string);
      tree.add(`r/${segments.join('/')}.bin`);
    }
    for (const p of tree) await upload(who, p, 'x');
    const all = [...tree, ...paths];
    for (const prefix of ['r/', 'r/x/', 'r/x0/', 'r/y/x/']) {
      for (const limit of [1, 4, 100]) {
        expect(await listAll(prefix, limit), `${prefix} by ${limit}`).toEqual(model(all, prefix));
      }
    }
  });

  it('skips a large sub-folder in one query instead of reading it', async () => {
    for (let i = 0; i < 250; i++) await upload(who, `big/sub/f${String(i).padStart(3, '0')}.txt`, 'x');
    await upload(who, 'big/after.txt', 'x');
    const recorded = recordFailpoints();
    resetDb();
    try {
      const page = await listFiles({ tenant: T, prefix: 'big/', delimiter: '/', limit: 100 });
      expect({ items: page.items.map((r) => r.path), prefixes: page.prefixes }).toEqual({
        items: ['big/after.txt'],
        prefixes: ['big/sub/'],
      });
      expect(recorded.get('dynamodb.Query')).toBeLessThanOrEqual(3);
    } finally {
      stopRecording();
      disableFaults();
      resetDb();
    }
  });

  it('refuses another delimiter and a cursor of another prefix', async () => {
    expect(await failure(listFiles({ tenant: T, delimiter: ',', limit: 10 }))).toBe('400 INVALID_REQUEST');
    const first = await listFiles({ tenant: T, prefix: 'b/', delimiter: '/', limit: 1 });
    expect(
      await failure(
        listFiles({ tenant: T, prefix: 'd/', delimiter: '/', cursor: first.cursor ?? '', limit: 1 }),
      ),
    ).toBe('400 INVALID_CURSOR');
    // Without a delimiter, the listing is the flat one it always was.
    const flat = await listFiles({ tenant: T, prefix: 'b/', limit: 100 });
    expect(flat.prefixes).toBeUndefined();
    expect(flat.items.map((r) => r.path)).toEqual(['b/1.txt', 'b/2.txt', 'b/c/3.txt']);
  });
});
