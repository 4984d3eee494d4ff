import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetEvents } from '../../shared/events';
import { deleteFile } from '../../shared/service/remove';
import { sweepExpired } from '../../shared/service/sweep';
import { type AwsJsonServer, startAwsJsonServer } from '../helpers/aws-json-server';
import { principal, setupTestEnv, type TestEnv } from '../helpers/env';
import { upload } from '../helpers/service-helpers';

interface PutEntry {
  EventBusName: string;
  Source: string;
  DetailType: string;
  Detail: string;
}

let env: TestEnv;
let eventBridge: AwsJsonServer;
const received: PutEntry[] = [];

beforeAll(async () => {
  // Stands in for EventBridge: records PutEvents entries and accepts them.
  eventBridge = await startAwsJsonServer((input: { Entries: PutEntry[] }) => {
    received.push(...input.Entries);
    return { FailedEntryCount: 0, Entries: input.Entries.map((_, i) => ({ EventId: String(i) })) };
  });
  env = await setupTestEnv({
    EVENT_BUS_NAME: 'file-events',
    AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridge.endpoint,
  });
  resetEvents();
});
afterAll(async () => {
  env.reconfigure({ EVENT_BUS_NAME: undefined, AWS_ENDPOINT_URL_EVENTBRIDGE: undefined });
  resetEvents();
  await env.cleanup();
  await eventBridge.close();
});

const events = (type: string) =>
  received
    .filter((e) => e.DetailType === type)
    .map((e) => ({ bus: e.EventBusName, source: e.Source, ...JSON.parse(e.Detail) }));

describe('file events on the EventBridge bus (integration, fake EventBridge endpoint)', () => {
  it('emits FileUploaded, FileDeleted and FileExpired with the file facts', async () => {
    const t = principal('events');
    const kept = await upload(t, 'a.txt', 'hello');
    await deleteFile('events', undefined, 'a.txt');
    await upload(t, 'b.txt', 'short', { expires: 1 });
    await sweepExpired({ now: Date.now() + 2000, deadline: Date.now() + 30_000 });

    expect(events('FileUploaded')).toEqual([
      expect.objectContaining({
        bus: 'file-events',
        source: 'storage-service',
        id: kept.id,
        tenant: 'events',
        path: 'a.txt',
        size: 5,
      }),
      expect.objectContaining({ path: 'b.txt' }),
    ]);
    expect(events('FileDeleted')).toEqual([expect.objectContaining({ id: kept.id, path: 'a.txt' })]);
    expect(events('FileExpired')).toEqual([expect.objectContaining({ path: 'b.txt', tenant: 'events' })]);
  });

  it('a bus that fails does not fail the upload', async () => {
    env.reconfigure({ AWS_ENDPOINT_URL_EVENTBRIDGE: 'http://127.0.0.1:9' });
    resetEvents();
    try {
      expect((await upload(principal('events-down'), 'c.txt', 'still stored')).size).toBe(12);
    } finally {
      env.reconfigure({
        AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridge.endpoint,
      });
      resetEvents();
    }
  });
});
