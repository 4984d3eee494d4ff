import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LOCAL_SERVER_ENV, LOCAL_SERVER_NODE_FLAGS } from '../../infra/local/node-flags';
import { errorCodes } from '../../shared/errors';

describe('README', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

  it('documents every error code with its status', () => {
    for (const [code, status] of Object.entries(errorCodes)) {
      expect(readme).toContain(`| ${status} | \`${code}\` |`);
    }
  });

  it('keeps exactly the two quick-start commands', () => {
    const commands = readme.match(/^npm ci && npm (start|test)$/gm);
    expect(commands).toEqual(['npm ci && npm start', 'npm ci && npm test']);
  });
});

describe('package.json', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    scripts: Record<string, string>;
  };

  it('npm start runs the local server with the environment and node flags the tests and benchmarks use', () => {
    expect(pkg.scripts.start).toBe(
      [
        ...Object.entries(LOCAL_SERVER_ENV).map(([name, value]) => `${name}=${value}`),
        'node',
        ...LOCAL_SERVER_NODE_FLAGS,
        '--import tsx infra/local/start.ts',
      ].join(' '),
    );
  });
});
