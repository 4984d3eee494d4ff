import { Readable } from 'node:stream';
import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as onObjectCreated } from '../../functions/on-object-created';
import type { LocalDiskBackend } from '../../shared/backends/local-disk';
import { getStorage } from '../../shared/backends/registry';
import {
  armFault,
  clearFaults,
  disableFaults,
  enableFaults,
  type Failpoint,
  type FaultAction,
  recordFailpoints,
  stopRecording,
} from '../../shared/faults';

import { findFile } from '../../shared/service/read';
import { deleteFile } from '../../shared/service/remove';
import { sweepExpired } from '../../shared/service/sweep';
import { principal, setupTestEnv, type TestEnv } from '../helpers/env';
import { s3Event } from '../helpers/integrity';
import { fileAt, violations } from '../helpers/invariants';
import { completeNow, md5, signSingleUpload, upload } from '../helpers/service-helpers';

/**
 * The fault-injection battery: every use case is run once to learn which steps it passes (the
 * failpoints of shared/faults.ts, the backend's calls, DynamoDB's commands), then once per step
 * and occurrence with that step failing, and once with the process dying there. After recovery
 * (the client's retry, and one sweep with the clock past every deadline) the invariants of
 * docs/decisions.md must hold, checked by the independent oracle of test/helpers/invariants.ts,
 * and the client must see what it asked for.
 */
