import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The shared logger reads its level when first imported, before any test file's setup runs.
    env: { POWERTOOLS_LOG_LEVEL: 'ERROR' },
    // s3rver (the in-process S3 emulator of the backend tests) encrypts ListObjectsV2 continuation
    // tokens with DES, which OpenSSL 3 keeps in its legacy provider.
    poolOptions: { forks: { execArgv: ['--openssl-legacy-provider'] } },
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/helpers/dynamodb-global-setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'infra',
          include: ['test/infra/**/*.test.ts'],
          // Synthesizing the stack takes seconds; the one test that bundles every function, more.
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 90_000,
        },
      },
    ],
  },
});
