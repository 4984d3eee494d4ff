import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { lambdaFunctions } from '../../infra/bundling';
import { OPERATORS_GROUP, POOL_OPERATOR_CLAIM } from '../../infra/cognito/pre-token';
import { domainPrefix } from '../../infra/constructs/auth';
import type { UiConfig } from '../../infra/constructs/ui-hosting';
import { DEFAULT_UI_SCOPES } from '../../infra/stack';
import { AUDIENCE, ISSUER, synth } from './synth';

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation resources are checked field by field
type Resource = { Type: string; Properties: any; DeletionPolicy?: string };

const resourcesOf = (template: Template, type: string) =>
  Object.entries(template.findResources(type)) as [string, Resource][];

function only(template: Template, type: string): [string, Resource] {
  const found = resourcesOf(template, type);
  expect(found, type).toHaveLength(1);
  return found[0] as [string, Resource];
}

const ref = (id: string) => ({ Ref: id });
const getAtt = (id: string, attribute: string) => ({ 'Fn::GetAtt': [id, attribute] });
const fnJoin = (...parts: unknown[]) => ({ 'Fn::Join': ['', parts] });

/**
 * config.json as the deployment will write it: the file CDK staged for `Source.jsonData`, with the
 * deploy-time values as markers, and what each marker becomes.
 */
function deployedConfig(app: App, template: Template): unknown {
  const [, deployment] = only(template, 'Custom::CDKBucketDeployment');
  const keys = deployment.Properties.SourceObjectKeys as string[];
  const index = keys.findIndex((_, i) => Object.keys(deployment.Properties.SourceMarkers[i]).length > 0);
  const hash = (keys[index] as string).replace(/\.zip$/, '');
  let text = readFileSync(join(app.outdir, `asset.${hash}`, 'config.json'), 'utf8');
  // Each marker becomes its CloudFormation value: compared as that value's JSON.
  for (const [marker, value] of Object.entries(deployment.Properties.SourceMarkers[index] as object)) {
    text = text.split(marker).join(`§${JSON.stringify(value).replace(/"/g, "'")}§`);
  }
  return JSON.parse(text);
}
/**
 * The UI's parser of config.json (ui/src/config.ts). Loaded by a computed path: it is browser code,
 * which the root type check (no DOM types) does not compile.
 */
async function uiParseConfig(): Promise<(value: unknown) => unknown> {
  const path = '../../ui/src/config';
  return ((await import(/* @vite-ignore */ path)) as { parseConfig(value: unknown): unknown }).parseConfig;
}

const marker = (value: unknown) => `§${JSON.stringify(value).replace(/"/g, "'")}§`;

