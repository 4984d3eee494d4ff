import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { withoutSdkLogging } from './aws-client';
import { logger } from './logger';
import type { FileRecord } from './metadata/items';

export type FileEventType = 'FileUploaded' | 'FileDeleted' | 'FileExpired';

export const EVENT_SOURCE = 'storage-service';

let client: Promise<EventBridgeClient> | undefined;

type FileEventListener = (type: FileEventType, record: FileRecord) => void;
const listeners = new Set<FileEventListener>();

/**
 * Listens to this process's file events: the one-machine runtime's stand-in for the bus's rules
 * (what a rule would invoke in AWS, it runs in the background). Returns the way to stop.
 */
export function onFileEvent(listener: FileEventListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/**
 * Puts a file event on the EventBridge bus named by EVENT_BUS_NAME (set by the stack for exactly the
 * functions allowed to emit), and hands it to this process's listeners (the local runtime's). Without
 * a bus (local runtime, tests) nothing leaves the process. Emission is best
 * effort: the file operation has already happened, so a failure is logged, never thrown.
 */
export function emitFileEvent(type: FileEventType, record: FileRecord): Promise<void> {
  return emitFileEvents(type, [record]);
}

/** Several events of one type (the sweeper's expiries): PutEvents takes 10 entries a request. */
export async function emitFileEvents(type: FileEventType, records: FileRecord[]): Promise<void> {
  for (const record of records) for (const listener of listeners) listener(type, record);
  const bus = process.env.EVENT_BUS_NAME;
  if (!bus || records.length === 0) return;
  const batches: FileRecord[][] = [];
  for (let i = 0; i < records.length; i += 10) batches.push(records.slice(i, i + 10));
  await Promise.all(batches.map((batch) => putEvents(bus, type, batch)));
}

async function putEvents(bus: string, type: FileEventType, records: FileRecord[]): Promise<void> {
  try {
    // Loaded on first use, once per cold start: functions that never emit do not build the client.
    client ??= import('@aws-sdk/client-eventbridge').then(({ EventBridgeClient }) =>
      withoutSdkLogging(new EventBridgeClient({})),
    );
    const { PutEventsCommand } = await import('@aws-sdk/client-eventbridge');
    const entries = records.map((record) => ({
      EventBusName: bus,
      Source: EVENT_SOURCE,
      DetailType: type,
      Detail: JSON.stringify({
        id: record.id,
        tenant: record.tenant,
        storage: record.storage,
        path: record.path,
        size: record.size,
        md5: record.md5,
        contentType: record.contentType,
      }),
    }));
    const result = await (await client).send(new PutEventsCommand({ Entries: entries }));
    if (result.FailedEntryCount)
      logger.warn('file events not accepted', {
        type,
        ids: records.map((r) => r.id),
        result: result.Entries,
      });
  } catch (e) {
    logger.warn('file events not sent', { type, ids: records.map((r) => r.id), error: e as Error });
  }
}

/** Tests: forget the client. */
export function resetEvents(): void {
  client = undefined;
}
