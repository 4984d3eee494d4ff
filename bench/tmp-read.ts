import { createReadStream, writeFileSync, mkdtempSync, read as fsRead, open as fsOpen, fstat as fsFstat, close as fsClose } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
const dir = mkdtempSync('/tmp/rd-');
const file = `${dir}/f.bin`;
writeFileSync(file, Buffer.alloc(1024, 1));
const drain = async (s: Readable) => { const c: Buffer[] = []; for await (const x of s) c.push(x as Buffer); return Buffer.concat(c).toString('base64'); };
const variants: Record<string, () => Promise<unknown>> = {
  old: async () => { const s = await stat(file); if (!s.isFile()) throw 0; return drain(createReadStream(file, { highWaterMark: 1 << 20 })); },
  handle: async () => { const h = await open(file, 'r'); const s = await h.stat(); return drain(h.createReadStream({ highWaterMark: 1 << 20, start: 0, end: s.size - 1 })); },
  fdcb: async () => {
    const fd = await new Promise<number>((r, j) => fsOpen(file, 'r', (e, fd) => (e ? j(e) : r(fd))));
    const s = await new Promise<{ size: number }>((r, j) => fsFstat(fd, (e, st) => (e ? j(e) : r(st))));
    return drain(createReadStream('', { fd, highWaterMark: 1 << 20, start: 0, end: s.size - 1 }));
  },
};
const res: Record<string, number[]> = {};
for (let i = 0; i < 3000; i++) for (const k of Object.keys(variants)) await variants[k]!();
for (let i = 0; i < 5000; i++) for (const k of Object.keys(variants)) { const t = performance.now(); await variants[k]!(); (res[k] ??= []).push(performance.now() - t); }
for (const [k, v] of Object.entries(res)) { v.sort((a, b) => a - b); console.log(k.padEnd(8), 'p50', v[2500]!.toFixed(3), 'p99', v[4950]!.toFixed(3)); }