let env: TestEnv;
beforeAll(async () => {
  enableFaults();
  // AWS_MAX_ATTEMPTS=1: an injected DynamoDB throttle fails the call at once instead of after the
  // SDK's backed-off retries (which absorb a single throttle; what is tested is one that persists).
  env = await setupTestEnv({
    PENDING_GRACE_SECONDS: '2',
    PRESIGN_TTL_SECONDS: '60',
    FINALIZE_LEASE_SECONDS: '1',
    AWS_MAX_ATTEMPTS: '1',
  });
});
afterAll(async () => {
  disableFaults();
  env.reconfigure({ AWS_MAX_ATTEMPTS: undefined });
  await env.cleanup();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const FAR = () => Date.now() + 3 * 24 * 3600 * 1000;
const sweep = () => sweepExpired({ now: FAR(), deadline: Date.now() + 30_000 });
/** The sweep of recovery: past every deadline, and past the longest back-off of an item that failed. */
const recoverySweep = () => sweepExpired({ now: FAR() + 2 * 3600 * 1000, deadline: Date.now() + 30_000 });

interface UseCase {
  name: string;
  /** What exists before the operation. */
  setup?: (tenant: string) => Promise<Record<string, string>>;
  /** The operation under test (the client's call). */
  run: (tenant: string, ctx: Record<string, string>) => Promise<unknown>;
  /** What the client sees in the end, after its retry and a sweep (raw reads only). */
  expectEnd: (tenant: string) => Promise<void>;
}

const X = 'the new content of the file';
const OLD = 'what was there before';
const body = (data: string) => Readable.from([Buffer.from(data)]);
const expectContent = async (tenant: string, path: string, data: string) => {
  expect(await fileAt(tenant, path), `${tenant} ${path}`).toMatchObject({
    md5: md5(data),
    size: data.length,
  });
};
const expectGone = async (tenant: string, path: string) => {
  expect(await fileAt(tenant, path), `${tenant} ${path}`).toBeUndefined();
};

async function signed(tenant: string, path: string, data: string) {
  const s = await signSingleUpload({
    principal: principal(tenant),
    path,
    size: data.length,
    md5: md5(data),
    visibility: 'private',
    onConflict: 'overwrite',
  });
  const accepted = await (getStorage() as LocalDiskBackend).acceptSignedUpload(
    new URL(s.url).searchParams,
    body(data),
  );
  expect(accepted).toBe('ok');
  return { uploadId: s.uploadId, key: new URL(s.url).searchParams.get('key') as string };
}

const useCases: UseCase[] = [
  {
    name: 'PUT upload',
    run: (t) => upload(principal(t), 'a.txt', X),
    expectEnd: (t) => expectContent(t, 'a.txt', X),
  },
  {
    name: 'PUT without length',
    run: (t) => upload(principal(t), 'a.txt', X, { size: undefined }),
    expectEnd: (t) => expectContent(t, 'a.txt', X),
  },
  {
    name: 'form upload',
    run: (t) => upload(principal(t), 'a.txt', X, { size: undefined, sizeHint: X.length + 200 }),
    expectEnd: (t) => expectContent(t, 'a.txt', X),
  },
  {
    name: 'dedupe: new content',
    run: (t) => upload(principal(t), 'a.txt', X, { md5: md5(X) }),
    expectEnd: (t) => expectContent(t, 'a.txt', X),
  },
  {
    name: 'dedupe: stored content',
    setup: async (t) => {
      await upload(principal(t), 'first.txt', X, { md5: md5(X) });
      return {};
    },
    run: (t) => upload(principal(t), 'a.txt', X, { md5: md5(X) }),
    expectEnd: async (t) => {
      await expectContent(t, 'first.txt', X);
      await expectContent(t, 'a.txt', X);
    },
  },
  {
    name: 'overwrite',
    setup: async (t) => {
      await upload(principal(t), 'a.txt', OLD);
      return {};
    },
    run: (t) => upload(principal(t), 'a.txt', X),
    expectEnd: (t) => expectContent(t, 'a.txt', X),
  },
  {
    name: 'overwrite: deduplicated',
    setup: async (t) => {
      await upload(principal(t), 'a.txt', OLD, { md5: md5(OLD) });
      return {};
    },
    run: (t) => upload(principal(t), 'a.txt', X, { md5: md5(X) }),
    expectEnd: (t) => expectContent(t, 'a.txt', X),
  },
  {
    name: 'direct complete',
    setup: (t) => signed(t, 'a.txt', X),
    run: (t, ctx) => completeNow(principal(t), ctx.uploadId as string),
    expectEnd: (t) => expectContent(t, 'a.txt', X),
  },
  {
    name: 'storage event',
    setup: (t) => signed(t, 'a.txt', X),
    run: (_t, ctx) => onObjectCreated(s3Event(ctx.key as string)),
    expectEnd: (t) => expectContent(t, 'a.txt', X),
  },
  {
    name: 'delete',
    setup: async (t) => {
      await upload(principal(t), 'a.txt', OLD);
      return {};
    },
    run: (t) => deleteFile(t, undefined, 'a.txt'),
    expectEnd: (t) => expectGone(t, 'a.txt'),
  },
  {
    name: 'delete: deduplicated',
    setup: async (t) => {
      await upload(principal(t), 'a.txt', OLD, { md5: md5(OLD) });
      await upload(principal(t), 'b.txt', OLD, { md5: md5(OLD) });
      return {};
    },
    run: (t) => deleteFile(t, undefined, 'a.txt'),
    expectEnd: async (t) => {
      await expectGone(t, 'a.txt');
      await expectContent(t, 'b.txt', OLD);
    },
  },
  {
    name: 'expired read',
    setup: async (t) => {
      await upload(principal(t), 'a.txt', OLD, { expires: 1 });
      await sleep(1050);
      return {};
    },
    run: (t) =>
      findFile(t, undefined, 'a.txt').then(
        () => {
          throw new Error('an expired file was served');
        },
        (e: { code?: string }) => {
          if (e.code !== 'NOT_FOUND') throw e;
        },
      ),
    expectEnd: (t) => expectGone(t, 'a.txt'),
  },
  {
    name: 'sweep',
    setup: async (t) => {
      await upload(principal(t), 'old.txt', OLD, { expires: 1 });
      await upload(principal(t), 'blob.txt', X, { md5: md5(X), expires: 1 });
      await signSingleUpload({
        principal: principal(t),
        path: 'never.bin',
        size: 9,
        visibility: 'private',
        onConflict: 'overwrite',
      });
      await signed(t, 'staged.bin', X);
      return {};
    },
    run: () => sweep(),
    expectEnd: async (t) => {
      await expectGone(t, 'old.txt');
      await expectGone(t, 'blob.txt');
    },
  },
];

interface Outcome {
  useCase: string;
  step: string;
  occurrence: number;
  action: FaultAction;
  result: string;
}

let tenantSeq = 0;
const nextTenant = () => `fb${(++tenantSeq).toString(36)}`;

/** The client's retry: the same call, until it gives an answer (a finalize may be held by a dead attempt's lease). */
async function retry(useCase: UseCase, tenant: string, ctx: Record<string, string>): Promise<void> {
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      await useCase.run(tenant, ctx);
      return;
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code !== 'UPLOAD_IN_PROGRESS' && attempt > 0) return;
      await sleep(1100);
    }
  }
}

