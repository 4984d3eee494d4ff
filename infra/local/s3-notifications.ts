import { createHash, randomBytes } from 'node:crypto';
import type { Context, S3Event } from 'aws-lambda';
import type { EmulatedObjectCreated } from './emulators';
import { lambdaContext } from './server';

/**
 * S3 event notifications on one machine: what the bucket's ObjectCreated notification does in AWS
 * (infra/constructs/processing.ts), for the S3 emulator of `STORAGE_EMULATOR=s3 npm start`. Every
 * object created in the one bucket under the one prefix becomes the event AWS sends, and
 * on-object-created runs with it the way Lambda runs an asynchronous invocation: later than the
 * write, retried after a failure, dropped in the end (AWS keeps it in the dead-letter queue).
 */

/** The function the stack subscribes to the bucket's ObjectCreated notification. */
export const ON_OBJECT_CREATED = 'on-object-created';

/**
 * The key as S3 writes it into notifications: form-URL-encoded (space as `+`, everything but
 * letters, digits and `*-._` as UTF-8 %XX), with the slashes kept.
 */
export function encodeEventKey(key: string): string {
  return key
    .split('/')
    .map((segment) =>
      encodeURIComponent(segment)
        .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
        .replace(/%20/g, '+'),
    )
    .join('/');
}

let lastSequencer = 0n;

/** Hex, growing with each event (S3's sequencer orders the events of one key). */
function nextSequencer(): string {
  const now = BigInt(Date.now()) << 16n;
  lastSequencer = now > lastSequencer ? now : lastSequencer + 1n;
  return lastSequencer.toString(16).toUpperCase().padStart(18, '0');
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex').toUpperCase();

/** The notification AWS S3 sends to a Lambda function for one created object. */
export function s3NotificationEvent(
  created: EmulatedObjectCreated,
  options: { region: string; configurationId?: string; time?: Date },
): S3Event {
  return {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: options.region,
        eventTime: (options.time ?? new Date()).toISOString(),
        eventName: created.eventName,
        userIdentity: { principalId: 'AWS:LOCAL' },
        requestParameters: { sourceIPAddress: created.sourceIp ?? '127.0.0.1' },
        responseElements: {
          'x-amz-request-id': hex(8),
          'x-amz-id-2': createHash('sha256').update(randomBytes(16)).digest('base64'),
        },
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: options.configurationId ?? `local-${ON_OBJECT_CREATED}`,
          bucket: {
            name: created.bucket,
            ownerIdentity: { principalId: 'LOCAL' },
            arn: `arn:aws:s3:::${created.bucket}`,
          },
          object: {
            key: encodeEventKey(created.key),
            size: created.size,
            eTag: created.eTag ?? '',
            sequencer: nextSequencer(),
          },
        },
      },
    ],
  };
}

export type Invoke = (event: S3Event, context: Context) => Promise<unknown>;

/** What became of one created object: not for this notification, handled, or given up on. */
export type Delivery = 'filtered' | 'delivered' | 'failed' | 'stopped';

export interface ObjectCreatedBridge {
  /** Never rejects: failures are logged and retried, as Lambda does. */
  deliver(created: EmulatedObjectCreated): Promise<Delivery>;
  /** Cancels pending retries and waits for the invocations that are running. */
  stop(): Promise<void>;
}

/** on-object-created's handler, loaded on first use, as the local server loads route handlers. */
const invokeOnObjectCreated: Invoke = async (event, context) => {
  const { handler }: { handler: Invoke } = await import('../../functions/on-object-created');
  return handler(event, context);
};

export function createObjectCreatedBridge(options: {
  bucket: string;
  /** The notification's filters, one per prefix (the stack subscribes NOTIFIED_PREFIXES). */
  prefixes: readonly string[];
  region: string;
  /**
   * Waits before each retry. Lambda retries an asynchronous invocation twice (the stack's
   * retryAttempts), after about one and two minutes; here seconds, so a developer sees the result.
   */
  retryDelaysMs?: number[];
  invoke?: Invoke;
  log?: (message: string, details: Record<string, unknown>) => void;
}): ObjectCreatedBridge {
  const retryDelays = options.retryDelaysMs ?? [1_000, 2_000];
  const invoke = options.invoke ?? invokeOnObjectCreated;
  const log = options.log ?? ((message, details) => console.error(message, details));
  const running = new Set<Promise<Delivery>>();
  const waits = new Set<() => void>();
  let stopped = false;

  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        waits.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      waits.add(done);
    });

  const run = async (created: EmulatedObjectCreated): Promise<Delivery> => {
    // Asynchronous, as in AWS: the write that caused the event has been answered before it runs.
    await new Promise((resolve) => setImmediate(resolve));
    const event = s3NotificationEvent(created, { region: options.region });
    for (let attempt = 0; ; attempt++) {
      if (stopped) return 'stopped';
      try {
        await invoke(event, lambdaContext(ON_OBJECT_CREATED));
        return 'delivered';
      } catch (e) {
        const retry = attempt < retryDelays.length && !stopped;
        log(
          retry
            ? `${ON_OBJECT_CREATED} failed; the event is retried`
            : `${ON_OBJECT_CREATED} failed; the event is dropped (AWS keeps it in the dead-letter queue)`,
          { key: created.key, attempt: attempt + 1, error: e instanceof Error ? e.message : String(e) },
        );
        if (!retry) return 'failed';
        await wait(retryDelays[attempt] as number);
      }
    }
  };

  return {
    deliver(created) {
      if (
        stopped ||
        created.bucket !== options.bucket ||
        !options.prefixes.some((prefix) => created.key.startsWith(prefix)) ||
        !created.eventName.startsWith('ObjectCreated:')
      ) {
        return Promise.resolve(stopped ? 'stopped' : 'filtered');
      }
      const delivery = run(created).catch(() => 'failed' as const);
      running.add(delivery);
      void delivery.finally(() => running.delete(delivery));
      return delivery;
    },
    async stop() {
      stopped = true;
      for (const done of [...waits]) done();
      await Promise.all(running);
    },
  };
}
