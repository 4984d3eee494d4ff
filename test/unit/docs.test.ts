import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
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
