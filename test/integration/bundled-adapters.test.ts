import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, expect, it } from 'vitest';
import { esbuildOptions, projectRoot } from '../../infra/bundling';

/**
 * The cloud adapters are loaded on first use; in a Lambda that happens inside one minified ESM
 * bundle split into chunks (each adapter and its SDK is a chunk beside index.mjs, read by its
 * `import()`). This builds a small entry with the deploy settings, outside the project (no
 * node_modules to fall back on), and loads every adapter in a fresh Node process.
 */
const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'bundled-adapters-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

it('every cloud adapter loads and presigns from inside a deploy-style bundle', async () => {
  const options = esbuildOptions(join(projectRoot, 'test/helpers/adapters-entry.ts'), work);
  const { metafile } = await build({ ...options, metafile: true });
  // Every adapter is its own chunk, loaded only through a dynamic import of the entry's code.
  const lazy = Object.values(metafile.outputs).flatMap((o) =>
    o.imports.filter((i) => i.kind === 'dynamic-import' && !i.external),
  );
  expect(new Set(lazy.map((i) => i.path)).size).toBeGreaterThanOrEqual(4);
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
