import { parseArgs } from 'node:util';
import { readApiError } from '../../shared/http/read-error';
import type { AuditReport, Finding } from '../../shared/service/audit';
import { dataDirFromEnv, loadDevSecrets } from './dev-secrets';
import { startLocalRuntime } from './runtime';
import { signDevToken } from './tokens';

/**
 * npm run audit -- [--tenant T] [--repair]: the integrity audit of the one-machine service. It
 * talks to the running server (`npm start`, same PORT and DATA_DIR) through the operator route
 * POST /v1/audit, the same use case that runs in AWS; with no server running it starts the
 * runtime itself for the audit. Prints the findings; exits 1 when any is left unrepaired.
 */
const { values } = parseArgs({
  options: {
    tenant: { type: 'string' },
    repair: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});

const dataDir = dataDirFromEnv();
const port = Number(process.env.PORT ?? 3000);

async function running(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

let url = `http://127.0.0.1:${port}`;
let stop: (() => Promise<void>) | undefined;
if (!(await running(url))) {
  const runtime = await startLocalRuntime({ dataDir, port: 0, sweepIntervalSeconds: 0 });
  url = runtime.url;
  stop = () => runtime.stop();
}

const token = await signDevToken(loadDevSecrets(dataDir).jwtSecret, {
  user: 'audit',
  operator: true,
});

const findings: Finding[] = [];
let tenants = 0;
try {
  let cursor: string | undefined;
  for (;;) {
    const query = new URLSearchParams({
      ...(values.tenant ? { tenant: values.tenant } : {}),
      ...(values.repair ? { repair: 'true' } : {}),
      ...(cursor ? { cursor } : {}),
    });
    const res = await fetch(`${url}/v1/audit?${query}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    const text = await res.text();
    if (!res.ok) {
      const error = readApiError(res.status, text, res.headers);
      console.error(`audit failed: ${res.status} ${error.code}: ${error.message}`);
      process.exitCode = 2;
      break;
    }
    const body = JSON.parse(text) as AuditReport;
    findings.push(...body.findings);
    tenants += body.tenants;
    if (body.complete) break;
    cursor = body.cursor;
  }
} finally {
  await stop?.();
}

if (process.exitCode !== 2) {
  if (values.json) {
    console.log(JSON.stringify({ tenants, findings }, null, 2));
  } else {
    console.log(
      `Audited ${tenants} tenant(s)${values.repair ? ' with --repair' : ''}: ${findings.length} finding(s)`,
    );
    for (const f of findings) {
      const state = f.repaired === undefined ? '' : f.repaired ? ' [repaired]' : ' [NOT repaired]';
      console.log(
        `- ${f.kind} ${f.tenant}${f.storage ? ` ${f.storage}` : ''} ${f.subject}: ${f.detail}${state}`,
      );
    }
  }
  process.exitCode = findings.some((f) => !f.repaired) ? 1 : 0;
}
