import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Builds the file browser: ui/src (TypeScript + Preact, the SDK from client/src) bundled by
 * esbuild into `outdir`:
 *
 *   index.html            the page (served at `/` and `/admin`)
 *   ui/app-[hash].js      the script and its stylesheet; the hash lets a CDN cache them for good
 *   ui/app-[hash].css
 *
 * `config.json` is not built: whoever serves the page writes it next to index.html (the local
 * server answers it; in AWS the stack writes the API URL and the OIDC issuer).
 * `npm run build:ui` builds into ui/dist; the local server and the CDK stack call buildUi.
 */

const UI_DIR = fileURLToPath(new URL('.', import.meta.url));

/** Where the assets live below the page's root (the page names them absolutely: `/admin` serves it too). */
export const UI_ASSETS_DIR = 'ui';

export interface BuildUiOptions {
  /** The URL path the output folder is served at (default `/`). */
  base?: string;
}

export async function buildUi(outdir: string, options: BuildUiOptions = {}): Promise<void> {
  // Loaded here, not at the top: the local server imports this module and starts without esbuild's cost.
  const { build } = await import('esbuild');
  const out = resolve(outdir);
  const assets = join(out, UI_ASSETS_DIR);
  // Only the folder this build owns is cleared (outdir may hold the stack's config.json).
  await rm(assets, { recursive: true, force: true });
  await mkdir(assets, { recursive: true });
  const result = await build({
    entryPoints: { app: join(UI_DIR, 'src/main.tsx') },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome111', 'firefox111', 'safari16.4'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: true,
    sourcemap: 'linked',
    legalComments: 'linked',
    entryNames: '[name]-[hash]',
    outdir: assets,
    metafile: true,
    logLevel: 'silent',
  });
  let script = '';
  let style = '';
  for (const [file, output] of Object.entries(result.metafile.outputs)) {
    if (!output.entryPoint) continue;
    script = basename(file);
    if (output.cssBundle) style = basename(output.cssBundle);
  }
  if (!script || !style) throw new Error('The UI build produced no script or no stylesheet');
  const base = `/${(options.base ?? '/').replace(/^\/+|\/+$/g, '')}/`.replace(/^\/\/$/, '/');
  const page = (await readFile(join(UI_DIR, 'index.html'), 'utf8'))
    .replaceAll('%STYLE%', `${base}${UI_ASSETS_DIR}/${style}`)
    .replaceAll('%SCRIPT%', `${base}${UI_ASSETS_DIR}/${script}`);
  await writeFile(join(out, 'index.html'), page);
}

// `npm run build:ui`
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outdir = join(UI_DIR, 'dist');
  await buildUi(outdir);
  console.log(`UI built into ${outdir}`);
}
