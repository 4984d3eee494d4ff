import { Aws, Duration, Fn, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { PRE_TOKEN_FUNCTION } from '../bundling';
import { OPERATORS_GROUP, POOL_OPERATOR_CLAIM, TENANT_ATTRIBUTE } from '../cognito/pre-token';

/** The tenant attribute as the pool's schema names it (`custom:` is Cognito's prefix). */
const TENANT_SCHEMA_NAME = TENANT_ATTRIBUTE.replace(/^custom:/, '');

import { FUNCTION_HANDLER, functionCode } from './storage-function';
import type { UiAuthConfig } from './ui-hosting';

/** Where a developer runs the UI against a deployed stack (its sign-in returns there too). */
export const LOCAL_UI_URLS = [
  'http://localhost:3000/',
  'http://localhost:3000/admin',
  'http://localhost:3000/admin/',
];

/** Scopes the UI asks for; the storage scopes are added by the trigger (infra/cognito/pre-token.ts). */
const POOL_OAUTH_SCOPES = [cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL];
export const POOL_UI_SCOPES = POOL_OAUTH_SCOPES.map((s) => s.scopeName);

/**
 * The Cognito domain's prefix: unique per region across all accounts, so it ends with the first
 * part of the stack's id (random per stack); it may not contain "aws", "amazon" or "cognito".
 */
export function domainPrefix(stackName: string): string {
  let base = Token.isUnresolved(stackName) ? '' : stackName.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  // Until none is left: removing one may join the letters around it into another.
  while (/aws|amazon|cognito/.test(base)) base = base.replace(/aws|amazon|cognito/g, '');
  base = base.replace(/-+/g, '-').replace(/^-|-$/g, '').slice(0, 40).replace(/-$/, '');
  const stackIdPart = Fn.select(0, Fn.split('-', Fn.select(2, Fn.split('/', Aws.STACK_ID))));
  return Fn.join('-', [base || 'storage', stackIdPart]);
}

export interface UserPoolAuthProps {
  /** The UI's addresses: sign-in returns there, sign-out too. */
  uiUrls: string[];
  /** The claim the trigger writes the tenant into (the service's TENANT_CLAIM). */
  tenantClaim: string;
  logRetention: logs.RetentionDays;
  removalPolicy: RemovalPolicy;
}

/**
 * The sign-in of a stack deployed without an issuer: a Cognito user pool of its own. Nobody signs
 * up; an administrator creates users with their tenant (`custom:tenant`, which the app client can
 * read but not write) and adds operators to the `storage-operators` group. The UI signs in through
 * the pool's hosted UI with the authorization code flow and PKCE (public client, no secret); a
 * pre-token-generation trigger puts the tenant claim and the storage scopes into the access token,
 * which the API's JWT authorizer accepts (issuer = the pool, audience = the client's id, which
 * Cognito access tokens carry as `client_id`).
 */
export class UserPoolAuth extends Construct {
  readonly userPool: cognito.UserPool;
  readonly client: cognito.UserPoolClient;
  readonly domain: cognito.UserPoolDomain;
  readonly operators: cognito.UserPoolGroup;
  readonly preTokenFunction: lambda.Function;

  constructor(scope: Construct, id: string, props: UserPoolAuthProps) {
    super(scope, id);
    this.userPool = new cognito.UserPool(this, 'UserPool', {
      // Access token customization (trigger event V2_0) needs Essentials or Plus.
      featurePlan: cognito.FeaturePlan.ESSENTIALS,
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      signInCaseSensitive: false,
      autoVerify: { email: true },
      // A changed email takes effect only once verified: until then the user signs in with the old one.
      keepOriginal: { email: true },
      standardAttributes: { email: { required: true, mutable: true } },
      customAttributes: {
        // Writable by administrators only: the app client's write attributes leave it out.
        [TENANT_SCHEMA_NAME]: new cognito.StringAttribute({
          minLen: 1,
          maxLen: 64,
          mutable: true,
        }),
      },
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      // The UI can delete a tenant's files: every sign-in needs an authenticator app (TOTP), set
      // up on the hosted UI at the first sign-in. No SMS (an SNS role and its costs).
      mfa: cognito.Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      deletionProtection: props.removalPolicy !== RemovalPolicy.DESTROY,
      removalPolicy: props.removalPolicy,
    });
    Validations.of(this.userPool).acknowledge({
      id: 'AwsSolutions::AwsSolutions-COG8',
      reason:
        'Essentials has the access token customization the API needs and a free tier of 10,000 monthly users, so an idle stack costs nothing; Plus (threat protection) is billed for every monthly user and can be switched on in the console.',
    });

    this.operators = new cognito.UserPoolGroup(this, 'Operators', {
      userPool: this.userPool,
      groupName: OPERATORS_GROUP,
      description: 'Storage operators: quotas, usage recalculation, the integrity audit (storage:manage)',
    });

    this.domain = this.userPool.addDomain('Domain', {
      cognitoDomain: { domainPrefix: domainPrefix(Stack.of(this).stackName) },
      // The classic hosted UI needs no branding resource; managed login would need one per client.
      managedLoginVersion: cognito.ManagedLoginVersion.CLASSIC_HOSTED_UI,
    });

    const uiUrls = [...props.uiUrls, ...LOCAL_UI_URLS];
    this.client = this.userPool.addClient('UiClient', {
      userPoolClientName: 'storage-admin-ui',
      // A browser app keeps no secret: a public client, which PKCE protects.
      generateSecret: false,
      authFlows: { userSrp: true },
      oAuth: {
        flows: { authorizationCodeGrant: true },
        scopes: POOL_OAUTH_SCOPES,
        callbackUrls: uiUrls,
        logoutUrls: uiUrls,
      },
      supportedIdentityProviders: [cognito.UserPoolClientIdentityProvider.COGNITO],
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
      accessTokenValidity: Duration.hours(1),
      idTokenValidity: Duration.hours(1),
      // A browser holds the refresh token: a working day, not Cognito's 30 days.
      refreshTokenValidity: Duration.hours(12),
      readAttributes: new cognito.ClientAttributes()
        .withStandardAttributes({ email: true, emailVerified: true })
        .withCustomAttributes(TENANT_SCHEMA_NAME),
      // Cognito requires required attributes to be writable; the tenant is not among them.
      writeAttributes: new cognito.ClientAttributes().withStandardAttributes({ email: true }),
    });

    // The trigger: small, no data access, its own role that may only write its logs.
    const logGroup = new logs.LogGroup(this, 'PreTokenLogs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    const role = new iam.Role(this, 'PreTokenRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Cognito pre token generation of the storage user pool',
    });
    logGroup.grantWrite(role);
    this.preTokenFunction = new lambda.Function(this, 'PreToken', {
      code: functionCode(PRE_TOKEN_FUNCTION),
      handler: FUNCTION_HANDLER,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      // Cognito waits 5 seconds for a trigger.
      timeout: Duration.seconds(5),
      role,
      logGroup,
      description: 'Cognito pre token generation: tenant claim and storage scopes in access tokens',
      environment: { TENANT_CLAIM: props.tenantClaim, NODE_OPTIONS: '--enable-source-maps' },
    });
    Validations.of(this.preTokenFunction).acknowledge({
      id: 'AwsSolutions::AwsSolutions-L1',
      reason:
        'Node.js 22 is the runtime every bundle of the stack targets (NODE_TARGET in infra/bundling.ts); moving to a newer one is a deliberate change for all of them.',
    });
    this.userPool.addTrigger(
      cognito.UserPoolOperation.PRE_TOKEN_GENERATION_CONFIG,
      this.preTokenFunction,
      cognito.LambdaVersion.V2_0,
    );
  }

  /** `iss` of the pool's tokens, and the authorizer's issuer. */
  get issuer(): string {
    return this.userPool.userPoolProviderUrl;
  }

  /** The operator identity the handlers check (OPERATOR_CLAIM). */
  get operatorClaim(): string {
    return POOL_OPERATOR_CLAIM;
  }

  /** The UI's sign-in settings: the hosted UI's endpoints are given, the pool needs no discovery. */
  get uiAuth(): UiAuthConfig {
    const base = this.domain.baseUrl();
    return {
      issuer: this.issuer,
      clientId: this.client.userPoolClientId,
      scopes: POOL_UI_SCOPES,
      authorizationEndpoint: `${base}/oauth2/authorize`,
      tokenEndpoint: `${base}/oauth2/token`,
      logoutEndpoint: `${base}/logout`,
    };
  }
}
