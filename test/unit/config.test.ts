import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../shared/config';

const base = { SIGNING_SECRET: 's'.repeat(32) };

describe('configuration', () => {
  it('defaults to one local-disk instance named storages.Default', () => {
    const c = parseConfig(base);
    expect(c.defaultStorage).toBe('storages.Default');
    expect(c.storages['storages.Default']?.type).toBe('local-disk');
    expect(c.allowedContentTypes).toEqual(['*/*']);
  });

  it('falls back to storages.Default when the named default is not configured', () => {
    const c = parseConfig({ ...base, DEFAULT_STORAGE: 'storages.Missing' });
    expect(c.defaultStorage).toBe('storages.Default');
  });

  it('names the instance and the field that is wrong', () => {
    expect(() =>
      parseConfig({ ...base, STORAGES: JSON.stringify({ 'storages.MyDisk': { type: 'local-disk' } }) }),
    ).toThrow(/storages\.MyDisk\.root/);
    expect(() =>
      parseConfig({ ...base, STORAGES: JSON.stringify({ bad: { type: 'local-disk', root: '/x' } }) }),
    ).toThrow(/"bad" must be named like storages\.Name/);
    expect(() => parseConfig({ ...base, STORAGES: '{' })).toThrow(/STORAGES is not valid JSON/);
    expect(() => parseConfig({})).toThrow(/SIGNING_SECRET/);
    expect(() => parseConfig({ ...base, MAX_FILE_BYTES: 'lots' })).toThrow(/MAX_FILE_BYTES/);
  });

  it('fails when no instance can be the default', () => {
    expect(() =>
      parseConfig({
        ...base,
        STORAGES: JSON.stringify({ 'storages.A': { type: 'local-disk', root: '/a' } }),
      }),
    ).toThrow(/not a configured instance/);
  });
});
