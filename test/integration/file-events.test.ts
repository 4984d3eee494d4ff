import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetEvents } from '../../shared/events';
import { deleteFile } from '../../shared/service/remove';
import { sweepExpired } from '../../shared/service/sweep';
import { principal, setupTestEnv, type TestEnv } from '../helpers/env';
import { upload } from '../helpers/service-helpers';

interface PutEntry {
  EventBusName: string;
  Source: string;
  DetailType: string;
  Detail: string;
}

let env: TestEnv;
let server: Server;
const received: PutEntry[] = [];

beforeAll(async () => {
  // Stands in for EventBridge: records PutEvents entries and accepts them.
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const entries = (JSON.parse(body) as { Entries: PutEntry[] }).Entries;
      received.push(...entries);
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      res.end(
        JSON.stringify({ FailedEntryCount: 0, Entries: entries.map((_, i) => ({ EventId: String(i) })) }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  env = await setupTestEnv({
    EVENT_BUS_NAME: 'file-events',
    AWS_ENDPOINT_URL_EVENTBRIDGE: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  });
  resetEvents();
});
afterAll(async () => {
  env.reconfigure({ EVENT_BUS_NAME: undefined, AWS_ENDPOINT_URL_EVENTBRIDGE: undefined });
  resetEvents();
  await env.cleanup();
  await new Promise((r) => server.close(r));
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
        AWS_ENDPOINT_URL_EVENTBRIDGE: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      });
      resetEvents();
    }
  });
});