describe('zero configuration: the stack signs users in with its own Cognito user pool', () => {
  let app: App;
  let template: Template;
  let ids: {
    pool: string;
    client: string;
    domain: string;
    trigger: string;
    distribution: string;
    api: string;
  };

  beforeAll(() => {
    const synthesized = synth({ pool: true });
    app = synthesized.app;
    template = synthesized.template();
    ids = {
      pool: only(template, 'AWS::Cognito::UserPool')[0],
      client: only(template, 'AWS::Cognito::UserPoolClient')[0],
      domain: only(template, 'AWS::Cognito::UserPoolDomain')[0],
      trigger: (
        resourcesOf(template, 'AWS::Lambda::Function').find(([, r]) =>
          /^Cognito pre token generation/.test(r.Properties.Description ?? ''),
        ) as [string, Resource]
      )[0],
      distribution: only(template, 'AWS::CloudFront::Distribution')[0],
      api: only(template, 'AWS::ApiGatewayV2::Api')[0],
    };
  });

  it('creates a user pool nobody can sign up to: email sign-in, strong passwords, TOTP required, Essentials', () => {
    const [, pool] = only(template, 'AWS::Cognito::UserPool');
    expect(pool.Properties).toMatchObject({
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
      UsernameAttributes: ['email'],
      Policies: {
        PasswordPolicy: {
          MinimumLength: 12,
          RequireLowercase: true,
          RequireUppercase: true,
          RequireNumbers: true,
          RequireSymbols: true,
        },
      },
      MfaConfiguration: 'ON',
      EnabledMfas: ['SOFTWARE_TOKEN_MFA'],
      // Access token customization (trigger V2_0) needs Essentials or Plus.
      UserPoolTier: 'ESSENTIALS',
      DeletionProtection: 'ACTIVE',
    });
    expect(pool.DeletionPolicy).toBe('Retain');
    expect(pool.Properties.Schema).toContainEqual({
      AttributeDataType: 'String',
      Name: 'tenant',
      Mutable: true,
      StringAttributeConstraints: { MinLength: '1', MaxLength: '64' },
    });
  });

  it('has a public app client for the UI: code flow only, no secret, the UI as callback; the tenant is read-only', () => {
    const [, client] = only(template, 'AWS::Cognito::UserPoolClient');
    // The page's addresses on the distribution and on a developer's machine (`npm start`).
    const uiUrls = [
      ...['/', '/admin', '/admin/'].map((path) =>
        fnJoin('https://', getAtt(ids.distribution, 'DomainName'), path),
      ),
      'http://localhost:3000/',
      'http://localhost:3000/admin',
      'http://localhost:3000/admin/',
    ];
    expect(client.Properties).toMatchObject({
      UserPoolId: ref(ids.pool),
      GenerateSecret: false,
      AllowedOAuthFlowsUserPoolClient: true,
      AllowedOAuthFlows: ['code'],
      AllowedOAuthScopes: ['openid', 'email'],
      SupportedIdentityProviders: ['COGNITO'],
      CallbackURLs: uiUrls,
      LogoutURLs: uiUrls,
      PreventUserExistenceErrors: 'ENABLED',
      EnableTokenRevocation: true,
    });
    expect(client.Properties.ReadAttributes).toContain('custom:tenant');
    // A user cannot move themselves to another tenant: only administrators write the attribute.
    expect(client.Properties.WriteAttributes).toEqual(['email']);
    // No password-in-the-clear flow (USER_PASSWORD_AUTH), no implicit grant.
    expect(client.Properties.ExplicitAuthFlows.sort()).toEqual([
      'ALLOW_REFRESH_TOKEN_AUTH',
      'ALLOW_USER_SRP_AUTH',
    ]);
  });

  it('has a hosted sign-in domain whose prefix comes from the stack name and its random id', () => {
    const [, domain] = only(template, 'AWS::Cognito::UserPoolDomain');
    expect(domain.Properties).toEqual({
      UserPoolId: ref(ids.pool),
      ManagedLoginVersion: 1,
      Domain: {
        'Fn::Join': [
          '-',
          [
            'storage',
            {
              'Fn::Select': [
                0,
                {
                  'Fn::Split': ['-', { 'Fn::Select': [2, { 'Fn::Split': ['/', { Ref: 'AWS::StackId' }] }] }],
                },
              ],
            },
          ],
        ],
      },
    });
    // Cognito refuses prefixes with reserved words and other characters: they never reach it.
    const stack = new Stack(new App(), 'Probe');
    expect(stack.resolve(domainPrefix('My-AWS_Amazon Cognito.Stack'))['Fn::Join'][1][0]).toBe('my-stack');
    expect(stack.resolve(domainPrefix('Cognito'))['Fn::Join'][1][0]).toBe('storage');
    expect(stack.resolve(domainPrefix('Files-aawsws'))['Fn::Join'][1][0]).toBe('files');
  });

  it('runs the pre-token trigger (V2_0) on every token: its own small function that can only log', () => {
    template.hasResourceProperties('AWS::Cognito::UserPool', {
      LambdaConfig: {
        PreTokenGenerationConfig: { LambdaArn: getAtt(ids.trigger, 'Arn'), LambdaVersion: 'V2_0' },
      },
    });
    const [, trigger] = resourcesOf(template, 'AWS::Lambda::Function').find(([id]) => id === ids.trigger) as [
      string,
      Resource,
    ];
    expect(trigger.Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Timeout: 5,
      Environment: { Variables: { TENANT_CLAIM: 'tenant' } },
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      FunctionName: getAtt(ids.trigger, 'Arn'),
      Principal: 'cognito-idp.amazonaws.com',
      SourceArn: getAtt(ids.pool, 'Arn'),
    });
    const role = trigger.Properties.Role['Fn::GetAtt'][0];
    const actions = resourcesOf(template, 'AWS::IAM::Policy')
      .filter(([, p]) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === role))
      .flatMap(([, p]) =>
        p.Properties.PolicyDocument.Statement.flatMap((s: { Action: unknown }) => s.Action),
      );
    expect(actions.sort()).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
    // Not a route's function: the route table's list does not know it.
    expect(lambdaFunctions).not.toContain('cognito-pre-token');
  });

  it('makes members of the storage-operators group the operators', () => {
    template.hasResourceProperties('AWS::Cognito::UserPoolGroup', {
      UserPoolId: ref(ids.pool),
      GroupName: OPERATORS_GROUP,
    });
    expect(POOL_OPERATOR_CLAIM).toBe('cognito:groups=storage-operators');
    for (const [, fn] of resourcesOf(template, 'AWS::Lambda::Function')) {
      if (!/^storage: /.test(fn.Properties.Description ?? '')) continue;
      expect(fn.Properties.Environment.Variables).toMatchObject({
        OPERATOR_CLAIM: POOL_OPERATOR_CLAIM,
        TENANT_CLAIM: 'tenant',
      });
    }
  });

  it("points the API's JWT authorizer at the pool, with the UI client's id as audience (client_id)", () => {
    template.resourcePropertiesCountIs('AWS::ApiGatewayV2::Authorizer', {}, 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      JwtConfiguration: { Issuer: getAtt(ids.pool, 'ProviderURL'), Audience: [ref(ids.client)] },
    });
  });

  it("deploys config.json with the API's URL and the pool's sign-in endpoints, as the UI reads it", async () => {
    const hosted = fnJoin('https://', ref(ids.domain), '.auth.', ref('AWS::Region'), '.amazoncognito.com');
    // The markers stand for these values; the domain's URL is assembled around them.
    const base = `https://${marker(ref(ids.domain))}.auth.${marker(ref('AWS::Region'))}.amazoncognito.com`;
    expect(deployedConfig(app, template)).toEqual({
      apiUrl: marker(getAtt(ids.api, 'ApiEndpoint')),
      auth: {
        issuer: marker(getAtt(ids.pool, 'ProviderURL')),
        clientId: marker(ref(ids.client)),
        scopes: ['openid', 'email'],
        authorizationEndpoint: `${base}/oauth2/authorize`,
        tokenEndpoint: `${base}/oauth2/token`,
        logoutEndpoint: `${base}/logout`,
      },
      devTokenUrl: null,
    } satisfies UiConfig);
    // The UI's own check of its settings accepts them as they are.
    expect((await uiParseConfig())(deployedConfig(app, template))).toEqual(deployedConfig(app, template));
    const outputs = template.findOutputs('*');
    expect(outputs.SignInDomain?.Value).toEqual(hosted);
    expect(outputs.UserPoolId?.Value).toEqual(ref(ids.pool));
    expect(outputs.UserPoolClientId?.Value).toEqual(ref(ids.client));
    expect(outputs.UiUrl?.Value).toEqual(fnJoin('https://', getAtt(ids.distribution, 'DomainName'), '/'));
  });

  it('lets the pool go with the stack only when the removal policy says destroy', () => {
    const destroyed = synth({ pool: true, context: { removalPolicy: 'destroy' } }).template();
    const [, pool] = only(destroyed, 'AWS::Cognito::UserPool');
    expect(pool.DeletionPolicy).toBe('Delete');
    expect(pool.Properties.DeletionProtection).toBe('INACTIVE');
  });
});

