import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
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

/**
 * Lambdas of the stack that are not the service's (no route, no access row): the Cognito trigger of
 * the user pool the stack creates without an issuer. Built with the same settings as the functions.
 */
export const PRE_TOKEN_FUNCTION = 'cognito-pre-token';
export const infraFunctionEntries: Readonly<Record<string, string>> = {
  [PRE_TOKEN_FUNCTION]: join(projectRoot, 'infra', 'cognito', 'pre-token.ts'),
};

export const functionEntry = (fn: string) =>
  infraFunctionEntries[fn] ?? join(projectRoot, 'functions', `${fn}.ts`);

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
  /**
   * Packages with native binaries: never bundled (a .node file cannot be), installed beside the
   * bundle in node_modules/ for the Lambda's platform instead (sharp: its linux-arm64 binding and
   * libvips), and only into the assets of functions whose code imports them.
   */
  native: ['sharp'] as string[],
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
    external: [...lambdaBundle.external, ...lambdaBundle.native],
    banner: { js: lambdaBundle.banner },
    plugins: [lazyImports(used)],
    absWorkingDir: projectRoot,
    logLevel: 'warning',
    metafile: true,
  };
}

/** The platform Lambda runs the functions on (the stack's Architecture.ARM_64, Amazon Linux: glibc). */
export const LAMBDA_PLATFORM: NativePlatform = { os: 'linux', cpu: 'arm64', libc: 'glibc' };
/** This machine's platform: for bundles that run here (the smoke test). */
export const HOST_PLATFORM: NativePlatform = { os: process.platform, cpu: process.arch, libc: 'glibc' };

export interface NativePlatform {
  os: string;
  cpu: string;
  libc: 'glibc' | 'musl';
}

/**
 * Builds a function's asset into outdir (the CDK construct, smoke test, benchmark): `index.mjs`
 * and, for each module it (or a lazy file) imports dynamically, `lazy-<path>.mjs`; each with its
 * `.map`; and `node_modules/` with the native packages the code imports, for `platform` (the
 * Lambda's unless said otherwise). Returns the builds' metafiles merged (outputs relative to the
 * project root).
 */
