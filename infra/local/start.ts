import { dataDirFromEnv } from './dev-secrets';
import { startLocalRuntime } from './runtime';
import { signDevToken } from './tokens';

/** npm start: the whole service on one machine. Ctrl-C stops everything it started. */
const runtime = await startLocalRuntime({
  dataDir: dataDirFromEnv(),
  port: Number(process.env.PORT ?? 3000),
  host: process.env.HOST,
  sweepIntervalSeconds: Number(process.env.SWEEP_INTERVAL ?? 60),
});
const token = await signDevToken(runtime.jwtSecret, { tenant: 'demo', user: 'dev' });
console.log(`Storage service ready on http://localhost:${runtime.port}  (data in ${dataDirFromEnv()})`);
console.log(`File browser: http://localhost:${runtime.port}/  (sign in with "Use the dev token")`);
if (runtime.emulator) {
  console.log(
    `Storage emulator (${runtime.emulator.kind}) on ${runtime.emulator.endpoint}: default storage ${runtime.emulator.storage}`,
  );
}
console.log(`DynamoDB Local on ${runtime.dynamoEndpoint}`);
console.log(`Dev token (tenant "demo": upload, download, delete; 12 h):\n${token}`);
console.log('More tokens: npm run --silent token -- --tenant T --user U [--scope "storage:download"]');
console.log('An operator token (quotas, recalculation, audit): npm run --silent token -- --operator');

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await runtime.stop();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