describe('with an issuer: the stack trusts it and creates no user pool', () => {
  it('has no Cognito resources, and an authorizer with the given issuer and audience', () => {
    const template = synth().template();
    for (const type of [
      'AWS::Cognito::UserPool',
      'AWS::Cognito::UserPoolClient',
      'AWS::Cognito::UserPoolDomain',
    ])
      template.resourceCountIs(type, 0);
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      JwtConfiguration: { Issuer: ISSUER, Audience: [AUDIENCE] },
    });
    expect(template.findOutputs('UserPoolId')).toEqual({});
  });

  it('gives the UI that issuer and storage:uiClientId, with storage:uiScopes or the tenant scopes', () => {
    const withClient = (context: Record<string, unknown>) => {
      const { app, template } = synth({ context: { uiClientId: 'admin-ui', ...context } });
      return deployedConfig(app, template());
    };
    expect(withClient({})).toMatchObject({
      auth: { issuer: ISSUER, clientId: 'admin-ui', scopes: DEFAULT_UI_SCOPES },
      devTokenUrl: null,
    });
    expect(withClient({ uiScopes: 'openid storage:manage' })).toMatchObject({
      auth: { issuer: ISSUER, clientId: 'admin-ui', scopes: ['openid', 'storage:manage'] },
    });
  });

  it('deploys the UI without sign-in settings when no client is given, and says so at synth', () => {
    const { app, stack, template } = synth();
    expect(deployedConfig(app, template())).toMatchObject({ auth: null, devTokenUrl: null });
    Annotations.fromStack(stack).hasWarning('*', Match.stringLikeRegexp('storage:uiClientId'));
  });
});

