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
      { env: { ...process.env, CDK_DISABLE_VERSION_CHECK: '1', CI: 'true' }, timeout: 180_000 },
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
  }, 240_000);
});
