import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

/**
 * One table holds every kind of item; the partition key's prefix says which:
 *   F#{tenant}#{storage} / {path}     file record (unique per tenant, storage, path: the key itself)
 *   U#{tenant}           / {uploadId} upload session: a PENDING upload holding a quota reservation
 *   B#{tenant}#{storage} / {md5}      deduplicated blob with its reference count
 *   Q#{tenant}           / -          quota counter
 * Items that expire also carry expShard + expiresAt, which puts them (and only them) in the sparse
 * `by-expiry` index that the sweeper queries. `ttl` is a backstop for DynamoDB's own TTL deletion.
 */
export const KEY = { pk: 'pk', sk: 'sk' } as const;
export const EXPIRY_INDEX = 'by-expiry';
export const EXPIRY_SHARDS = 4;
export const TTL_ATTRIBUTE = 'ttl';

export function tableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
      { AttributeName: 'expShard', AttributeType: 'S' },
      { AttributeName: 'expiresAt', AttributeType: 'N' },
    ],
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: EXPIRY_INDEX,
        KeySchema: [
          { AttributeName: 'expShard', KeyType: 'HASH' },
          { AttributeName: 'expiresAt', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
    ],
  };
}
