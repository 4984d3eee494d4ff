import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { functionAccess, OBJECT_ACTIONS, READ_TABLE_ACTIONS, WRITE_TABLE_ACTIONS } from '../../infra/access';
import { lambdaFunctions } from '../../infra/bundling';
import { parseStackConfig } from '../../infra/config';
import { SWEEP_INDEX, TTL_ATTRIBUTE, tableDefinition } from '../../shared/metadata/schema';
import { fallbackRoute, internalFunctions, routeKey, routes } from '../../shared/routes';
import { AUDIENCE, ISSUER, synth } from './synth';

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation resources are checked field by field
type Resource = { Type: string; Properties: any; DeletionPolicy?: string; UpdateReplacePolicy?: string };

const resourcesOf = (template: Template, type: string) =>
  template.findResources(type) as Record<string, Resource>;

/** Our functions, by their `fn` (the description is `storage: <fn>`). */
function functionsByName(template: Template): Map<string, { id: string; resource: Resource }> {
  const byName = new Map<string, { id: string; resource: Resource }>();
  for (const [id, resource] of Object.entries(resourcesOf(template, 'AWS::Lambda::Function'))) {
    const match = /^storage: (.+)$/.exec(resource.Properties.Description ?? '');
    if (match?.[1]) byName.set(match[1], { id, resource });
  }
  return byName;
}

interface Grant {
  action: string;
  resource: unknown;
}

/** Every statement of the policies attached to a function's role, flattened to action + resource. */
function grantsOf(template: Template, fn: string): Grant[] {
  const fnResource = functionsByName(template).get(fn);
  const roleId = fnResource?.resource.Properties.Role['Fn::GetAtt'][0];
  const grants: Grant[] = [];
  for (const policy of Object.values(resourcesOf(template, 'AWS::IAM::Policy'))) {
    if (!policy.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleId)) continue;
    for (const statement of policy.Properties.PolicyDocument.Statement) {
      expect(statement.Effect).toBe('Allow');
      const actions = [statement.Action].flat() as string[];
      const resources = [statement.Resource].flat();
      for (const action of actions) for (const resource of resources) grants.push({ action, resource });
    }
  }
  return grants;
}

const actionsOf = (grants: Grant[], prefix: string) =>
  [...new Set(grants.filter((g) => g.action.startsWith(prefix)).map((g) => g.action))].sort();

const refOf = (id: string) => ({ Ref: id });
const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });

/** The admin UI's origin as the template writes it (https:// and the distribution's domain). */
function uiOrigin(template: Template) {
  const [distribution] = Object.keys(resourcesOf(template, 'AWS::CloudFront::Distribution'));
  return { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [distribution, 'DomainName'] }]] };
}

