import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildUi } from '../ui/build';
import { prebuiltDir } from './bundling';

/**
 * The admin UI as the stack deploys it: `buildUi(outdir)` of ui/build.ts writes index.html and its
 * assets (esbuild, offline, like the functions). The stack adds config.json itself, with values
 * known only at deploy time (infra/constructs/ui-hosting.ts).
 */

/** The name of the UI's asset among the prebuilt ones (prebuiltDir). */
export const UI_ASSET = 'admin-ui';

export async function buildUiAssets(outdir: string): Promise<void> {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  await buildUi(outdir);
  if (!existsSync(join(outdir, 'index.html'))) throw new Error(`buildUi wrote no index.html into ${outdir}`);
  // The deployment writes config.json with the stack's values; no other may compete with it.
  rmSync(join(outdir, 'config.json'), { force: true });
}

/** Builds the UI where the construct's bundling finds it (as prebuildAssets does for the functions). */
export async function prebuildUi(assemblyDir: string): Promise<void> {
  await buildUiAssets(prebuiltDir(assemblyDir, UI_ASSET));
}
