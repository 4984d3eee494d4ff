import { type Readable, Transform } from 'node:stream';
import type { StorageBackend } from './backends/contract';
import { StorageError } from './errors';

/**
 * Named failpoints for fault-injection tests. Each step of a use case where a failure or a crash
 * would leave a different state calls `failpoint(name)`. Nothing is armed in production: the call
 * is one boolean check. A test arms a name to make that step throw ('fail') or stop for good
 * ('die': the awaited promise never settles, as if the process had been killed right there, so no
 * catch block or cleanup runs).
 *
 * Names used by the service are listed in FAILPOINTS; the storage backends and DynamoDB get their
 * own (`backend.<method>`, `backend.put.midstream`, `dynamodb.<Command>`) when faults are enabled.
 */
export const FAILPOINTS = [
  'upload.after-open',
  'upload.before-commit',
  'upload.after-commit',
  'finalize.after-lease',
  'finalize.after-copy',
  'finalize.before-commit',
  'finalize.after-commit',
  'remove.after-commit',
  'gc.before-delete',
  'gc.before-forget',
  'sweep.item',
  'sweep.before-objects',
] as const;

/** A step that can be armed: one of the service's, a backend call, or a DynamoDB command. */
export type Failpoint = (typeof FAILPOINTS)[number] | `backend.${string}` | `dynamodb.${string}`;

export type FaultAction = 'fail' | 'die';

export class InjectedFault extends Error {
  override name = 'InjectedFault';
}

interface Armed {
  action: FaultAction;
  skip: number;
  times: number;
  error?: () => Error;
  hits: number;
  reached: () => void;
}

const armed = new Map<string, Armed>();
let enabled = false;
let recording: Map<Failpoint, number> | undefined;

/** Whether a test turned fault injection on (the registry and the DynamoDB client then add their hooks). */
export const faultsEnabled = () => enabled;

export function enableFaults(): void {
  enabled = true;
}

export function disableFaults(): void {
  enabled = false;
  armed.clear();
}

export interface ArmedFault {
  /** Resolves when the step was reached (and failed or died). */
  reached: Promise<void>;
  hits(): number;
}

/**
 * Arms `name`: after `skip` passes, the next `times` (default 1) calls fail or die. `error` builds
 * what a failing call throws (default InjectedFault), e.g. a DynamoDB throttling error.
 */
export function armFault(
  name: Failpoint,
  action: FaultAction,
  options: { skip?: number; times?: number; error?: () => Error } = {},
): ArmedFault {
  enabled = true;
  let reached!: () => void;
  const promise = new Promise<void>((r) => {
    reached = r;
  });
  const fault: Armed = {
    action,
    skip: options.skip ?? 0,
    times: options.times ?? 1,
    error: options.error,
    hits: 0,
    reached,
  };
  armed.set(name, fault);
  return { reached: promise, hits: () => fault.hits };
}

export function clearFaults(): void {
  armed.clear();
}

/** Counts, from now on, how often each failpoint is passed (to learn which steps a use case has). */
export function recordFailpoints(): Map<Failpoint, number> {
  enabled = true;
  recording = new Map();
  return recording;
}

export function stopRecording(): void {
  recording = undefined;
}

/** The armed fault for `name` if this call is one it applies to (consumes one use). */
function take(name: Failpoint): Armed | undefined {
  if (!enabled) return undefined;
  recording?.set(name, (recording.get(name) ?? 0) + 1);
  const fault = armed.get(name);
  if (!fault) return undefined;
  if (fault.skip > 0) {
    fault.skip--;
    return undefined;
  }
  if (fault.times <= 0) return undefined;
  fault.times--;
  fault.hits++;
  fault.reached();
  return fault;
}

const never = () => new Promise<never>(() => {});

/** A step of a use case: fails or never returns when a test armed it. */
export async function failpoint(name: Failpoint): Promise<void> {
  const fault = take(name);
  if (!fault) return;
  if (fault.action === 'die') return never();
  throw fault.error?.() ?? new InjectedFault(`injected failure at ${name}`);
}

const FAULTY_METHODS = new Set([
  'get',
  'head',
  'delete',
  'deleteMany',
  'copy',
  'list',
  'presignUpload',
  'presignDownload',
]);

/**
 * The backend behind a proxy with a failpoint before every call (`backend.<method>`), and
 * `backend.put.midstream`: the body breaks after its first chunk reached the backend (fail: the
 * stream errors; die: it stops for good). Being a proxy, it is still an instance of the adapter.
 */
export function withFaults<B extends StorageBackend>(backend: B): B {
  return new Proxy(backend, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof prop !== 'string' || typeof value !== 'function') return value;
      if (prop === 'put') {
        return async (
          key: string,
          body: Readable | Buffer,
          options: { contentType: string; size?: number },
        ) => {
          await failpoint('backend.put');
          const fault = take('backend.put.midstream');
          const sent = fault && !Buffer.isBuffer(body) ? breakAfterFirstChunk(body, fault, target) : body;
          return target.put.call(receiver, key, sent, options);
        };
      }
      if (!FAULTY_METHODS.has(prop)) return value;
      return async (...args: unknown[]) => {
        await failpoint(`backend.${prop}`);
        return (value as (...a: unknown[]) => unknown).apply(receiver, args);
      };
    },
  });
}

function breakAfterFirstChunk(body: Readable, fault: Armed, backend: StorageBackend): Readable {
  let passed = false;
  const breaker = new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (!passed) {
        passed = true;
        done(null, chunk);
        return;
      }
      if (fault.action === 'die') return; // never calls back: the upload stops right here
      done(new StorageError('Unavailable', backend.type, backend.name, 'injected failure mid-stream'));
    },
  });
  body.on('error', (e) => breaker.destroy(e));
  return body.pipe(breaker);
}