describe('admin UI hosting', () => {
  let template: Template;
  let ids: { bucket: string; distribution: string; logs: string };

  beforeAll(() => {
    template = synth({ pool: true }).template();
    const [bucket] = resourcesOf(template, 'AWS::S3::Bucket').find(
      ([, r]) => r.Properties.LoggingConfiguration?.LogFilePrefix === 'ui/',
    ) as [string, Resource];
    ids = {
      bucket,
      distribution: only(template, 'AWS::CloudFront::Distribution')[0],
      logs: (
        resourcesOf(template, 'AWS::S3::Bucket').find(
          ([, r]) => r.Properties.LoggingConfiguration === undefined,
        ) as [string, Resource]
      )[0],
    };
  });

  it('keeps the files in a private, encrypted, TLS-only bucket with access logs', () => {
    const [, bucket] = resourcesOf(template, 'AWS::S3::Bucket').find(([id]) => id === ids.bucket) as [
      string,
      Resource,
    ];
    expect(bucket.Properties).toMatchObject({
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      LoggingConfiguration: { DestinationBucketName: ref(ids.logs), LogFilePrefix: 'ui/' },
    });
    expect(bucket.Properties.WebsiteConfiguration).toBeUndefined();
  });

  it('lets only this distribution read the bucket (origin access control), and nothing without TLS', () => {
    const [, policy] = resourcesOf(template, 'AWS::S3::BucketPolicy').find(
      ([, p]) => p.Properties.Bucket.Ref === ids.bucket,
    ) as [string, Resource];
    const statements = policy.Properties.PolicyDocument.Statement as {
      Effect: string;
      Principal: unknown;
      Action: string;
      Condition?: unknown;
    }[];
    const allows = statements.filter((s) => s.Effect === 'Allow');
    expect(allows).toEqual([
      {
        Effect: 'Allow',
        Principal: { Service: 'cloudfront.amazonaws.com' },
        Action: 's3:GetObject',
        Resource: fnJoin(getAtt(ids.bucket, 'Arn'), '/*'),
        Condition: {
          StringEquals: {
            'AWS:SourceArn': fnJoin(
              'arn:',
              ref('AWS::Partition'),
              ':cloudfront::',
              ref('AWS::AccountId'),
              ':distribution/',
              ref(ids.distribution),
            ),
          },
        },
      },
    ]);
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
    const [oac, control] = only(template, 'AWS::CloudFront::OriginAccessControl');
    expect(control.Properties.OriginAccessControlConfig).toMatchObject({
      OriginAccessControlOriginType: 's3',
      SigningBehavior: 'always',
      SigningProtocol: 'sigv4',
      // Account-wide names: the region keeps two regions' stacks apart.
      Name: { 'Fn::Join': ['-', ['Storage-ui', ref('AWS::Region')]] },
    });
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        Origins: [
          Match.objectLike({
            DomainName: getAtt(ids.bucket, 'RegionalDomainName'),
            OriginAccessControlId: getAtt(oac, 'Id'),
            S3OriginConfig: { OriginAccessIdentity: '' },
          }),
        ],
      }),
    });
  });

  it('serves index.html at the root and at /admin over HTTPS only, with security headers', () => {
    const [headers] = only(template, 'AWS::CloudFront::ResponseHeadersPolicy');
    const [pages, fn] = only(template, 'AWS::CloudFront::Function');
    expect(fn.Properties.FunctionConfig.Runtime).toBe('cloudfront-js-2.0');
    // The function's code, run as CloudFront runs it on each viewer request.
    const rewrite = new Function(`${fn.Properties.FunctionCode}; return handler;`)() as (e: {
      request: { uri: string };
    }) => { uri: string };
    const uri = (path: string) => rewrite({ request: { uri: path } }).uri;
    expect(['/admin', '/admin/', '/', '/ui/app-1.js', '/config.json', '/administrator'].map(uri)).toEqual([
      '/index.html',
      '/index.html',
      '/',
      '/ui/app-1.js',
      '/config.json',
      '/administrator',
    ]);
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        Enabled: true,
        DefaultRootObject: 'index.html',
        DefaultCacheBehavior: Match.objectLike({
          ViewerProtocolPolicy: 'redirect-to-https',
          AllowedMethods: ['GET', 'HEAD'],
          ResponseHeadersPolicyId: ref(headers),
          FunctionAssociations: [{ EventType: 'viewer-request', FunctionARN: getAtt(pages, 'FunctionARN') }],
        }),
      }),
    });
    template.hasResourceProperties('AWS::CloudFront::ResponseHeadersPolicy', {
      ResponseHeadersPolicyConfig: Match.objectLike({
        SecurityHeadersConfig: {
          ContentSecurityPolicy: {
            ContentSecurityPolicy: Match.stringLikeRegexp("script-src 'self';.*frame-ancestors 'none'"),
            Override: true,
          },
          ContentTypeOptions: { Override: true },
          FrameOptions: { FrameOption: 'DENY', Override: true },
          ReferrerPolicy: { ReferrerPolicy: 'no-referrer', Override: true },
          StrictTransportSecurity: Match.objectLike({ AccessControlMaxAgeSec: 31536000, Override: true }),
        },
      }),
    });
  });

  it('deploys the built UI and config.json into the bucket, pruning old files, served no-cache', () => {
    const [, deployment] = only(template, 'Custom::CDKBucketDeployment');
    expect(deployment.Properties).toMatchObject({
      DestinationBucketName: ref(ids.bucket),
      Prune: true,
      RetainOnDelete: true,
      SystemMetadata: { 'cache-control': 'no-cache' },
    });
    // The UI's build and config.json.
    expect(deployment.Properties.SourceObjectKeys).toHaveLength(2);
    const destroyed = synth({ pool: true, context: { removalPolicy: 'destroy' } }).template();
    destroyed.hasResourceProperties('Custom::CDKBucketDeployment', { RetainOnDelete: false });
  });

  it('admits the distribution in the CORS of the API and of the files bucket (direct uploads)', () => {
    const origin = fnJoin('https://', getAtt(ids.distribution, 'DomainName'));
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: Match.objectLike({ AllowOrigins: [origin] }),
    });
    template.hasResourceProperties('AWS::S3::Bucket', {
      CorsConfiguration: {
        CorsRules: [Match.objectLike({ AllowedOrigins: [origin], ExposedHeaders: ['ETag'] })],
      },
    });
  });
});
