import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build, type Metafile, type Plugin } from 'esbuild';
import { fallbackRoute, internalFunctions, routes } from '../shared/routes';

/**
 * How every Lambda bundle is built: ONE definition, read by the CDK stack (local esbuild bundling of each function's asset),
 * the bundle smoke test and the bundle benchmark, so what is tested and measured is what deploys.
 */
export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Every function that becomes a Lambda: one per route, the `$default` route's, then the internal triggers. */
export const lambdaFunctions: readonly string[] = [
  ...new Set([...routes.map((r) => r.fn), fallbackRoute.fn, ...internalFunctions]),
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
} as const;

/**
 * No code splitting: a cold start reads ONE file and its map, as a hand-written one-file bundle
 * does (each extra chunk and its map costs import time). What the code loads with a dynamic
 * `import()` (the storage adapters and their SDKs, the EventBridge and Secrets Manager clients, the
 * SDK's credential providers) is built instead as its own self-contained file beside index.mjs,
 * `lazy-<path>.mjs` with the same settings, and the `import()` points at it: read only on first use.
 * A self-contained file has its own copies of the code it shares with index.mjs: only StorageError
 * crosses back into the service's code, and it is recognized by a brand, not by its class.
 */
export const LAZY_FILE = /^lazy-[\w.-]+\.mjs$/;

/** `lazy-<path>.mjs` for the module at `path`: its path from the project (or node_modules), flattened. */
function lazyFileOf(path: string): string {
  const name = relative(projectRoot, path)
    .split(sep)
    .filter((part) => part !== 'node_modules' && part !== 'dist-es')
    .join('-')
    .replace(/(-index)?\.[cm]?[jt]sx?$/, '')
    .replace(/[^\w.-]+/g, '-')
    .replace(/^-+/, '');
  return `lazy-${name}.mjs`;
}

/** Points every dynamic import of a bundled module at its sibling lazy file; notes the files (name -> source). */
function lazyImports(used: Map<string, string>): Plugin {
  return {
    name: 'lazy-siblings',
    setup(build) {
      build.onResolve({ filter: /.*/ }, async (args) => {
        if (args.kind !== 'dynamic-import' || args.path.startsWith('node:')) return undefined;
        const resolved = await build.resolve(args.path, {
          kind: 'import-statement',
          resolveDir: args.resolveDir,
          importer: args.importer,
        });
        if (resolved.errors.length || resolved.external || !isAbsolute(resolved.path)) return undefined;
        const file = lazyFileOf(resolved.path);
        const known = used.get(file);
        if (known && known !== resolved.path) throw new Error(`${file}: both ${known} and ${resolved.path}`);
        used.set(file, resolved.path);
        return { path: `./${file}`, external: true };
      });
    },
  };
}

/**
 * The esbuild options of ONE output file `{outdir}/{outFile}` (the function's index.mjs, or one
 * lazy module's file); `used` collects the lazy files its dynamic imports point at.
 */
export function esbuildOptions(
  entry: string,
  outdir: string,
  used: Map<string, string> = new Map(),
  outFile: string = lambdaBundle.outFile,
): BuildOptions {
  return {
    entryPoints: [{ in: entry, out: outFile.replace(/\.mjs$/, '') }],
    outdir,
    outExtension: { '.js': '.mjs' },
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
    plugins: [lazyImports(used)],
    absWorkingDir: projectRoot,
    logLevel: 'warning',
    metafile: true,
  };
}

/**
 * Builds a function's asset into outdir (the CDK construct, smoke test, benchmark): `index.mjs`
 * and, for each module it (or a lazy file) imports dynamically, `lazy-<path>.mjs`; each with its
 * `.map`. Returns the builds' metafiles merged (outputs relative to the project root).
 */
export async function buildFunctionAsset(entry: string, outdir: string): Promise<Metafile> {
  const merged: Metafile = { inputs: {}, outputs: {} };
  const built = new Map<string, string>();
  const pending: { entry: string; file: string }[] = [{ entry, file: lambdaBundle.outFile }];
  while (pending.length) {
    const next = pending.shift() as { entry: string; file: string };
    const used = new Map<string, string>();
    const metafile = (await build(esbuildOptions(next.entry, outdir, used, next.file))).metafile as Metafile;
    Object.assign(merged.inputs, metafile.inputs);
    Object.assign(merged.outputs, metafile.outputs);
    for (const [file, source] of [...used].sort(([a], [b]) => a.localeCompare(b))) {
      const known = built.get(file);
      if (known && known !== source) throw new Error(`${file}: both ${known} and ${source}`);
      if (known) continue;
      built.set(file, source);
      pending.push({ entry: source, file });
    }
  }
  return merged;
}
