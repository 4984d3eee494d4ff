import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { getConfig } from '../config';

let documentClient: DynamoDBDocumentClient | undefined;

/** One client per cold start, built on first use. */
export function db(): DynamoDBDocumentClient {
  if (!documentClient) {
    const config = getConfig();
    const client = new DynamoDBClient({ region: config.region, endpoint: config.dynamoEndpoint });
    documentClient = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true },
    });
  }
  return documentClient;
}

export const tableName = () => getConfig().tableName;

export function resetDb(): void {
  documentClient?.destroy();
  documentClient = undefined;
}