async function runWithFault(useCase: UseCase, step: Failpoint, occurrence: number, action: FaultAction) {
  const tenant = nextTenant();
  const ctx = (await useCase.setup?.(tenant)) ?? {};
  // A failing DynamoDB call is throttled, as DynamoDB does; anything else fails with InjectedFault.
  const error = step.startsWith('dynamodb.')
    ? () => new ProvisionedThroughputExceededException({ message: 'injected throttle', $metadata: {} })
    : undefined;
  const fault = armFault(step, action, { skip: occurrence, error });
  const op = useCase.run(tenant, ctx).then(
    () => 'ok',
    (e: { code?: string; name?: string }) => `error ${e.code ?? e.name}`,
  );
  const result = await Promise.race([op, fault.reached.then(() => (action === 'die' ? 'died' : op))]);
  clearFaults();
  // Recovery: the client retries (what died is gone for good; what failed answered an error),
  // then one sweep past every deadline.
  await retry(useCase, tenant, ctx);
  await recoverySweep();
  return { tenant, result };
}

describe('fault-injection battery', () => {
  const outcomes: Outcome[] = [];

  afterAll(() => {
    // The steps x use cases table of the integrity note.
    const steps = [...new Set(outcomes.map((o) => o.step))].sort();
    const lines = [
      `| step | ${useCases.map((u) => u.name).join(' | ')} |`,
      `|---|${useCases.map(() => '---|').join('')}`,
    ];
    for (const step of steps) {
      const cells = useCases.map((u) => {
        const runs = outcomes.filter((o) => o.step === step && o.useCase === u.name);
        return runs.length ? `${new Set(runs.map((r) => r.occurrence)).size}x fail+die` : '';
      });
      lines.push(`| ${step} | ${cells.join(' | ')} |`);
    }
    console.log(`fault battery: ${outcomes.length} runs\n${lines.join('\n')}`);
  });

  for (const useCase of useCases) {
    it(`${useCase.name}: every step failing or dying keeps the invariants`, async () => {
      // Learn the steps: one clean run, recording every failpoint it passes.
      const tenant = nextTenant();
      const ctx = (await useCase.setup?.(tenant)) ?? {};
      const seen = recordFailpoints();
      await useCase.run(tenant, ctx);
      stopRecording();
      await sweep();
      expect(await violations(tenant, { settled: true })).toEqual([]);
      await useCase.expectEnd(tenant);
      expect(seen.size).toBeGreaterThan(0);

      const problems: string[] = [];
      for (const [step, hits] of seen) {
        for (let occurrence = 0; occurrence < Math.min(hits, 3); occurrence++) {
          for (const action of ['fail', 'die'] as const) {
            const { tenant: t, result } = await runWithFault(useCase, step, occurrence, action);
            outcomes.push({ useCase: useCase.name, step, occurrence, action, result });
            const broken = await violations(t, { settled: true });
            try {
              await useCase.expectEnd(t);
            } catch (e) {
              broken.push(
                `the client does not get what it asked for: ${(e as Error).message.split('\n')[0]}`,
              );
            }
            if (broken.length)
              problems.push(`${step}#${occurrence} ${action} (${result}): ${broken.join('; ')}`);
          }
        }
      }
      expect(problems).toEqual([]);
    }, 300_000);
  }
});
