import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildOptions } from 'esbuild';
import { internalFunctions, routes } from '../shared/routes';

/**
 * How every Lambda bundle is built: ONE definition, read by the CDK stack (local esbuild bundling of each function's asset),
 * the bundle smoke test and the bundle benchmark, so what is tested and measured is what deploys.
 */
export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Every function that becomes a Lambda: one per route, then the internal triggers. */
export const lambdaFunctions: readonly string[] = [
  ...new Set([...routes.map((r) => r.fn), ...internalFunctions]),
];

export const functionEntry = (fn: string) => join(projectRoot, 'functions', `${fn}.ts`);

/** The Lambda runtime the bundles target; the stack uses the matching Runtime.NODEJS_22_X. */
export const NODE_TARGET = 'node22';

/**
 * ESM bundles may contain CommonJS packages (busboy, mnemonist) that call `require` for Node
 * built-ins; ESM has no `require`, so one is created from the bundle's own URL. The import is
 * aliased so it cannot clash with a `createRequire` import of the bundled code.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __storageCreateRequire } from 'node:module'; const require = __storageCreateRequire(import.meta.url);";

export const lambdaBundle = {
  format: 'esm',
  target: NODE_TARGET,
  platform: 'node',
  minify: true,
  /** External .map file next to the bundle; Lambda reads it when NODE_OPTIONS has --enable-source-maps. */
  sourcemap: true,
  /** Stack traces need only the mappings; leaving the sources out keeps the asset small. */
  sourcesContent: false,
  /** Prefer packages' ESM builds (the AWS SDK's dist-es): they tree-shake, CommonJS builds do not. */
  mainFields: ['module', 'main'],
  /**
   * Everything is bundled (the AWS SDK v3 too, pinned by our lock file, not the runtime's copy),
   * except proxy-agent: ali-oss's HTTP client requires it only when a proxy is configured, which
   * the OSS adapter never does, and it would add a JavaScript engine (about 1 MB) to every bundle.
   */
  external: ['proxy-agent'] as string[],
  banner: ESM_REQUIRE_BANNER,
  /** The file name Lambda loads; `.mjs` makes Node treat it as ESM without a package.json. */
  outFile: 'index.mjs',
  /**
   * Code splitting: what the functions load with a dynamic `import()` (the storage adapters and
   * their SDKs, the EventBridge and Secrets Manager clients) becomes its own chunk next to
   * index.mjs, read only when first used; a cold start evaluates only index.mjs and its static chunks.
   */
  splitting: true,
  /** Chunks are `.mjs` too, beside the entry file (`chunk-<hash>.mjs`). */
  chunkNames: 'chunk-[hash]',
  outExtension: '.mjs',
} as const;

/**
 * The same settings as esbuild build options (the CDK construct, smoke test, benchmark): the entry
 * becomes `{outdir}/index.mjs`, with its chunks (`chunk-*.mjs`) and source maps beside it.
 */
export function esbuildOptions(entry: string, outdir: string): BuildOptions {
  return {
    entryPoints: [{ in: entry, out: lambdaBundle.outFile.replace(/\.mjs$/, '') }],
    outdir,
    outExtension: { '.js': lambdaBundle.outExtension },
    splitting: lambdaBundle.splitting,
    chunkNames: lambdaBundle.chunkNames,
    bundle: true,
    format: lambdaBundle.format,
    target: lambdaBundle.target,
    platform: lambdaBundle.platform,
    minify: lambdaBundle.minify,
    sourcemap: lambdaBundle.sourcemap,
    sourcesContent: lambdaBundle.sourcesContent,
    mainFields: [...lambdaBundle.mainFields],
    external: [...lambdaBundle.external],
    banner: { js: lambdaBundle.banner },
    absWorkingDir: projectRoot,
    logLevel: 'warning',
  };
}
