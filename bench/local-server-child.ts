/**
 * The local runtime as its own process, for benchmarks that measure the server's memory apart from
 * the client's. Started by bench/local-server.ts as `node --import tsx bench/local-server-child.ts`
 * (one process, so its pid is the server's). Reads DATA_DIR, PORT (0 = any free port) and
 * SWEEP_INTERVAL (seconds, 0 = never sweep, the default), and STORAGE_EMULATOR like `npm start`; prints one
 * JSON line `{"ready":true,"port":N,"emulator":{...}}` (emulator only with STORAGE_EMULATOR) when it serves, and stops
 * everything it started on SIGTERM, SIGINT or when its stdin closes (the parent went away).
 */
import { startLocalRuntime } from '../infra/local/runtime';

const dataDir = process.env.DATA_DIR;
if (!dataDir) throw new Error('DATA_DIR is required');

const runtime = await startLocalRuntime({
  dataDir,
  port: Number(process.env.PORT ?? 0),
  sweepIntervalSeconds: Number(process.env.SWEEP_INTERVAL ?? 0),
});
process.stdout.write(`${JSON.stringify({ ready: true, port: runtime.port, emulator: runtime.emulator })}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  try {
    await runtime.stop();
  } finally {
    process.exit(0);
  }
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
