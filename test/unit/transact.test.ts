import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resetConfig } from '../../shared/config';
import { resetDb } from '../../shared/metadata/client';
import { ConditionFailed, transactWrite } from '../../shared/metadata/transact';

// Unit test: the DynamoDB client is mocked (aws-sdk-client-mock); DynamoDB Local cannot be made to
// report a TransactionConflict on demand.
const ddb = mockClient(DynamoDBDocumentClient);

const cancelled = (...codes: string[]) =>
  new TransactionCanceledException({
    message: 'Transaction cancelled',
    $metadata: {},
    CancellationReasons: codes.map((Code) => ({ Code })),
  });

beforeAll(() => {
  process.env.SIGNING_SECRET = 'x'.repeat(32);
  resetConfig();
  resetDb();
});
beforeEach(() => ddb.reset());
afterAll(() => ddb.restore());

const item = {
  ConditionCheck: { TableName: 't', Key: { pk: 'a', sk: 'b' }, ConditionExpression: 'attribute_exists(pk)' },
};

describe('transactWrite', () => {
  it('retries a transaction cancelled by a conflict with another transaction', async () => {
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(cancelled('None', 'TransactionConflict'))
      .rejectsOnce(cancelled('TransactionConflict', 'None'))
      .resolves({});
    await transactWrite([item, item]);
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(3);
  });

  it('reports failed conditions by position without retrying', async () => {
    ddb.on(TransactWriteCommand).rejects(cancelled('None', 'ConditionalCheckFailed'));
    const error = await transactWrite([item, item]).catch((e) => e);
    expect(error).toBeInstanceOf(ConditionFailed);
    expect((error as ConditionFailed).failed).toEqual([false, true]);
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(1);
  });

  it('gives up after the attempts allowed with SERVICE_BUSY (503, retry later), the conflict as its cause', async () => {
    ddb.on(TransactWriteCommand).rejects(cancelled('TransactionConflict'));
    const error = await transactWrite([item], 3).catch((e) => e);
    expect(error).toMatchObject({ code: 'SERVICE_BUSY', status: 503 });
    expect((error as Error).cause).toBeInstanceOf(TransactionCanceledException);
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(3);
  });
});
