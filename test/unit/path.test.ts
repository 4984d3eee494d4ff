import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors';
import { extensionOf, normalizePath, normalizePrefix } from '../../shared/path';

const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as AppError).code;
  }
  return 'no error';
};

describe('normalizePath', () => {
  it.each([
    ['a/../b', 'PATH_TRAVERSAL'],
    ['..', 'PATH_TRAVERSAL'],
    ['a/./b', 'PATH_TRAVERSAL'],
    ['/etc/passwd', 'PATH_ABSOLUTE'],
    ['a\u0000b', 'PATH_CONTROL_CHARACTER'],
    ['a\nb', 'PATH_CONTROL_CHARACTER'],
    ['a\u007fb', 'PATH_CONTROL_CHARACTER'],
    ['a\\b', 'PATH_BACKSLASH'],
    ['a//b', 'PATH_EMPTY_SEGMENT'],
    ['a/', 'PATH_EMPTY_SEGMENT'],
    ['', 'PATH_REQUIRED'],
    [`${'x'.repeat(1025)}`, 'PATH_TOO_LONG'],
    [`${'é'.repeat(513)}`, 'PATH_TOO_LONG'],
    // What undecodable bytes become (a form field, a lossy URL decoder), and halves of a UTF-16 pair
    // (JSON allows them): each would be one name for many byte sequences.
    ['bad/x\uFFFD.bin', 'INVALID_PATH_ENCODING'],
    ['bad/x\uD800.bin', 'INVALID_PATH_ENCODING'],
    ['bad/x\uDC00.bin', 'INVALID_PATH_ENCODING'],
    ['bad/\uDE00\uD83D.bin', 'INVALID_PATH_ENCODING'],
  ])('rejects %j with %s', (input, code) => {
    expect(codeOf(() => normalizePath(input))).toBe(code);
  });

  it('accepts UTF-8 names up to 1024 bytes and normalizes them to NFC', () => {
    expect(normalizePath('文档/报告 2024.pdf')).toBe('文档/报告 2024.pdf');
    expect(normalizePath('emoji/🎉.png')).toBe('emoji/🎉.png');
    expect(normalizePath('emoji/\uD83C\uDF89.png')).toBe('emoji/🎉.png');
    expect(normalizePath('cafe\u0301.txt')).toBe('caf\u00e9.txt');
    expect(normalizePath('x'.repeat(1024))).toHaveLength(1024);
  });

  it('errors carry a 400 status', () => {
    try {
      normalizePath('../x');
    } catch (e) {
      expect(e).toBeInstanceOf(AppError);
      expect((e as AppError).status).toBe(400);
    }
    expect.assertions(2);
  });
});

describe('normalizePrefix', () => {
  it('allows empty and trailing-slash prefixes but not traversal', () => {
    expect(normalizePrefix(undefined)).toBe('');
    expect(normalizePrefix('docs/')).toBe('docs/');
    expect(normalizePrefix('docs/re')).toBe('docs/re');
    expect(codeOf(() => normalizePrefix('../'))).toBe('PATH_TRAVERSAL');
  });
});

describe('extensionOf', () => {
  it('keeps short alphanumeric extensions only', () => {
    expect(extensionOf('a.PDF')).toBe('.pdf');
    expect(extensionOf('archive.tar.gz')).toBe('.gz');
    expect(extensionOf('.bashrc')).toBe('');
    expect(extensionOf('noext')).toBe('');
    expect(extensionOf('weird.ex t')).toBe('');
  });
});
