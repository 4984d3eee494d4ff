import type { KeySchemaElement } from '@aws-sdk/client-dynamodb';
import type { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { TTL_ATTRIBUTE, tableDefinition } from '../../shared/metadata/schema';

/**
 * The metadata table, built from the very definition the local runtime and the tests create
 * (shared/metadata/schema.ts), so keys and indexes cannot drift from what the code queries.
 */
export interface DataProps {
  removalPolicy: RemovalPolicy;
}

export class Data extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: DataProps) {
    super(scope, id);
    const definition = tableDefinition('unused');
    const attribute = (name: string | undefined): dynamodb.Attribute => {
      const type = definition.AttributeDefinitions?.find((a) => a.AttributeName === name)?.AttributeType;
      if (!name || !type) throw new Error(`tableDefinition() does not define attribute ${name}`);
      return { name, type: type as dynamodb.AttributeType };
    };
    const keys = (schema: KeySchemaElement[] | undefined) => ({
      partitionKey: attribute(schema?.find((k) => k.KeyType === 'HASH')?.AttributeName),
      sortKey: schema?.some((k) => k.KeyType === 'RANGE')
        ? attribute(schema.find((k) => k.KeyType === 'RANGE')?.AttributeName)
        : undefined,
    });

    this.table = new dynamodb.Table(this, 'Table', {
      ...keys(definition.KeySchema),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: TTL_ATTRIBUTE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: props.removalPolicy,
    });
    for (const index of definition.GlobalSecondaryIndexes ?? []) {
      const projection = index.Projection?.ProjectionType ?? 'ALL';
      this.table.addGlobalSecondaryIndex({
        indexName: index.IndexName as string,
        ...keys(index.KeySchema),
        projectionType: projection as dynamodb.ProjectionType,
        nonKeyAttributes: index.Projection?.NonKeyAttributes,
      });
    }
  }
}
