import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { afterAll, describe, expect, it } from 'vitest';
import { buildFunctionAsset, LAZY_FILE } from '../../infra/bundling';
import { StorageFunction } from '../../infra/constructs/storage-function';

const work = mkdtempSync(join(tmpdir(), 'storage-cdk-bundles-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/**
 * The one test that lets CDK run esbuild for real (the template tests skip bundling). It bundles a
 * single function through the construct every function of the stack uses: each CDK bundling run
 * costs an `npx esbuild` start, and the smoke test already builds and runs all of them with the
 * same settings. `npx cdk synth` bundles the whole stack (docs/deploy.md).
 */
describe('CDK bundling (real esbuild, no Docker)', () => {
  it('bundles a function as minified ESM in one file (plus lazy files) with source maps, byte for byte as infra/bundling.ts builds it', async () => {
    const fn = 'preview-object';
    const outdir = join(work, 'cdk.out');
    const app = new App({ outdir });
    const stack = new Stack(app, 'Bundled');
    new StorageFunction(stack, fn, {
      fn,
      logRetention: RetentionDays.ONE_DAY,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const functions = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function'));
    expect(functions).toHaveLength(1);
    const code = functions[0]?.Properties.Code;
    const asset = join(outdir, `asset.${String(code.S3Key).replace(/\.zip$/, '')}`);
    expect(existsSync(join(asset, 'index.mjs.map'))).toBe(true);
    const cdkBundle = readFileSync(join(asset, 'index.mjs'), 'utf8');
    expect(
      cdkBundle.startsWith("import { createRequire as __storageCreateRequire } from 'node:module';"),
    ).toBe(true);
    expect(cdkBundle).toMatch(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/);
    // Minified: very long lines (newlines are left only inside template literals).
    expect(cdkBundle.length / cdkBundle.split('\n').length).toBeGreaterThan(1000);

    // No code splitting: the adapters and rarely used SDK clients (dynamic imports) are
    // self-contained lazy-*.mjs files beside index.mjs, which imports nothing else statically.
    const files = readdirSync(asset).sort();
    expect(files).toContain('lazy-shared-backends-s3.mjs');
    expect(files).toContain('lazy-aws-sdk-client-secrets-manager.mjs');
    expect(
      files.filter((f) => !f.endsWith('.map')).every((f) => f === 'index.mjs' || LAZY_FILE.test(f)),
    ).toBe(true);
    for (const f of files.filter((f) => !f.endsWith('.map'))) expect(files).toContain(`${f}.map`);
    expect(cdkBundle).toContain('import("./lazy-shared-backends-s3.mjs")');
    expect(cdkBundle).not.toMatch(/from\s*"\.\//);

    // The bundle CDK deploys is the one the smoke test runs and the benchmark measures.
    // At the depth of CDK's bundling folder (cdk.out/bundling-temp-*): the source maps name the
    // sources relative to the output.
    const own = join(work, 'own', 'bundle');
    await buildFunctionAsset(join('functions', `${fn}.ts`), own);
    expect(files).toEqual(readdirSync(own).sort());
    for (const f of files)
      expect(readFileSync(join(asset, f), 'utf8'), f).toBe(readFileSync(join(own, f), 'utf8'));
  });
});
