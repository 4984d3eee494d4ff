/**
 * Uploads a file with the SDK, lists its folder, makes a preview link and downloads it back.
 *
 * Environment:
 *   STORAGE_API_URL  the API's base URL (default http://localhost:3000, what `npm start` serves)
 *   STORAGE_TOKEN    a tenant member's token: `npm run --silent token -- --tenant acme --user alice`
 *   STORAGE_NAME     optional: a storage instance (`storages.X`); the service's default otherwise
 *   EXAMPLE_FILE     optional: a file to upload; a short text otherwise
 *
 * Run (the SDK is imported as a package consumer would, from its build in client/dist):
 *   npm run build:client
 *   STORAGE_TOKEN=$(npm run --silent token -- --tenant acme --user alice) npx tsx examples/upload-and-share.ts
 */
import { openAsBlob } from 'node:fs';
import { basename } from 'node:path';
import { isStorageApiError, StorageClient } from 'unified-file-storage/client';

const token = process.env.STORAGE_TOKEN;
if (!token) {
  console.error('Set STORAGE_TOKEN (npm run --silent token -- --tenant acme --user alice)');
  process.exit(2);
}
const client = new StorageClient({
  baseUrl: process.env.STORAGE_API_URL ?? 'http://localhost:3000',
  token,
  storage: process.env.STORAGE_NAME || undefined,
});

const source = process.env.EXAMPLE_FILE;
// openAsBlob reads the file as it is sent: a large file is never held in memory whole.
const data = source
  ? await openAsBlob(source)
  : new Blob(['Hello from the TypeScript SDK\n'], { type: 'text/plain' });
const path = `examples/${source ? basename(source) : 'hello.txt'}`;

try {
  const file = await client.uploadByFile(path, data, {
    onProgress: ({ loaded, total }) => console.log(`progress ${loaded}/${total}`),
  });
  console.log(`uploaded ${file.fullName}: ${file.size} bytes, ${file.type}, md5 ${file.md5 ?? '-'}`);

  for await (const page of client.list({ prefix: 'examples/' })) {
    for (const item of page.items) console.log(`listed ${item.fullName} (${item.size} bytes)`);
  }

  // A private file opens in a browser only through a signed link; this one works for 10 minutes.
  const link = await client.preview(path, { expiresIn: 600 });
  console.log(`preview ${link.url}`);

  const bytes = await client.download(path);
  const original = new Uint8Array(await data.arrayBuffer());
  const same = bytes.length === original.length && bytes.every((b, i) => b === original[i]);
  console.log(`downloaded ${bytes.length} bytes: ${same ? 'identical' : 'DIFFERENT'}`);
  if (!same) process.exitCode = 1;
} catch (e) {
  // Every failed answer is a StorageApiError with the service's code (also API Gateway's own 401/403).
  if (!isStorageApiError(e)) throw e;
  console.error(`${e.status} ${e.code}: ${e.message}`);
  process.exitCode = 1;
}
