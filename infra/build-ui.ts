/**
 * Builds the admin UI's asset: `tsx infra/build-ui.ts <outdir>`. CDK's local bundling is synchronous,
 * so the construct runs this in a child process when the app did not build it ahead (prebuildUi).
 */
import { buildUiAssets } from './ui-build';

const [outdir] = process.argv.slice(2);
if (!outdir) throw new Error('usage: tsx infra/build-ui.ts <outdir>');
await buildUiAssets(outdir);
