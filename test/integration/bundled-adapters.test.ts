import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { buildFunctionAsset, projectRoot } from '../../infra/bundling';

/**
 * The cloud adapters are loaded on first use; in a Lambda that happens inside one minified ESM
 * bundle (each adapter and its SDK is a self-contained lazy-<name>.mjs beside index.mjs, read by
 * its `import()`). This builds a small entry with the deploy settings, outside the project (no
 * node_modules to fall back on), and loads every adapter in a fresh Node process.
 */
const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'bundled-adapters-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

it('every cloud adapter loads and presigns from inside a deploy-style bundle', async () => {
  const metafile = await buildFunctionAsset(join(projectRoot, 'test/helpers/adapters-entry.ts'), work);
  // Every adapter is its own file, loaded only through a dynamic import of the entry's code.
  const entry = Object.entries(metafile.outputs).find(([file]) => file.endsWith('/index.mjs'))?.[1];
  const lazy = (entry?.imports ?? []).filter((i) => i.kind === 'dynamic-import' && i.external);
  expect(lazy.map((i) => i.path)).toEqual(
    expect.arrayContaining([
      './lazy-shared-backends-s3.mjs',
      './lazy-shared-backends-minio.mjs',
      './lazy-shared-backends-azure-blob.mjs',
      './lazy-shared-backends-aliyun-oss.mjs',
    ]),
  );
  expect(entry?.imports.filter((i) => i.kind === 'import-statement' && !i.external)).toEqual([]);
  const storages = {
    'storages.Default': { type: 'local-disk', root: join(work, 'objects') },
    'storages.S3': {
      type: 's3',
      bucketName: 'bkt',
      region: 'eu-west-1',
      accessKeyId: 'ak',
      accessKeySecret: 'sk',
    },
    'storages.Minio': {
      type: 'minio',
      endPoint: 'https://minio.example.com',
      bucketName: 'bkt',
      accessKeyId: 'ak',
      accessKeySecret: 'sk',
    },
    'storages.Azure': { type: 'azure-blob', accessKeyId: 'acct', accessKeySecret: 'a2V5', bucketName: 'bkt' },
    'storages.Oss': {
      type: 'aliyun-oss',
      region: 'oss-cn-hangzhou',
      bucketName: 'bkt',
      accessKeyId: 'ak',
      accessKeySecret: 'sk',
    },
  };
  const bundle = pathToFileURL(join(work, 'index.mjs')).href;
  const script = `import(${JSON.stringify(bundle)}).then((m) => m.loadEveryAdapter(${JSON.stringify(
    Object.keys(storages).slice(1),
  )})).then((r) => process.stdout.write(JSON.stringify(r)));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    cwd: work,
    env: {
      PATH: process.env.PATH,
      SIGNING_SECRET: 'x'.repeat(40),
      STORAGES: JSON.stringify(storages),
      POWERTOOLS_LOG_LEVEL: 'ERROR',
    },
  });
  const urls = JSON.parse(stdout) as Record<string, string>;
  expect(new URL(urls['storages.S3'] ?? '').host).toBe('bkt.s3.eu-west-1.amazonaws.com');
  expect(new URL(urls['storages.Minio'] ?? '').host).toBe('minio.example.com');
  expect(new URL(urls['storages.Azure'] ?? '').host).toBe('acct.blob.core.windows.net');
  expect(new URL(urls['storages.Oss'] ?? '').host).toBe('bkt.oss-cn-hangzhou.aliyuncs.com');
  for (const url of Object.values(urls)) expect(url).toMatch(/attachment/);
});