describe('StorageStack template', () => {
  let template: Template;
  let ids: { table: string; bucket: string; bus: string; secret: string };

  beforeAll(() => {
    template = synth({ context: { allowedOrigins: 'https://app.example.com' } }).template();
    const only = (type: string, filter?: (r: Resource) => boolean) => {
      const found = Object.entries(resourcesOf(template, type)).filter(([, r]) => !filter || filter(r));
      expect(found, type).toHaveLength(1);
      return (found[0] as [string, Resource])[0];
    };
    ids = {
      table: only('AWS::DynamoDB::Table'),
      // The files bucket is the one that sends its access logs to files/ (the UI's go to ui/).
      bucket: only('AWS::S3::Bucket', (r) => r.Properties.LoggingConfiguration?.LogFilePrefix === 'files/'),
      bus: only('AWS::Events::EventBus'),
      secret: only('AWS::SecretsManager::Secret'),
    };
  });

  describe('API', () => {
    it('has exactly the route keys of the route table, and $default', () => {
      const keys = Object.values(resourcesOf(template, 'AWS::ApiGatewayV2::Route')).map(
        (r) => r.Properties.RouteKey,
      );
      expect(keys.sort()).toEqual([...routes.map(routeKey), '$default'].sort());
    });

    it("sends each route to its own function (the route table's fn)", () => {
      const integrations = resourcesOf(template, 'AWS::ApiGatewayV2::Integration');
      const functions = functionsByName(template);
      for (const route of Object.values(resourcesOf(template, 'AWS::ApiGatewayV2::Route'))) {
        const tableRoute =
          route.Properties.RouteKey === fallbackRoute.key
            ? fallbackRoute
            : routes.find((r) => routeKey(r) === route.Properties.RouteKey);
        const integrationId = route.Properties.Target['Fn::Join'][1][1].Ref;
        const integration = integrations[integrationId];
        expect(integration?.Properties).toMatchObject({
          IntegrationType: 'AWS_PROXY',
          PayloadFormatVersion: '2.0',
        });
        expect(integration?.Properties.IntegrationUri).toEqual(
          arnOf(functions.get(tableRoute?.fn ?? '')?.id ?? 'missing'),
        );
      }
    });

    it('has one JWT authorizer with the issuer and audience from context', () => {
      template.resourcePropertiesCountIs('AWS::ApiGatewayV2::Authorizer', {}, 1);
      template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
        AuthorizerType: 'JWT',
        IdentitySource: ['$request.header.Authorization'],
        JwtConfiguration: { Issuer: ISSUER, Audience: [AUDIENCE] },
      });
    });

    it('puts the authorizer on exactly the routes that name a permission', () => {
      const authorizerId = Object.keys(resourcesOf(template, 'AWS::ApiGatewayV2::Authorizer'))[0] as string;
      for (const route of Object.values(resourcesOf(template, 'AWS::ApiGatewayV2::Route'))) {
        const tableRoute = routes.find((r) => routeKey(r) === route.Properties.RouteKey);
        const where = route.Properties.RouteKey;
        if (tableRoute?.permission) {
          expect(route.Properties.AuthorizationType, where).toBe('JWT');
          expect(route.Properties.AuthorizerId, where).toEqual(refOf(authorizerId));
        } else {
          expect(route.Properties.AuthorizationType ?? 'NONE', where).toBe('NONE');
          expect(route.Properties.AuthorizerId, where).toBeUndefined();
        }
      }
      // The table itself has public routes, so the check above covers both cases.
      expect(routes.some((r) => r.permission === null)).toBe(true);
    });

    it('answers unmatched requests with no-route on $default, without authorizer (not API Gateway\'s {"message"})', () => {
      const functions = functionsByName(template);
      const fallback = Object.values(resourcesOf(template, 'AWS::ApiGatewayV2::Route')).filter(
        (r) => r.Properties.RouteKey === '$default',
      );
      expect(fallback).toHaveLength(1);
      const route = fallback[0] as Resource;
      expect(route.Properties.AuthorizationType ?? 'NONE').toBe('NONE');
      expect(route.Properties.AuthorizerId).toBeUndefined();
      const integrationId = route.Properties.Target['Fn::Join'][1][1].Ref;
      expect(
        resourcesOf(template, 'AWS::ApiGatewayV2::Integration')[integrationId]?.Properties,
      ).toMatchObject({
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
        IntegrationUri: arnOf(functions.get('no-route')?.id ?? 'missing'),
      });
    });

    it('throttles the routes without a token and $default on their own, below the stage default', () => {
      const stages = Object.entries(resourcesOf(template, 'AWS::ApiGatewayV2::Stage'));
      expect(stages).toHaveLength(1);
      const [stageId, stage] = stages[0] as [string, Resource];
      const anonymous = [...routes.filter((r) => r.permission === null).map(routeKey), '$default'];
      expect(Object.keys(stage.Properties.RouteSettings).sort()).toEqual(anonymous.sort());
      for (const key of anonymous) {
        expect(stage.Properties.RouteSettings[key], key).toEqual({
          ThrottlingRateLimit: 20,
          ThrottlingBurstLimit: 40,
        });
      }
      // Route settings name existing route keys: the stage waits for those routes.
      const routeIds = Object.entries(resourcesOf(template, 'AWS::ApiGatewayV2::Route'))
        .filter(([, r]) => anonymous.includes(r.Properties.RouteKey))
        .map(([id]) => id);
      expect(template.toJSON().Resources[stageId].DependsOn).toEqual(expect.arrayContaining(routeIds));

      const tuned = synth({
        context: { anonymousThrottleRateLimit: '5', anonymousThrottleBurstLimit: 7 },
      }).template();
      tuned.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
        RouteSettings: Match.objectLike({
          $default: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 7 },
        }),
      });
    });

    it('has a $default stage with throttling defaults and JSON access logs', () => {
      template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        StageName: '$default',
        AutoDeploy: true,
        DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
        AccessLogSettings: {
          DestinationArn: Match.anyValue(),
          Format: Match.stringLikeRegexp('"requestId":"\\$context.requestId"'),
        },
      });
    });

    it("answers CORS preflights for the configured origins and the admin UI's", () => {
      template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
        CorsConfiguration: Match.objectLike({
          AllowOrigins: ['https://app.example.com', uiOrigin(template)],
        }),
      });
    });
  });

  describe('functions', () => {
    it('are one per route, $default, the S3 processor, the sweeper and the audit', () => {
      const names = [...functionsByName(template).keys()].sort();
      expect(names).toEqual([...lambdaFunctions].sort());
      expect(names).toHaveLength(routes.length + 1 + internalFunctions.length);
      expect(names).toContain(fallbackRoute.fn);
      expect(internalFunctions).toEqual(expect.arrayContaining(['on-object-created', 'sweep-expired']));
      // The only others are CDK's custom resources: bucket notifications, the UI's deployment.
      const others = Object.entries(resourcesOf(template, 'AWS::Lambda::Function')).filter(
        ([, r]) => !/^storage: /.test(r.Properties.Description ?? ''),
      );
      expect(others.map(([id]) => id.replace(/[0-9A-Fa-f]{8,}$/, '')).sort()).toEqual([
        'BucketNotificationsHandler',
        'CustomCDKBucketDeployment',
      ]);
    });

    it('run Node.js 22 on arm64 with source maps, their own log group and the configuration', () => {
      const logGroups = resourcesOf(template, 'AWS::Logs::LogGroup');
      for (const [fn, { resource }] of functionsByName(template)) {
        const p = resource.Properties;
        expect(p.Runtime, fn).toBe('nodejs22.x');
        expect(p.Architectures, fn).toEqual(['arm64']);
        expect(p.Handler, fn).toBe('index.handler');
        const env = p.Environment.Variables;
        expect(env, fn).toMatchObject({
          NODE_OPTIONS: '--enable-source-maps',
          POWERTOOLS_SERVICE_NAME: 'storage',
          POWERTOOLS_LOG_LEVEL: 'INFO',
          DEFAULT_STORAGE: 'storages.Default',
          TENANT_CLAIM: 'tenant',
          TABLE_NAME: refOf(ids.table),
          SIGNING_SECRET_ARN: refOf(ids.secret),
        });
        // The secret's value is never in the template, only its ARN.
        expect(env.SIGNING_SECRET, fn).toBeUndefined();
        expect(JSON.stringify(env.STORAGES), fn).toContain('{\\"storages.Default\\":{\\"type\\":\\"s3\\"');
        expect(logGroups[p.LoggingConfig.LogGroup.Ref]?.Properties.RetentionInDays, fn).toBe(30);
        const access = functionAccess[fn];
        expect(p.MemorySize, fn).toBe(access?.memoryMb ?? 512);
      }
    });

    it('keep API functions under the 30 s integration timeout', () => {
      for (const route of [...routes, fallbackRoute]) {
        const timeout = functionsByName(template).get(route.fn)?.resource.Properties.Timeout;
        expect(timeout, route.fn).toBeLessThanOrEqual(29);
      }
    });
  });

  describe('data', () => {
    it('is the table of shared/metadata/schema.ts: keys, attributes and the sparse expiry index', () => {
      const definition = tableDefinition('x');
      const table = resourcesOf(template, 'AWS::DynamoDB::Table')[ids.table] as Resource;
      expect(table.Properties.KeySchema).toEqual(definition.KeySchema);
      const sortByName = <T extends { AttributeName?: string }>(a: T[]) =>
        [...a].sort((x, y) => String(x.AttributeName).localeCompare(String(y.AttributeName)));
      expect(sortByName(table.Properties.AttributeDefinitions)).toEqual(
        sortByName(definition.AttributeDefinitions ?? []),
      );
      expect(table.Properties.GlobalSecondaryIndexes).toEqual(definition.GlobalSecondaryIndexes);
      expect(table.Properties.GlobalSecondaryIndexes[0]).toMatchObject({
        IndexName: SWEEP_INDEX,
        Projection: { ProjectionType: 'KEYS_ONLY' },
      });
    });

    it('is on-demand, with TTL on the backstop attribute and point-in-time recovery, retained', () => {
      template.hasResource('AWS::DynamoDB::Table', {
        Properties: {
          BillingMode: 'PAY_PER_REQUEST',
          TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        },
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
      });
    });
  });

  describe('bucket', () => {
    it('is private, encrypted, logged, and aborts incomplete multipart uploads after a day', () => {
      template.hasResource('AWS::S3::Bucket', {
        Properties: {
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: true,
            BlockPublicPolicy: true,
            IgnorePublicAcls: true,
            RestrictPublicBuckets: true,
          },
          BucketEncryption: {
            ServerSideEncryptionConfiguration: [
              { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } },
            ],
          },
          LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'files/' }),
          LifecycleConfiguration: {
            Rules: Match.arrayWith([
              Match.objectLike({
                AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
                Status: 'Enabled',
              }),
              // What is left where clients upload (written again after completion, or too late) expires.
              Match.objectLike({ Prefix: '_staging/', ExpirationInDays: 1, Status: 'Enabled' }),
            ]),
          },
          CorsConfiguration: {
            CorsRules: [
              Match.objectLike({
                AllowedOrigins: ['https://app.example.com', uiOrigin(template)],
                AllowedMethods: Match.arrayWith(['PUT', 'POST']),
                ExposedHeaders: ['ETag'],
              }),
            ],
          },
        },
        DeletionPolicy: 'Retain',
      });
    });

    it('refuses requests without TLS', () => {
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: refOf(ids.bucket),
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 's3:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    });

    it('notifies the processor of every object created in the staging and assembled prefixes, and of nothing else', () => {
      const processor = functionsByName(template).get('on-object-created')?.id as string;
      const on = (prefix: string) => ({
        Events: ['s3:ObjectCreated:*'],
        LambdaFunctionArn: arnOf(processor),
        Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: prefix }] } },
      });
      template.hasResourceProperties('Custom::S3BucketNotifications', {
        BucketName: refOf(ids.bucket),
        NotificationConfiguration: {
          LambdaFunctionConfigurations: [on('_staging/'), on('_assembled/')],
        },
      });
      // Joined multipart uploads are files: no lifecycle rule may expire them.
      expect(JSON.stringify(resourcesOf(template, 'AWS::S3::Bucket'))).not.toContain('_assembled/');
    });

    it("keeps the processor's failed events in an encrypted dead-letter queue", () => {
      const processor = functionsByName(template).get('on-object-created')?.resource as Resource;
      const queueId = processor.Properties.DeadLetterConfig.TargetArn['Fn::GetAtt'][0];
      template.hasResource('AWS::SQS::Queue', { Properties: { SqsManagedSseEnabled: true } });
      expect(resourcesOf(template, 'AWS::SQS::Queue')[queueId]).toBeDefined();
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumRetryAttempts: 2 });
    });
  });

  describe('sweeper and events', () => {
    it('runs the sweeper every 5 minutes, one instance at a time, within the rate', () => {
      const sweeper = functionsByName(template).get('sweep-expired') as { id: string; resource: Resource };
      expect(sweeper.resource.Properties.ReservedConcurrentExecutions).toBe(1);
      expect(sweeper.resource.Properties.Timeout).toBeLessThan(5 * 60);
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'rate(5 minutes)',
        State: 'ENABLED',
        Targets: [Match.objectLike({ Arn: arnOf(sweeper.id), RetryPolicy: { MaximumRetryAttempts: 0 } })],
      });
    });

    it('runs the integrity audit daily, one instance at a time, report only', () => {
      const audit = functionsByName(template).get('audit-integrity') as { id: string; resource: Resource };
      expect(audit.resource.Properties.ReservedConcurrentExecutions).toBe(1);
      expect(audit.resource.Properties.Timeout).toBe(900);
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'rate(1 day)',
        State: 'ENABLED',
        Targets: [Match.objectLike({ Arn: arnOf(audit.id), RetryPolicy: { MaximumRetryAttempts: 0 } })],
      });
    });

    it("renders eager thumbnails on the bus's FileUploaded events of images, failures kept in the dead-letter queue", () => {
      const renderer = functionsByName(template).get('render-thumbnails') as {
        id: string;
        resource: Resource;
      };
      expect(renderer.resource.Properties.MemorySize).toBeGreaterThanOrEqual(1536);
      template.hasResourceProperties('AWS::Events::Rule', {
        EventBusName: refOf(ids.bus),
        EventPattern: {
          source: ['storage-service'],
          'detail-type': ['FileUploaded'],
          detail: { contentType: [{ prefix: 'image/' }] },
        },
        Targets: [
          Match.objectLike({
            Arn: arnOf(renderer.id),
            RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 2 }),
            DeadLetterConfig: Match.anyValue(),
          }),
        ],
      });
      // The thumbnail route renders with the same memory (sharp; Lambda's CPU follows memory).
      const route = functionsByName(template).get('get-thumbnail') as { id: string; resource: Resource };
      expect(route.resource.Properties.MemorySize).toBeGreaterThanOrEqual(1536);
    });

    it('has a file-event bus that only the emitting functions may put events on', () => {
      const emitters = Object.entries(functionAccess)
        .filter(([, a]) => a.emits)
        .map(([fn]) => fn)
        .sort();
      expect(emitters).toEqual(
        expect.arrayContaining(['upload-object', 'delete-object', 'on-object-created', 'sweep-expired']),
      );
      const putters: string[] = [];
      for (const [fn, { resource }] of functionsByName(template)) {
        const puts = grantsOf(template, fn).filter((g) => g.action === 'events:PutEvents');
        if (puts.length) {
          putters.push(fn);
          expect(puts.map((g) => g.resource)).toEqual([arnOf(ids.bus)]);
          expect(resource.Properties.Environment.Variables.EVENT_BUS_NAME).toEqual(refOf(ids.bus));
        } else {
          expect(resource.Properties.Environment.Variables.EVENT_BUS_NAME).toBeUndefined();
        }
      }
      expect(putters.sort()).toEqual(emitters);
    });

    it('outputs the API URL, bucket, table and bus', () => {
      const outputs = template.findOutputs('*');
      expect(Object.keys(outputs)).toEqual(
        expect.arrayContaining(['ApiUrl', 'BucketName', 'TableName', 'EventBusName']),
      );
      expect(outputs.BucketName?.Value).toEqual(refOf(ids.bucket));
      expect(outputs.TableName?.Value).toEqual(refOf(ids.table));
    });
  });

  describe('least privilege', () => {
    it('gives every function exactly its row of infra/access.ts, and nothing else', () => {
      for (const fn of lambdaFunctions) {
        const access = functionAccess[fn] ?? {};
        const grants = grantsOf(template, fn);
        const table =
          access.table === 'write' ? WRITE_TABLE_ACTIONS : access.table === 'read' ? READ_TABLE_ACTIONS : [];
        expect(actionsOf(grants, 'dynamodb:'), fn).toEqual(
          [...table, ...(access.scan ? ['dynamodb:Scan'] : [])].sort(),
        );
        for (const g of grants.filter((x) => x.action.startsWith('dynamodb:'))) {
          const onIndex = JSON.stringify(g.resource).includes(`/index/${SWEEP_INDEX}`);
          expect(g.resource, fn).toEqual(onIndex ? expect.anything() : arnOf(ids.table));
          if (onIndex) expect(access.sweepIndex && g.action === 'dynamodb:Query', fn).toBe(true);
        }
        const o = access.objects ?? {};
        const objectActions = [
          ...new Set([
            ...(o.read ? [...OBJECT_ACTIONS.read, 's3:ListBucket'] : []),
            ...(o.write ? OBJECT_ACTIONS.write : []),
            ...(o.delete ? OBJECT_ACTIONS.delete : []),
            ...(o.parts ? OBJECT_ACTIONS.parts : []),
          ]),
        ];
        expect(actionsOf(grants, 's3:'), fn).toEqual(objectActions.sort());
        expect(actionsOf(grants, 'logs:'), fn).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
        expect(actionsOf(grants, 'secretsmanager:'), fn).toEqual([
          'secretsmanager:DescribeSecret',
          'secretsmanager:GetSecretValue',
        ]);
        // Only the S3 processor sends to its dead-letter queue.
        expect(actionsOf(grants, 'sqs:').length > 0, fn).toBe(fn === 'on-object-created');
        const services = new Set(grants.map((g) => g.action.split(':')[0]));
        for (const s of services)
          expect(['dynamodb', 's3', 'logs', 'secretsmanager', 'events', 'sqs'], fn).toContain(s);
        for (const g of grants) expect(g.action, fn).not.toMatch(/\*/);
      }
    });

    it('leaves the read functions without any write or delete action (preview cannot delete or write)', () => {
      const readOnly = [
        'preview-object',
        'download-object',
        'get-file-record',
        'list-objects',
        'create-link',
        'get-usage',
        'list-storages',
      ];
      for (const fn of readOnly) {
        const dataActions = grantsOf(template, fn)
          .map((g) => g.action)
          .filter((a) => a.startsWith('dynamodb:') || a.startsWith('s3:') || a.startsWith('events:'));
        for (const action of dataActions) {
          expect(action, fn).toMatch(/^(dynamodb:(GetItem|Query)|s3:(GetObject|ListBucket))$/);
        }
      }
      expect(grantsOf(template, 'list-storages').some((g) => /^(dynamodb|s3):/.test(g.action))).toBe(false);
    });

    it('grants object actions on the bucket only, and the sweeper alone may query the expiry index', () => {
      for (const fn of lambdaFunctions) {
        for (const g of grantsOf(template, fn).filter((x) => x.action.startsWith('s3:'))) {
          expect(JSON.stringify(g.resource), fn).toContain(ids.bucket);
        }
        const onIndex = grantsOf(template, fn).filter((g) => JSON.stringify(g.resource).includes('/index/'));
        expect(onIndex.length > 0, fn).toBe(fn === 'sweep-expired');
      }
    });

    it('uses roles of its own, without AWS managed policies', () => {
      const ours = new Set(
        [...functionsByName(template).values()].map((f) => f.resource.Properties.Role['Fn::GetAtt'][0]),
      );
      for (const [id, role] of Object.entries(resourcesOf(template, 'AWS::IAM::Role'))) {
        if (ours.has(id)) expect(role.Properties.ManagedPolicyArns, id).toBeUndefined();
      }
      expect(ours.size).toBe(lambdaFunctions.length);
    });
  });
});

