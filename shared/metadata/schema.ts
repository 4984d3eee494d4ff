import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

/**
 * One table holds every kind of item; the partition key's prefix says which:
 *   F#{tenant}#{storage} / {path}       file record (unique per tenant, storage, path: the key itself)
 *   U#{tenant}           / {uploadId}   upload session: PENDING holds a quota reservation and owns the
 *                                        objects the upload writes; COMPLETED remembers a direct upload's result
 *   B#{tenant}#{storage} / {md5}        deduplicated blob: WRITING (claimed by a session) or READY, refCount
 *   G#{tenant}#{storage} / {objectKey}  garbage: an object nothing references any more, to be deleted
 *   Q#{tenant}           / -            quota counter
 *   S#sweeper            / -            where the sweeper starts its next run
 * Items the sweeper must visit (expiring files, sessions, garbage, completed markers) carry
 * sweepShard + sweepAt, which puts them, and only them, in the sparse `by-sweep` index.
 * `ttl` is set only on items whose deletion has no side effect (COMPLETED markers): see
 * docs/decisions.md.
 */
export const KEY = { pk: 'pk', sk: 'sk' } as const;
export const SWEEP_INDEX = 'by-sweep';
export const SWEEP_SHARDS = 4;
export const TTL_ATTRIBUTE = 'ttl';

export function tableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
      { AttributeName: 'sweepShard', AttributeType: 'S' },
      { AttributeName: 'sweepAt', AttributeType: 'N' },
    ],
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: SWEEP_INDEX,
        KeySchema: [
          { AttributeName: 'sweepShard', KeyType: 'HASH' },
          { AttributeName: 'sweepAt', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
    ],
  };
}
