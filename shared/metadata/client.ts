import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { withoutSdkLogging } from '../aws-client';
import { getConfig } from '../config';
import { failpoint, faultsEnabled } from '../faults';

let documentClient: DynamoDBDocumentClient | undefined;

/** One client per cold start, built on first use. */
export function db(): DynamoDBDocumentClient {
  if (!documentClient) {
    const config = getConfig();
    const client = withoutSdkLogging(
      new DynamoDBClient({ region: config.region, endpoint: config.dynamoEndpoint }),
    );
    if (faultsEnabled()) {
      // Fault-injection tests: `dynamodb.<Command>` fails (or never returns) where a test armed it.
      // Added inside the retry step, so an injected throttle is retried by the SDK like a real one.
      client.middlewareStack.add(
        (next, context) => async (args) => {
          await failpoint(`dynamodb.${String(context.commandName).replace(/Command$/, '')}`);
          return next(args);
        },
        { step: 'deserialize', name: 'failpoints' },
      );
    }
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
