import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';

/**
 * The test oracle for integrity: reads the table with its own client and the local-disk folders
 * with `fs`, and checks the invariants of docs/decisions.md ("Integrity invariants") without any
 * of the service's code. Every check is a recount from the raw items and files.
 */
type Item = Record<string, unknown> & { pk: string; sk: string };

let client: DynamoDBDocumentClient | undefined;
let clientFor = '';
function raw(): DynamoDBDocumentClient {
  const endpoint = process.env.DYNAMODB_ENDPOINT ?? '';
  if (!client || clientFor !== endpoint) {
    client = DynamoDBDocumentClient.from(
      new DynamoDBClient({
        region: 'us-east-1',
        endpoint,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
    );
    clientFor = endpoint;
  }
  return client;
}
const table = () => process.env.TABLE_NAME as string;

async function partition(pk: string): Promise<Item[]> {
  const items: Item[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await raw().send(
      new QueryCommand({
        TableName: table(),
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
        ExclusiveStartKey: start,
        ConsistentRead: true,
      }),
    );
    items.push(...((page.Items ?? []) as Item[]));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

/** The local-disk roots of the configured storage instances, from the environment itself. */
export function localRoots(): Record<string, string> {
  const storages = JSON.parse(process.env.STORAGES ?? '{}') as Record<
    string,
    { type: string; root?: string }
  >;
  return Object.fromEntries(
    Object.entries(storages)
      .filter(([, s]) => s.type === 'local-disk' && s.root)
      .map(([name, s]) => [name, s.root as string]),
  );
}

function filesUnder(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile())
      .map((d) => join(d.parentPath, d.name));
  } catch {
    return [];
  }
}

export interface TenantState {
  files: Item[];
  sessions: Item[];
  blobs: Item[];
  garbage: Item[];
  quota?: Item;
  /** objects on disk that belong to the tenant, by storage: key -> absolute file */
  objects: Map<string, Map<string, string>>;
  /** temp files on disk (any tenant) */
  tempFiles: string[];
}

export async function readTenant(tenant: string): Promise<TenantState> {
  const roots = localRoots();
  // The counter, summed over its shards (QUOTA_SHARDS: Q#{tenant}, then Q#{tenant}#{k}).
  const shards = Number(process.env.QUOTA_SHARDS || 1);
  const shardItems = (
    await Promise.all(
      Array.from({ length: shards }, async (_, k) => {
        const pk = k === 0 ? `Q#${tenant}` : `Q#${tenant}#${k}`;
        const read = await raw().send(
          new GetCommand({ TableName: table(), Key: { pk, sk: '-' }, ConsistentRead: true }),
        );
        return read.Item as Item | undefined;
      }),
    )
  ).filter((i): i is Item => i !== undefined);
  const sum = (field: string) => shardItems.reduce((n, i) => n + Number(i[field] ?? 0), 0);
  const quota: Item | undefined = shardItems[0]
    ? {
        ...shardItems[0],
        usedBytes: sum('usedBytes'),
        reservedBytes: sum('reservedBytes'),
        fileCount: sum('fileCount'),
        freeBytes: sum('freeBytes'),
        storages: new Set(shardItems.flatMap((i) => [...((i.storages as Set<string> | undefined) ?? [])])),
      }
    : undefined;
  const storages = new Set([...Object.keys(roots), ...((quota?.storages as Set<string> | undefined) ?? [])]);
  const state: TenantState = {
    files: [],
    sessions: await partition(`U#${tenant}`),
    blobs: [],
    garbage: [],
    quota,
    objects: new Map(),
    tempFiles: [],
  };
  for (const storage of storages) {
    state.files.push(...(await partition(`F#${tenant}#${storage}`)));
    state.blobs.push(...(await partition(`B#${tenant}#${storage}`)));
    state.garbage.push(...(await partition(`G#${tenant}#${storage}`)));
  }
  for (const [storage, root] of Object.entries(roots)) {
    const objects = new Map<string, string>();
    for (const dir of [
      join(root, tenant),
      join(root, '_staging', tenant),
      join(root, '_assembled', tenant),
      join(root, '_thumbs', tenant),
    ]) {
      for (const file of filesUnder(dir))
        objects.set(
          file
            .slice(root.length + 1)
            .split('\\')
            .join('/'),
          file,
        );
    }
    state.objects.set(storage, objects);
    state.tempFiles.push(...filesUnder(join(root, '.tmp')));
  }
  return state;
}

const md5Of = (file: string) => createHash('md5').update(readFileSync(file)).digest('hex');

/**
 * The invariants, as a list of violations (empty when all hold). `settled`: after recovery (a
 * retry and a sweep past every deadline) nothing may be in flight any more: no PENDING session,
 * no garbage item, no staging object, no temp file, and every object is a file's or a blob's.
 */
export async function violations(tenant: string, options: { settled: boolean }): Promise<string[]> {
  const s = await readTenant(tenant);
  const out: string[] = [];
  const storageOf = (i: Item) => String(i.storage);
  const pending = s.sessions.filter((u) => u.status === 'PENDING');

  // Every file has its object, with the bytes its md5 says; a deduplicated one its READY blob.
  for (const f of s.files) {
    const file = s.objects.get(storageOf(f))?.get(String(f.key));
    if (!file) out.push(`file ${f.sk} has no object ${f.key}`);
    // A large multipart upload without a declared md5 is never read: it has none to check.
    else if (f.md5 !== undefined && md5Of(file) !== f.md5)
      out.push(`file ${f.sk}: object ${f.key} does not have md5 ${f.md5}`);
    if (f.blobMd5) {
      const b = s.blobs.find((x) => x.sk === f.blobMd5 && x.storage === f.storage);
      if (b?.state !== 'READY' || b.key !== f.key)
        out.push(`file ${f.sk}: blob ${f.blobMd5} missing or not its`);
    }
  }
  // A file's thumbnails (the layout of docs/decisions.md): every variant served from the cache has its object.
  const thumbnailKeys = (f: Item, attribute: 'thumbnails' | 'thumbnailsReady') =>
    [...((f[attribute] as Set<string> | undefined) ?? [])].map(
      (variant) => `_thumbs/${tenant}/${String(f.id).slice(0, 2)}/${f.id}/${variant}`,
    );
  for (const f of s.files) {
    const reserved = new Set(thumbnailKeys(f, 'thumbnails'));
    for (const key of thumbnailKeys(f, 'thumbnailsReady')) {
      if (!reserved.has(key)) out.push(`file ${f.sk}: thumbnail ${key} is ready but was never reserved`);
      if (!s.objects.get(storageOf(f))?.has(key)) out.push(`file ${f.sk}: thumbnail ${key} has no object`);
    }
  }
  // Every blob's count is the files that use it plus the uploads pinning it; claims have their owner.
  for (const b of s.blobs) {
    if (b.state === 'READY') {
      const users =
        s.files.filter((f) => f.blobMd5 === b.sk && f.storage === b.storage).length +
        pending.filter(
          (u) => (u.blob as Item | undefined)?.md5 === b.sk && (u.blob as Item).mode === 'pinned',
        ).length;
      if (b.refCount !== users) out.push(`blob ${b.sk}: refCount ${b.refCount}, used by ${users}`);
      if (users === 0) out.push(`blob ${b.sk} is READY and unused`);
    } else if (!pending.some((u) => u.sk === b.owner)) {
      out.push(`blob ${b.sk} is claimed by ${b.owner}, which is not a PENDING upload`);
    }
  }
  // Counters are the sums of the items.
  const used = s.files.reduce((n, f) => n + Number(f.size), 0);
  const reserved = pending.reduce((n, u) => n + Number(u.reservedBytes), 0);
  const q = s.quota;
  const counters = {
    used: Number(q?.usedBytes ?? 0),
    files: Number(q?.fileCount ?? 0),
    reserved: Number(q?.reservedBytes ?? 0),
  };
  if (counters.used !== used || counters.files !== s.files.length || counters.reserved !== reserved) {
    out.push(
      `quota ${JSON.stringify(counters)} but items say ${JSON.stringify({ used, files: s.files.length, reserved })}`,
    );
  }
  if (q && Number(q.freeBytes) !== Number(q.limitBytes) - counters.used - counters.reserved) {
    out.push(`quota freeBytes ${q.freeBytes} is not limit - used - reserved`);
  }
  // Every object is referenced: by a file or a blob, or (while in flight) a session or garbage.
  for (const [storage, objects] of s.objects) {
    const referenced = new Set<string>();
    for (const f of s.files) if (f.storage === storage) referenced.add(String(f.key));
    for (const f of s.files)
      if (f.storage === storage) for (const k of thumbnailKeys(f, 'thumbnails')) referenced.add(k);
    for (const b of s.blobs) if (b.storage === storage) referenced.add(String(b.key));
    if (!options.settled) {
      for (const u of pending) {
        if (u.storage !== storage) continue;
        for (const k of [u.key, u.finalizeKey, (u.blob as Item | undefined)?.key])
          if (k) referenced.add(String(k));
      }
      for (const g of s.garbage) {
        if (g.storage !== storage) continue;
        referenced.add(String(g.key));
        // A batch item (a removal of many files at once) stands for all its keys.
        for (const k of (g.keys as string[] | undefined) ?? []) referenced.add(k);
      }
    }
    for (const key of objects.keys()) {
      if (!referenced.has(key)) out.push(`orphan object ${storage} ${key}`);
    }
  }
  if (options.settled) {
    for (const u of pending) out.push(`upload ${u.sk} is still PENDING`);
    for (const g of s.garbage) out.push(`garbage ${g.sk} is still there`);
    for (const t of s.tempFiles) out.push(`temp file ${t} (${statSync(t).size} bytes) is still there`);
  }
  return out;
}

/** Just the counters against the items (what most tests assert after each flow). */
export async function quotaMismatch(tenant: string): Promise<string[]> {
  return (await violations(tenant, { settled: false })).filter((v) => v.startsWith('quota'));
}

/** The raw file item at a path (or undefined), read without the service. */
export async function fileAt(
  tenant: string,
  path: string,
  storage = 'storages.Default',
): Promise<Item | undefined> {
  const { Item } = await raw().send(
    new GetCommand({
      TableName: table(),
      Key: { pk: `F#${tenant}#${storage}`, sk: path },
      ConsistentRead: true,
    }),
  );
  return Item as Item | undefined;
}
