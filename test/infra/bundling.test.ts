import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { esbuildOptions, lambdaFunctions } from '../../infra/bundling';
import { synth } from './synth';

const work = mkdtempSync(join(tmpdir(), 'storage-cdk-bundles-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('CDK bundling (real esbuild, no Docker)', () => {
  it('bundles every function as minified ESM with a source map, exactly as infra/bundling.ts builds it', async () => {
    const outdir = join(work, 'cdk.out');
    const { template } = synth({ bundle: true, outdir });
    const functions = Object.values(template().findResources('AWS::Lambda::Function')).filter((f) =>
      /^storage: /.test(f.Properties.Description ?? ''),
    );
    expect(functions).toHaveLength(lambdaFunctions.length);

    const assets = new Map<string, string>();
    for (const f of functions) {
      const fn = String(f.Properties.Description).slice('storage: '.length);
      const hash = String(f.Properties.Code.S3Key).replace(/\.zip$/, '');
      const dir = join(outdir, `asset.${hash}`);
      expect(existsSync(join(dir, 'index.mjs')), fn).toBe(true);
      expect(existsSync(join(dir, 'index.mjs.map')), fn).toBe(true);
      assets.set(fn, dir);
    }
    // Distinct code per function: no asset is shared by accident.
    expect(new Set(assets.values()).size).toBe(lambdaFunctions.length);

    // The bundle CDK deploys is byte for byte the one the smoke test and the benchmark build.
    const fn = 'preview-object';
    const own = join(work, 'own');
    await build(esbuildOptions(join('functions', `${fn}.ts`), own));
    const cdkBundle = readFileSync(join(assets.get(fn) as string, 'index.mjs'), 'utf8');
    expect(
      cdkBundle.startsWith("import { createRequire as __storageCreateRequire } from 'node:module';"),
    ).toBe(true);
    expect(cdkBundle).toBe(readFileSync(join(own, 'index.mjs'), 'utf8'));
  });
});
