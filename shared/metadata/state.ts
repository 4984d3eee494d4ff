import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { db, tableName } from './client';

/** Small items where the scheduled jobs remember where to go on (S#{job} / -). */
const stateKey = (job: string) => ({ pk: `S#${job}`, sk: '-' });

async function getState(job: string): Promise<Record<string, unknown> | undefined> {
  const { Item } = await db().send(
    new GetCommand({ TableName: tableName(), Key: stateKey(job), ConsistentRead: true }),
  );
  return Item;
}

async function setState(job: string, value: Record<string, unknown>): Promise<void> {
  await db().send(new PutCommand({ TableName: tableName(), Item: { ...stateKey(job), ...value } }));
}

/**
 * Where the sweeper goes on: the shard to start the next run with (each shard is first in turn)
 * and, per shard, the index position a run stopped at, so the next run continues there instead
 * of reading the same head of the index again.
 */
export interface SweeperState {
  nextShard: number;
  cursors: Record<string, Record<string, unknown>>;
}

export async function loadSweeperState(): Promise<SweeperState> {
  const state = await getState('sweeper');
  return {
    nextShard: typeof state?.nextShard === 'number' ? state.nextShard : 0,
    cursors: (state?.cursors as SweeperState['cursors'] | undefined) ?? {},
  };
}

export async function saveSweeperState(state: SweeperState): Promise<void> {
  await setState('sweeper', { nextShard: state.nextShard, cursors: state.cursors });
}

/** Where the scheduled audit of every tenant goes on (the last tenant it audited), if it stopped early. */
export async function getAuditCursor(): Promise<string | undefined> {
  const state = await getState('audit');
  return typeof state?.cursor === 'string' ? state.cursor : undefined;
}

export async function setAuditCursor(cursor: string | undefined): Promise<void> {
  await setState('audit', cursor ? { cursor } : {});
}