export async function buildFunctionAsset(
  entry: string,
  outdir: string,
  platform: NativePlatform = LAMBDA_PLATFORM,
): Promise<Metafile> {
  const merged: Metafile = { inputs: {}, outputs: {} };
  const built = new Map<string, string>();
  const pending: { entry: string; file: string }[] = [{ entry, file: lambdaBundle.outFile }];
  while (pending.length) {
    const next = pending.shift() as { entry: string; file: string };
    const { metafile, used } =
      next.file === lambdaBundle.outFile ? await buildFile(next, outdir) : await lazyFile(next, outdir);
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
  for (const pkg of nativeImports(merged)) {
    cpSync(await nativeInstall(pkg, platform), join(outdir, 'node_modules'), { recursive: true });
  }
  return merged;
}

interface BuiltFile {
  metafile: Metafile;
  /** the lazy files its dynamic imports point at (name -> source) */
  used: Map<string, string>;
}

async function buildFile(file: { entry: string; file: string }, outdir: string): Promise<BuiltFile> {
  const used = new Map<string, string>();
  const { metafile } = await build(esbuildOptions(file.entry, outdir, used, file.file));
  return { metafile: metafile as Metafile, used };
}

/**
 * Lazy files built in this process, by name, source and the output folder's place relative to the
 * project (which its source map depends on): every function of the stack has the same SDK and
 * adapter files, so each is built once and copied into the other assets, byte for byte what a
 * build of its own would write.
 */
const lazyBuilds = new Map<string, Promise<BuiltFile & { outdir: string }>>();

async function lazyFile(file: { entry: string; file: string }, outdir: string): Promise<BuiltFile> {
  const key = [file.file, file.entry, relative(outdir, projectRoot)].join('\n');
  const fresh = () => {
    const job = buildFile(file, outdir).then((built) => ({ ...built, outdir }));
    lazyBuilds.set(key, job);
    return job;
  };
  const job = lazyBuilds.get(key);
  if (!job) return fresh();
  const first = await job.catch(() => undefined);
  // Failed, or its first folder was removed since: built again, into this one.
  const kept = (name: string) => first && existsSync(join(first.outdir, name));
  if (!first || !kept(file.file) || !kept(`${file.file}.map`)) return fresh();
  if (first.outdir === outdir) return first;
  mkdirSync(outdir, { recursive: true });
  for (const name of [file.file, `${file.file}.map`]) cpSync(join(first.outdir, name), join(outdir, name));
  // The same outputs, named where they are now.
  const from = relative(projectRoot, first.outdir);
  const to = relative(projectRoot, outdir);
  const outputs = Object.fromEntries(
    Object.entries(first.metafile.outputs).map(([path, output]) => [join(to, relative(from, path)), output]),
  );
  return { metafile: { inputs: first.metafile.inputs, outputs }, used: first.used };
}

/** The native packages the built files import (esbuild leaves them as external imports). */
export function nativeImports(metafile: Metafile): string[] {
  const imported = new Set<string>();
  for (const output of Object.values(metafile.outputs)) {
    for (const i of output.imports)
      if (i.external && lambdaBundle.native.includes(i.path)) imported.add(i.path);
  }
  return [...imported].sort();
}

const run = promisify(execFile);
/** One install per package and platform in this process, however many assets need it at once. */
const installs = new Map<string, Promise<string>>();

/**
 * Where the CDK app builds a function's asset ahead of CDK's bundling (prebuildAssets): a folder of
 * the cloud assembly beside CDK's own bundling folders, at their depth, so the source maps (which
 * name the sources relative to the output) come out the same.
 */
export const prebuiltDir = (assemblyDir: string, fn: string) => join(assemblyDir, `.prebuilt-${fn}`);

/**
 * In a construct's tryBundle: moves the asset `name` the app built ahead (prebuiltDir) into CDK's
 * bundling folder. False when there is none (the asset is then built there and then).
 */
export function takePrebuilt(outputDir: string, name: string): boolean {
  const prebuilt = prebuiltDir(dirname(outputDir), name);
  if (!existsSync(prebuilt)) return false;
  for (const file of readdirSync(prebuilt)) renameSync(join(prebuilt, file), join(outputDir, file));
  rmSync(prebuilt, { recursive: true, force: true });
  return true;
}

/**
 * Builds the assets of `fns` in this process, all at once, before CDK bundles them one by one
 * (each in a child process of its own, which costs a Node and tsx start apiece): the construct
 * then only moves the prebuilt files into place (infra/constructs/storage-function.ts).
 */
export async function prebuildAssets(assemblyDir: string, fns: readonly string[]): Promise<void> {
  await Promise.all(
    fns.map(async (fn) => {
      const dir = prebuiltDir(assemblyDir, fn);
      rmSync(dir, { recursive: true, force: true });
      await buildFunctionAsset(functionEntry(fn), dir);
    }),
  );
}

/**
 * node_modules/ holding `pkg` (at the version this project has) and its dependencies for
 * `platform`, installed from the npm registry once and kept in node_modules/.cache: npm picks the
 * platform's optional binaries (--os/--cpu/--libc). Install scripts are not run: sharp's would
 * try to build from source where its prebuilt binary is for another machine.
 */
function nativeInstall(pkg: string, platform: NativePlatform): Promise<string> {
  const key = `${pkg} ${platform.os} ${platform.cpu} ${platform.libc}`;
  let install = installs.get(key);
  if (!install) {
    install = installNative(pkg, platform);
    installs.set(key, install);
  }
  return install;
}

async function installNative(pkg: string, platform: NativePlatform): Promise<string> {
  const { version } = JSON.parse(
    readFileSync(join(projectRoot, 'node_modules', pkg, 'package.json'), 'utf8'),
  ) as { version: string };
  const dir = join(
    projectRoot,
    'node_modules',
    '.cache',
    'lambda-native',
    `${pkg}@${version}-${platform.os}-${platform.cpu}-${platform.libc}`,
  );
  const installed = join(dir, 'node_modules');
  if (existsSync(join(installed, pkg, 'package.json'))) return installed;
  // Installed beside the cache entry, then renamed into place: builds running at once never see half an install.
  const temp = `${dir}.${process.pid}.${randomUUID()}`;
  mkdirSync(temp, { recursive: true });
  try {
    writeFileSync(
      join(temp, 'package.json'),
      JSON.stringify({ private: true, dependencies: { [pkg]: version } }),
    );
    await run(
      'npm',
      [
        'install',
        '--omit=dev',
        '--no-package-lock',
        '--no-audit',
        '--no-fund',
        '--ignore-scripts',
        '--prefer-offline',
        `--os=${platform.os}`,
        `--cpu=${platform.cpu}`,
        `--libc=${platform.libc}`,
      ],
      { cwd: temp },
    );
    try {
      renameSync(temp, dir);
    } catch (e) {
      // Another build installed it first.
      if (!existsSync(join(installed, pkg, 'package.json'))) throw e;
    }
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
  return installed;
}
