import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes } from '../../shared/routes';

const run = promisify(execFile);
const out = mkdtempSync(join(tmpdir(), 'storage-cdk-synth-'));
const outIssuer = mkdtempSync(join(tmpdir(), 'storage-cdk-ls-'));
afterAll(() => {
  rmSync(out, { recursive: true, force: true });
  rmSync(outIssuer, { recursive: true, force: true });
});

const cdk = (args: string[]) =>
  run('npx', ['cdk', ...args], {
    env: { ...process.env, CDK_DISABLE_VERSION_CHECK: '1', CI: 'true' },
    timeout: 420_000,
  });

interface CfnTemplate {
  // biome-ignore lint/suspicious/noExplicitAny: CloudFormation resources are checked field by field
  Resources: Record<string, { Type: string; Properties: any }>;
}
const templateIn = (dir: string): CfnTemplate => {
  const file = readdirSync(dir).find((f) => f.endsWith('.template.json'));
  expect(file, dir).toBeDefined();
  return JSON.parse(readFileSync(join(dir, file as string), 'utf8')) as CfnTemplate;
};
const ofType = (template: CfnTemplate, type: string) =>
  Object.values(template.Resources).filter((r) => r.Type === type);

/** The real CLI, as a user runs it: offline, bundling locally with esbuild (no Docker). */
describe('npx cdk synth', () => {
  beforeAll(async () => {
    await Promise.all([
      // Zero configuration: no -c option at all.
      cdk(['synth', '--quiet', '--output', out]),
      // With an issuer, at the same time: `cdk ls` runs the app with the CLI's string context but
      // bundles nothing (the app skips its builds), so it adds little to the synth's time.
      cdk([
        'ls',
        '--output',
        outIssuer,
        '-c',
        'storage:jwtIssuer=https://issuer.example.com',
        '-c',
        'storage:jwtAudience=ci,other',
        '-c',
        'storage:uiClientId=admin-ui',
      ]),
    ]);
  }, 480_000);

  it('synthesizes the stack with no options, every function bundled', () => {
    const template = templateIn(out);
    const functions = ofType(template, 'AWS::Lambda::Function');
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
  });

  it('creates its own user pool, with the pre-token trigger bundled like the functions', () => {
    const template = templateIn(out);
    expect(ofType(template, 'AWS::Cognito::UserPool')).toHaveLength(1);
    const [authorizer] = ofType(template, 'AWS::ApiGatewayV2::Authorizer');
    expect(authorizer?.Properties.JwtConfiguration.Issuer['Fn::GetAtt'][1]).toBe('ProviderURL');
    const trigger = ofType(template, 'AWS::Lambda::Function').find((r) =>
      /^Cognito pre token generation/.test(r.Properties.Description ?? ''),
    );
    const asset = join(out, `asset.${String(trigger?.Properties.Code.S3Key).replace(/\.zip$/, '')}`);
    expect(readdirSync(asset).sort()).toEqual(['index.mjs', 'index.mjs.map']);
    const bundle = readFileSync(join(asset, 'index.mjs'), 'utf8');
    expect(bundle).toContain('custom:tenant');
    expect(bundle).toMatch(/export\s*\{[^}]*as handler/);
    // Small: the trigger runs on every sign-in and refresh.
    expect(bundle.length).toBeLessThan(20_000);
  });

  it('builds the admin UI into its deployment, beside the config.json the stack writes', () => {
    const template = templateIn(out);
    const [deployment] = ofType(template, 'Custom::CDKBucketDeployment');
    const sources = ((deployment?.Properties.SourceObjectKeys ?? []) as string[]).map((key) =>
      join(out, `asset.${key.replace(/\.zip$/, '')}`),
    );
    const ui = sources.find((dir) => existsSync(join(dir, 'index.html'))) as string;
    const page = readFileSync(join(ui, 'index.html'), 'utf8');
    const scripts = [...page.matchAll(/src="\/([^"]+\.js)"/g)].map((m) => m[1] as string);
    expect(scripts.length).toBeGreaterThan(0);
    for (const script of scripts) expect(existsSync(join(ui, script)), script).toBe(true);
    // config.json is the stack's alone, with its deploy-time values as markers.
    expect(existsSync(join(ui, 'config.json'))).toBe(false);
    const configDir = sources.find((dir) => existsSync(join(dir, 'config.json'))) as string;
    expect(JSON.parse(readFileSync(join(configDir, 'config.json'), 'utf8'))).toMatchObject({
      apiUrl: expect.stringMatching(/^<<marker:/),
      auth: { issuer: expect.stringMatching(/^<<marker:/), scopes: ['openid', 'email'] },
      devTokenUrl: null,
    });
  });

  it('trusts an issuer given with -c instead, and creates no user pool', () => {
    const template = templateIn(outIssuer);
    expect(ofType(template, 'AWS::Cognito::UserPool')).toHaveLength(0);
    expect(ofType(template, 'AWS::ApiGatewayV2::Authorizer')[0]?.Properties.JwtConfiguration).toEqual({
      Issuer: 'https://issuer.example.com',
      Audience: ['ci', 'other'],
    });
    const config = readdirSync(outIssuer)
      .map((f) => join(outIssuer, f, 'config.json'))
      .find((f) => existsSync(f)) as string;
    expect(JSON.parse(readFileSync(config, 'utf8')).auth).toEqual({
      issuer: 'https://issuer.example.com',
      clientId: 'admin-ui',
      scopes: ['openid', 'storage:upload', 'storage:download', 'storage:delete'],
    });
  });
});
