import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { buildFunctionAsset, projectRoot } from '../../infra/bundling';
import { OFFLOAD_MIN_BYTES } from '../../shared/service/hasher';

/**
 * Large bodies are hashed on worker threads started from source text. This checks that this works
 * from inside a deploy-style bundle (minified ESM, nothing to resolve beside it) in a fresh Node
 * process, and that the idle workers do not keep that process alive: execFile returns only once
 * the process has exited by itself.
 */
const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'bundled-hasher-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

it('a bundled function hashes a large body on worker threads and then exits by itself', async () => {
  await buildFunctionAsset(join(projectRoot, 'test/helpers/hasher-entry.ts'), work);
  const size = OFFLOAD_MIN_BYTES * 2 + 5;
  const bundle = pathToFileURL(join(work, 'index.mjs')).href;
  const script = `import(${JSON.stringify(bundle)}).then((m) => m.meterBytes(${size}, 42)).then((r) => process.stdout.write(JSON.stringify(r)));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    cwd: work,
    env: { PATH: process.env.PATH, POWERTOOLS_LOG_LEVEL: 'ERROR' },
    timeout: 20_000,
  });
  const data = Buffer.alloc(size, 42);
  expect(JSON.parse(stdout)).toEqual({
    bytes: size,
    md5: createHash('md5').update(data).digest('hex'),
    sha256: createHash('sha256').update(data).digest('hex'),
  });
});