describe('StorageStack options', () => {
  it('follows the sweep rate, removal policy and KMS choice from context', () => {
    const template = synth({
      context: {
        sweepRateMinutes: '15',
        removalPolicy: 'destroy',
        bucketKmsKey: 'create',
        logRetentionDays: 90,
      },
    }).template();
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(15 minutes)' });
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete' });
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          Match.objectLike({
            ServerSideEncryptionByDefault: Match.objectLike({ SSEAlgorithm: 'aws:kms' }),
            BucketKeyEnabled: true,
          }),
        ],
      },
    });
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    // Without allowed origins, CORS admits the admin UI alone.
    template.hasResourceProperties('AWS::S3::Bucket', {
      CorsConfiguration: { CorsRules: [Match.objectLike({ AllowedOrigins: [uiOrigin(template)] })] },
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: Match.objectLike({ AllowOrigins: [uiOrigin(template)] }),
    });
    // Writers may encrypt with the key; readers may only decrypt; others get nothing.
    const kmsActions = (fn: string) => actionsOf(grantsOf(template, fn), 'kms:');
    expect(kmsActions('upload-object')).toContain('kms:GenerateDataKey*');
    expect(kmsActions('preview-object')).toEqual(['kms:Decrypt']);
    expect(kmsActions('get-usage')).toEqual([]);
  });

  it('passes the operator identity to the functions only when a deployment configures one', () => {
    const envOf = (t: Template) =>
      [...functionsByName(t)].map(([fn, { resource }]) => [fn, resource.Properties.Environment.Variables]);
    for (const [fn, env] of envOf(synth().template())) expect(env.OPERATOR_CLAIM, fn).toBeUndefined();
    const configured = synth({ context: { operatorClaim: 'cognito:groups=storage-operators' } }).template();
    for (const [fn, env] of envOf(configured))
      expect(env.OPERATOR_CLAIM, fn).toBe('cognito:groups=storage-operators');
    expect(() => synth({ context: { operatorClaim: 'storage-operators' } })).toThrow(/storage:operatorClaim/);
  });

  it('passes extra storage instances through and grants their credentials secret to object functions only', () => {
    const secretArn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:oss-credentials-AbCdEf';
    const storages = {
      'storages.MyOss': {
        type: 'aliyun-oss',
        region: 'oss-cn-hangzhou',
        endPoint: 'oss-cn-hangzhou.aliyuncs.com',
        bucketName: 'acme',
        credentialsSecretArn: secretArn,
      },
    };
    const template = synth({ context: { storages: JSON.stringify(storages) } }).template();
    const functions = functionsByName(template);
    for (const fn of lambdaFunctions) {
      const env = JSON.stringify(functions.get(fn)?.resource.Properties.Environment.Variables.STORAGES);
      expect(env, fn).toContain('storages.MyOss');
      expect(env, fn).toContain(secretArn);
      const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter(
        (p) => p.Properties.Roles[0].Ref === functions.get(fn)?.resource.Properties.Role['Fn::GetAtt'][0],
      );
      const readsSecret = JSON.stringify(policies).includes(secretArn);
      expect(readsSecret, fn).toBe(Object.keys(functionAccess[fn]?.objects ?? {}).length > 0);
    }
    // The credentials' ARN is all that reaches the environment: no key or secret field at all.
    for (const [fn, { resource }] of functions) {
      const variables = JSON.stringify(resource.Properties.Environment.Variables);
      expect(variables, fn).not.toMatch(/accessKey|secretAccessKey|sasToken|password/i);
    }
  });

  it('refuses inline credentials in storage:storages, naming the key and pointing at credentialsSecretArn', () => {
    const withInline = (extra: Record<string, unknown>) => () =>
      synth({
        context: {
          storages: JSON.stringify({
            'storages.MyOss': {
              type: 'aliyun-oss',
              region: 'oss-cn-hangzhou',
              bucketName: 'acme',
              ...extra,
            },
          }),
        },
      });
    expect(withInline({ accessKeyId: 'LTAI-key', accessKeySecret: 'TOPSECRET' })).toThrow(
      /storage:storages\.storages\.MyOss\.accessKeySecret: .*credentialsSecretArn/,
    );
    expect(withInline({ accessKeyId: 'LTAI-key', accessKeySecret: 'TOPSECRET' })).toThrow(
      /storages\.MyOss\.accessKeyId: /,
    );
    for (const key of ['secretAccessKey', 'sasToken', 'connectionString', 'password']) {
      expect(withInline({ [key]: 'x', credentialsSecretArn: 'arn:aws:secretsmanager:x' }), key).toThrow(
        new RegExp(`storages\\.MyOss\\.${key}: .*credentialsSecretArn`),
      );
    }
    // The secret's value never appears in the message either.
    expect(withInline({ accessKeySecret: 'TOPSECRET' })).toThrow(
      expect.objectContaining({
        message: expect.not.stringContaining('TOPSECRET'),
      }),
    );
  });

  it('checks extra storages as the functions will at cold start: an http: endPoint only with allowHttp', () => {
    const minio = (extra: Record<string, unknown>) =>
      parseStackConfig({
        jwtIssuer: ISSUER,
        jwtAudience: 'a',
        storages: {
          'storages.Minio': {
            type: 'minio',
            endPoint: 'http://minio.internal:9000',
            bucketName: 'acme',
            credentialsSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:minio-AbCdEf',
            ...extra,
          },
        },
      });
    expect(() => minio({})).toThrow(/storage:storages\.storages\.Minio\.endPoint: is http:.*allowHttp/);
    expect(minio({ allowHttp: true }).storages['storages.Minio']).toMatchObject({ allowHttp: true });
    expect(() =>
      minio({ endPoint: 'https://minio.internal:9000', customDomain: 'http://files.example.com' }),
    ).toThrow(/storages\.Minio\.customDomain: is http:/);
    // A field the functions need is missing: caught at synth, not at the first cold start.
    expect(() =>
      parseStackConfig({
        jwtIssuer: ISSUER,
        jwtAudience: 'a',
        storages: {
          'storages.Oss': { type: 'aliyun-oss', bucketName: 'acme', credentialsSecretArn: 'arn:x' },
        },
      }),
    ).toThrow(/storages\.Oss\.region/);
  });

  it('needs no issuer, but an issuer needs its audience; the pool settings need the issuer', () => {
    // Zero configuration: the stack creates its own user pool.
    const zero = parseStackConfig({});
    expect([zero.jwtIssuer, zero.jwtAudience]).toEqual([undefined, undefined]);
    expect(() => parseStackConfig({ jwtAudience: 'a' })).toThrow(
      /storage:jwtAudience: only with storage:jwtIssuer/,
    );
    expect(() => parseStackConfig({ uiClientId: 'ui' })).toThrow(
      /storage:uiClientId: only with storage:jwtIssuer/,
    );
    expect(() => parseStackConfig({ jwtIssuer: 'http://insecure.example.com', jwtAudience: 'a' })).toThrow(
      /storage:jwtIssuer/,
    );
    expect(() => parseStackConfig({ jwtIssuer: ISSUER })).toThrow(/storage:jwtAudience: required/);
    expect(
      parseStackConfig({ jwtIssuer: ISSUER, jwtAudience: 'a', uiScopes: 'openid  profile,x' }).uiScopes,
    ).toEqual(['openid', 'profile', 'x']);
    expect(() =>
      parseStackConfig({ jwtIssuer: ISSUER, jwtAudience: 'a', sweepRateMinutes: 'often' }),
    ).toThrow(/storage:sweepRateMinutes/);
    expect(() =>
      parseStackConfig({ jwtIssuer: ISSUER, jwtAudience: 'a', defaultStorage: 'storages.Missing' }),
    ).toThrow(/storage:defaultStorage/);
    expect(parseStackConfig({ jwtIssuer: ISSUER, jwtAudience: 'a, b' }).jwtAudience).toEqual(['a', 'b']);
  });
});
