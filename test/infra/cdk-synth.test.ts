import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { routes } from '../../shared/routes';

const run = promisify(execFile);
const out = mkdtempSync(join(tmpdir(), 'storage-cdk-synth-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** The real CLI, as a user runs it: offline, bundling locally with esbuild (no Docker). */
describe('npx cdk synth', () => {
  it('synthesizes the stack with every function bundled', async () => {
    await run(
      'npx',
      [
        'cdk',
        'synth',
        '--quiet',
        '--output',
        out,
        '-c',
        'storage:jwtIssuer=https://issuer.example.com',
        '-c',
        'storage:jwtAudience=ci',
      ],
      { env: { ...process.env, CDK_DISABLE_VERSION_CHECK: '1', CI: 'true' }, timeout: 420_000 },
    );
    const templateFile = readdirSync(out).find((f) => f.endsWith('.template.json'));
    expect(templateFile).toBeDefined();
    const template = JSON.parse(readFileSync(join(out, templateFile as string), 'utf8')) as {
      Resources: Record<string, { Type: string }>;
    };
    const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    // One per route, the processor and the sweeper (CDK adds its own helper functions too).
    expect(functions.length).toBeGreaterThanOrEqual(routes.length + 2);
    const assets = readdirSync(out).filter(
      (f) => f.startsWith('asset.') && existsSync(join(out, f, 'index.mjs')),
    );
    expect(assets.length).toBeGreaterThanOrEqual(routes.length + 2);

    // sharp is no part of any bundle (none holds its code); the assets whose code imports it carry
    // it in node_modules/, for the functions' platform (linux-arm64, glibc): its binding and libvips.
    const code = (asset: string) =>
      readdirSync(join(out, asset))
        .filter((f) => f.endsWith('.mjs'))
        .map((f) => readFileSync(join(out, asset, f), 'utf8'))
        .join('\n');
    const thumbnailAssets = assets.filter((a) => code(a).includes('import("sharp")'));
    expect(thumbnailAssets).toHaveLength(2); // get-thumbnail, render-thumbnails
    for (const asset of assets) expect(code(asset), asset).not.toContain('Could not load the "sharp" module');
    for (const asset of assets) {
      const modules = join(out, asset, 'node_modules');
      if (!thumbnailAssets.includes(asset)) {
        expect(existsSync(modules), asset).toBe(false);
        continue;
      }
      expect(JSON.parse(readFileSync(join(modules, 'sharp', 'package.json'), 'utf8')).version).toBe(
        JSON.parse(readFileSync(join('node_modules', 'sharp', 'package.json'), 'utf8')).version,
      );
      const bindingDir = join(modules, '@img', 'sharp-linux-arm64', 'lib');
      const bindings = readdirSync(bindingDir).filter((f) => /^sharp-linux-arm64.*\.node$/.test(f));
      expect(bindings, asset).toHaveLength(1);
      const libvips = readdirSync(join(modules, '@img', 'sharp-libvips-linux-arm64', 'lib'));
      expect(
        libvips.some((f) => /^libvips-cpp\.so/.test(f)),
        asset,
      ).toBe(true);
      // ELF, 64-bit, machine AArch64 (183): built for the Lambda, not for this machine.
      const binding = readFileSync(join(bindingDir, bindings[0] as string));
      expect([binding.subarray(0, 4).toString('latin1'), binding.readUInt16LE(18)]).toEqual(['\x7fELF', 183]);
      expect(existsSync(join(modules, '@img', 'sharp-linux-x64')), asset).toBe(false);
    }
  }, 480_000);
});
