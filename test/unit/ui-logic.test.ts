import { describe, expect, it } from 'vitest';
import { StorageApiError } from '../../client/src/index';
import { toUiError } from '../../ui/src/error-messages';
import {
  breadcrumbs,
  folderFromHash,
  folderNameProblem,
  hashOfFolder,
  listFolder,
} from '../../ui/src/folders';
import { formatBytes } from '../../ui/src/format';
import { s256Challenge } from '../../ui/src/pkce';
import type { Attachment, ListPage, StorageClient } from '../../ui/src/sdk';
import { sortFiles } from '../../ui/src/sort';

/** The file browser's logic that needs no browser (the rest is in test/e2e/ui.test.ts). */

const file = (fullName: string, size = 1, uploadTime = '2026-01-01T00:00:00Z') =>
  ({ fullName, name: fullName.split('/').pop(), size, uploadTime }) as Attachment;

/** A client whose list answers the given pages, recording what it was asked. */
function listing(pages: (ListPage & { prefixes?: string[] })[]) {
  const asked: unknown[] = [];
  const client = {
    async *list(options: unknown) {
      asked.push(options);
      yield* pages;
    },
  } as unknown as StorageClient;
  return { client, asked };
}

describe('folders', () => {
  it('lists one folder with the delimiter: its files and subfolders as the service answers them', async () => {
    const { client, asked } = listing([
      { items: [file('docs/a.txt')], prefixes: ['docs/2024/'], cursor: null },
    ]);
    const got = await listFolder(client, 'docs/', new AbortController().signal);
    expect(got).toEqual({ folders: ['docs/2024/'], files: [file('docs/a.txt')], cursor: null });
    expect(asked[0]).toMatchObject({ prefix: 'docs/', delimiter: '/' });
  });

  it('makes the folders from the paths when the service answers without prefixes', async () => {
    const { client } = listing([
      { items: [file('docs/a.txt'), file('docs/2024/b.txt'), file('docs/2024/c/d.txt')], cursor: null },
      { items: [file('docs/2025/e.txt')], cursor: null },
    ]);
    const got = await listFolder(client, 'docs/', new AbortController().signal);
    expect(got.folders).toEqual(['docs/2024/', 'docs/2025/']);
    expect(got.files.map((f) => f.fullName)).toEqual(['docs/a.txt']);
  });

  it('walks breadcrumbs and the address fragment both ways, names included that need escaping', () => {
    expect(breadcrumbs('a/b c/')).toEqual([
      { name: 'All files', prefix: '' },
      { name: 'a', prefix: 'a/' },
      { name: 'b c', prefix: 'a/b c/' },
    ]);
    for (const folder of ['', 'a/', 'a/b c/', '100%/#x/', 'café/日本/']) {
      expect(folderFromHash(hashOfFolder(folder))).toBe(folder);
    }
    expect(folderFromHash('#/%E0%A4%A/')).toBe('');
    expect(folderFromHash('#anything')).toBe('');
  });

  it('refuses the folder names the service would refuse', () => {
    for (const bad of ['', '  ', 'a/b', 'a\\b', '.', '..', 'x\u0001'])
      expect(folderNameProblem(bad)).not.toBeNull();
    for (const good of ['reports', 'Q3 2026', 'café', '...']) expect(folderNameProblem(good)).toBeNull();
  });
});

describe('sorting, sizes, errors, PKCE', () => {
  it('sorts by name (numbers as numbers), size and date, ties by name', () => {
    const files = [
      file('b10.txt', 5, '2026-01-03T00:00:00Z'),
      file('b9.txt', 5, '2026-01-01T00:00:00Z'),
      file('a.txt', 7, '2026-01-02T00:00:00Z'),
    ];
    const names = (key: 'name' | 'size' | 'date', direction: 'asc' | 'desc') =>
      sortFiles(files, { key, direction }).map((f) => f.name);
    expect(names('name', 'asc')).toEqual(['a.txt', 'b9.txt', 'b10.txt']);
    expect(names('size', 'asc')).toEqual(['b9.txt', 'b10.txt', 'a.txt']);
    expect(names('size', 'desc')).toEqual(['a.txt', 'b9.txt', 'b10.txt']);
    expect(names('date', 'desc')).toEqual(['b10.txt', 'a.txt', 'b9.txt']);
  });

  it('formats sizes in binary units', () => {
    expect([0, 1023, 1024, 1536, 20 * 1024 ** 2, 10 * 1024 ** 3, 150 * 1024].map(formatBytes)).toEqual([
      '0 B',
      '1023 B',
      '1 KiB',
      '1.5 KiB',
      '20 MiB',
      '10 GiB',
      '150 KiB',
    ]);
  });

  it('says each error in words, with its code; a network failure and unknown codes too', () => {
    const api = (code: string, status: number) =>
      toUiError(
        new StorageApiError({ status, code: code as never, message: `the ${code}`, source: 'service' }),
      );
    const codes = [
      'UNAUTHORIZED',
      'FORBIDDEN',
      'NOT_FOUND',
      'QUOTA_EXCEEDED',
      'FILE_TOO_LARGE',
      'UNSUPPORTED_MEDIA_TYPE',
      'ALREADY_EXISTS',
      'INVALID_LINK',
      'SERVICE_BUSY',
      'BACKEND_UNAVAILABLE',
      'THROTTLED',
    ];
    const texts = codes.map((c) => api(c, 400).text);
    expect(new Set(texts).size).toBe(codes.length);
    for (const t of texts) expect(t).not.toBe('The request failed.');
    expect(api('QUOTA_EXCEEDED', 413)).toEqual({
      code: 'QUOTA_EXCEEDED',
      text: 'Your storage quota is full. Delete some files, or ask an operator for more space.',
      detail: 'the QUOTA_EXCEEDED',
    });
    expect(api('SOMETHING_NEW', 400)).toMatchObject({ code: 'SOMETHING_NEW', text: 'The request failed.' });
    expect(toUiError(new TypeError('Failed to fetch'))).toMatchObject({ code: 'NETWORK' });
  });

  it('derives the S256 code challenge of RFC 7636 (appendix B)', async () => {
    expect(await s256Challenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe(
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
  });
});
