import {
  Annotations,
  Aspects,
  CfnOutput,
  Lazy,
  RemovalPolicy,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { TENANT_SCOPES } from './cognito/pre-token';
import type { StackConfig } from './config';
import { Api } from './constructs/api';
import { UserPoolAuth } from './constructs/auth';
import { Buckets } from './constructs/buckets';
import { Data } from './constructs/data';
import type { ServiceResources } from './constructs/grants';
import { FileEvents, Processing } from './constructs/processing';
import { Sweeper } from './constructs/sweeper';
import { type UiAuthConfig, UiHosting } from './constructs/ui-hosting';

export interface StorageStackProps extends StackProps {
  config: StackConfig;
}

/** The name of the stack's own bucket among the storage instances. */
export const DEFAULT_INSTANCE = 'storages.Default';

/** The scopes the UI asks an external issuer for, unless `storage:uiScopes` says otherwise. */
export const DEFAULT_UI_SCOPES = ['openid', ...TENANT_SCOPES];

interface SignIn {
  /** The stack's own user pool, when there is no issuer. */
  auth?: UserPoolAuth;
  jwtIssuer: string;
  jwtAudience: string[];
  /** OPERATOR_CLAIM of the functions. */
  operatorClaim?: string;
  /** The UI's sign-in settings in its config.json; null: none. */
  ui: UiAuthConfig | null;
}

/**
 * The whole service in one stack: table, bucket, event bus, signing secret, the HTTP API with one
 * function per route, the S3 processor and the sweeper, the admin UI behind CloudFront, and, when
 * no issuer is configured, a Cognito user pool to sign in with. Wiring only; behaviour lives in
 * functions/.
 */
export class StorageStack extends Stack {
  readonly api: Api;
  readonly data: Data;
  readonly buckets: Buckets;
  readonly fileEvents: FileEvents;
  readonly processing: Processing;
  readonly sweeper: Sweeper;
  readonly ui: UiHosting;
  /** The stack's own user pool: only without `storage:jwtIssuer`. */
  readonly auth?: UserPoolAuth;

  constructor(scope: Construct, id: string, props: StorageStackProps) {
    super(scope, id, props);
    const { config } = props;
    const removalPolicy = config.removalPolicy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
    const logRetention = config.logRetentionDays as logs.RetentionDays;

    this.data = new Data(this, 'Data', { removalPolicy });
    // The UI calls the API and uploads straight to the bucket from its own origin. Its distribution
    // is created after the buckets (its bucket logs into theirs), so its origin is filled in later.
    const allowedOrigins = [...config.allowedOrigins, Lazy.string({ produce: () => this.ui.origin })];
    this.buckets = new Buckets(this, 'Buckets', {
      removalPolicy,
      allowedOrigins,
      kmsKey: config.bucketKmsKey,
    });
    this.ui = new UiHosting(this, 'Ui', { accessLogs: this.buckets.accessLogs, logRetention, removalPolicy });

    const signIn = this.signIn(config, logRetention, removalPolicy);
    this.auth = signIn.auth;
    this.fileEvents = new FileEvents(this, 'FileEvents');

    // The HMAC key of signed links and local upload URLs. Generated at deploy time; only its ARN
    // reaches the functions, which read it once per cold start (shared/secrets.ts).
    const signingSecret = new secretsmanager.Secret(this, 'SigningSecret', {
      description: 'Signs preview/download links of the storage service',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy,
    });
    Validations.of(signingSecret).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SMG4',
      reason:
        'Rotating the link-signing key invalidates every outstanding signed link, and functions cache it per cold start; it is rotated by hand (docs/deploy.md) until the service verifies with two keys.',
    });

    const extraBuckets: s3.IBucket[] = [];
    const storageSecrets: secretsmanager.ISecret[] = [];
    for (const [name, instance] of Object.entries(config.storages)) {
      const id = name.replace(/^storages\./, '');
      if (instance.credentialsSecretArn) {
        const arn = instance.credentialsSecretArn;
        // A complete ARN ends with the 6 random characters Secrets Manager appends to the name.
        storageSecrets.push(
          /-[A-Za-z0-9]{6}$/.test(arn)
            ? secretsmanager.Secret.fromSecretCompleteArn(this, `${id}Credentials`, arn)
            : secretsmanager.Secret.fromSecretPartialArn(this, `${id}Credentials`, arn),
        );
      } else if (instance.type === 's3' && instance.bucketName) {
        // Another bucket of this account, reached with the functions' own role.
        extraBuckets.push(s3.Bucket.fromBucketName(this, `${id}Bucket`, instance.bucketName));
      }
    }

    const storages = {
      [DEFAULT_INSTANCE]: { type: 's3', bucketName: this.buckets.files.bucketName, region: this.region },
      ...config.storages,
    };
    const optional: Record<string, string | number | undefined> = {
      DEFAULT_QUOTA_BYTES: config.defaultQuotaBytes,
      QUOTA_SHARDS: config.quotaShards,
      MAX_FILE_BYTES: config.maxFileBytes,
      ALLOWED_CONTENT_TYPES: config.allowedContentTypes,
      PRESIGN_TTL_SECONDS: config.presignTtlSeconds,
      PUBLIC_BASE_URL: config.publicBaseUrl,
      OPERATOR_CLAIM: signIn.operatorClaim,
    };
    const resources: ServiceResources = {
      table: this.data.table,
      buckets: [this.buckets.files, ...extraBuckets],
      bucketKey: this.buckets.encryptionKey,
      storageSecrets,
      signingSecret,
      bus: this.fileEvents.bus,
      environment: {
        TABLE_NAME: this.data.table.tableName,
        STORAGES: this.toJsonString(storages),
        DEFAULT_STORAGE: config.defaultStorage,
        SIGNING_SECRET_ARN: signingSecret.secretArn,
        TENANT_CLAIM: config.tenantClaim,
        POWERTOOLS_LOG_LEVEL: config.logLevel,
        ...Object.fromEntries(
          Object.entries(optional)
            .filter(([, v]) => v !== undefined)
            .map(([k, v]) => [k, String(v)]),
        ),
      },
    };

    this.api = new Api(this, 'Api', {
      resources,
      jwtIssuer: signIn.jwtIssuer,
      jwtAudience: signIn.jwtAudience,
      allowedOrigins,
      throttle: { rateLimit: config.throttleRateLimit, burstLimit: config.throttleBurstLimit },
      anonymousThrottle: {
        rateLimit: config.anonymousThrottleRateLimit,
        burstLimit: config.anonymousThrottleBurstLimit,
      },
      logRetention,
      removalPolicy,
    });
    this.processing = new Processing(this, 'Processing', {
      resources,
      bucket: this.buckets.files,
      bus: this.fileEvents.bus,
      logRetention,
      removalPolicy,
    });
    this.sweeper = new Sweeper(this, 'Sweeper', {
      resources,
      rateMinutes: config.sweepRateMinutes,
      auditRateHours: config.auditRateHours,
      logRetention,
      removalPolicy,
    });

    // What the UI reads at start (infra/constructs/ui-hosting.ts), with values known at deploy time.
    this.ui.deploy({ apiUrl: config.publicBaseUrl ?? this.api.endpoint, auth: signIn.ui, devTokenUrl: null });

    new CfnOutput(this, 'UiUrl', { value: this.ui.url, description: 'The admin UI' });
    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL of the HTTP API' });
    if (this.auth) {
      new CfnOutput(this, 'UserPoolId', {
        value: this.auth.userPool.userPoolId,
        description: 'Create users here (docs/deploy.md)',
      });
      new CfnOutput(this, 'UserPoolClientId', { value: this.auth.client.userPoolClientId });
      new CfnOutput(this, 'SignInDomain', { value: this.auth.domain.baseUrl() });
    }
    new CfnOutput(this, 'BucketName', {
      value: this.buckets.files.bucketName,
      description: DEFAULT_INSTANCE,
    });
    new CfnOutput(this, 'TableName', { value: this.data.table.tableName });
    new CfnOutput(this, 'EventBusName', { value: this.fileEvents.bus.eventBusName });
    new CfnOutput(this, 'SigningSecretArn', { value: signingSecret.secretArn });

    // CDK's own singleton that writes the bucket's notification configuration; it is created
    // lazily during synthesis, so it is acknowledged from an aspect.
    Aspects.of(this).add({
      visit(node) {
        if (node.node.id.startsWith('BucketNotificationsHandler')) {
          Validations.of(node).acknowledge({
            id: 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
            reason:
              "CDK's BucketNotificationsHandler custom resource logs through AWSLambdaBasicExecutionRole; it runs only during deployments and is not part of the service.",
          });
        }
      },
    });
  }

  /**
   * Who signs in, and how the API and the UI know them. Zero configuration: without an issuer the
   * stack creates a user pool of its own; with one, it trusts that issuer and creates nothing.
   */
  private signIn(
    config: StackConfig,
    logRetention: logs.RetentionDays,
    removalPolicy: RemovalPolicy,
  ): SignIn {
    if (config.jwtIssuer) {
      const ui = config.uiClientId
        ? {
            issuer: config.jwtIssuer,
            clientId: config.uiClientId,
            scopes: config.uiScopes ?? DEFAULT_UI_SCOPES,
          }
        : null;
      if (!ui) {
        Annotations.of(this).addWarningV2(
          'storage:uiClientId',
          'No storage:uiClientId: the admin UI is deployed without sign-in settings and cannot call the API',
        );
      }
      return {
        jwtIssuer: config.jwtIssuer,
        jwtAudience: config.jwtAudience ?? [],
        operatorClaim: config.operatorClaim,
        ui,
      };
    }
    const auth = new UserPoolAuth(this, 'Auth', {
      uiUrls: this.ui.pageUrls,
      tenantClaim: config.tenantClaim,
      logRetention,
      removalPolicy,
    });
    return {
      auth,
      jwtIssuer: auth.issuer,
      jwtAudience: [auth.client.userPoolClientId],
      operatorClaim: config.operatorClaim ?? auth.operatorClaim,
      ui: auth.uiAuth,
    };
  }
}
