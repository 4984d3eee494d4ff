import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import {
  AssetHashType,
  Aws,
  DefaultStackSynthesizer,
  DockerImage,
  Duration,
  Fn,
  RemovalPolicy,
  Stack,
  Token,
  Validations,
} from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';
import type { OidcSettings, UiConfig as PageConfig } from '../../ui/src/config-types';
import { projectRoot, takePrebuilt } from '../bundling';
import { UI_ASSET } from '../ui-build';

/** The sign-in settings of the UI's config.json (OIDC authorization code flow with PKCE). */
export type UiAuthConfig = OidcSettings;

/** config.json next to the UI's index.html: the contract with ui/. In AWS there is no dev token. */
export type UiConfig = Omit<PageConfig, 'devTokenUrl'> & { devTokenUrl: null };

/**
 * What the UI's pages may load. Scripts only from the distribution (no inline script: an injected
 * one does not run); the API, the sign-in endpoints and presigned storage URLs are https origins
 * the stack cannot all name (extra storage instances, an external issuer), so connections and media
 * are limited to https. No framing of the UI (clickjacking), no plugins.
 */
export const UI_CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob: https:",
  "media-src 'self' blob: https:",
  "frame-src 'self' blob: https:",
  "font-src 'self' data:",
  "worker-src 'self' blob:",
  "connect-src 'self' https:",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Paths that answer the UI's page besides `/` (as the local server does). */
export const UI_PAGE_ALIASES = ['/admin', '/admin/'];

/**
 * The UI's built files as a deployment source: ui/build.ts's output (infra/ui-build.ts), built
 * locally at synth like the functions (no Docker, offline). The asset hash is the output's.
 */
export function uiSource(): s3deploy.ISource {
  return s3deploy.Source.asset(projectRoot, {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Never used: local bundling always succeeds or throws; CDK requires an image anyway.
      image: DockerImage.fromRegistry('dummy'),
      // Part of CDK's asset cache key only (see functionCode).
      command: ['build-ui'],
      local: {
        tryBundle(outputDir: string) {
          // Built ahead by the CDK app (infra/app.ts, prebuildUi): only moved into place.
          if (takePrebuilt(outputDir, UI_ASSET)) return true;
          execFileSync(
            process.execPath,
            ['--import', 'tsx', join(projectRoot, 'infra', 'build-ui.ts'), outputDir],
            {
              cwd: projectRoot,
              stdio: ['ignore', 'inherit', 'inherit'],
            },
          );
          return true;
        },
      },
    },
  });
}

/**
 * A name for an account-wide CloudFront resource: CDK's default comes from the construct path, the
 * same for this stack in two regions of one account, where it would clash.
 */
function regionalName(scope: Construct, suffix: string): string {
  const stackName = Stack.of(scope).stackName;
  const base = Token.isUnresolved(stackName)
    ? 'storage'
    : stackName.replace(/[^A-Za-z0-9-]/g, '-').slice(0, 40);
  return Fn.join('-', [base, suffix, Aws.REGION]);
}

export interface UiHostingProps {
  /** Where the UI bucket's server access logs go (the stack's log bucket). */
  accessLogs: s3.IBucket;
  logRetention: logs.RetentionDays;
  removalPolicy: RemovalPolicy;
}

/**
 * The admin UI: static files in a private bucket that only this CloudFront distribution may read
 * (origin access control), served over HTTPS with security headers. The files and config.json are
 * deployed by `deploy()`, once the API and the sign-in settings exist.
 */
export class UiHosting extends Construct {
  readonly bucket: s3.Bucket;
  readonly distribution: cloudfront.Distribution;
  private readonly props: UiHostingProps;

  constructor(scope: Construct, id: string, props: UiHostingProps) {
    super(scope, id);
    this.props = props;
    this.bucket = new s3.Bucket(this, 'Bucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      // S3-managed keys: CloudFront's origin access control reads them without a KMS key policy.
      encryption: s3.BucketEncryption.S3_MANAGED,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: props.accessLogs,
      serverAccessLogsPrefix: 'ui/',
      removalPolicy: props.removalPolicy,
    });

    const headers = new cloudfront.ResponseHeadersPolicy(this, 'Headers', {
      responseHeadersPolicyName: regionalName(this, 'ui-headers'),
      comment: 'Security headers of the storage admin UI',
      securityHeadersBehavior: {
        contentSecurityPolicy: { contentSecurityPolicy: UI_CONTENT_SECURITY_POLICY, override: true },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        // The page's URL carries the authorization code after sign-in: it goes nowhere.
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.NO_REFERRER, override: true },
        strictTransportSecurity: {
          accessControlMaxAge: Duration.days(365),
          includeSubdomains: true,
          override: true,
        },
      },
    });

    // The page answers at `/admin` too, as on the local server (ui/build.ts): its assets and
    // config.json are addressed from the root, so the same index.html serves both.
    const pages = new cloudfront.Function(this, 'Pages', {
      runtime: cloudfront.FunctionRuntime.JS_2_0,
      comment: 'The storage admin UI answers at /admin too',
      code: cloudfront.FunctionCode.fromInline(
        `function handler(event) {
  var request = event.request;
  if (${JSON.stringify(UI_PAGE_ALIASES)}.indexOf(request.uri) >= 0) request.uri = '/index.html';
  return request;
}`,
      ),
    });

    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: 'Storage admin UI',
      defaultRootObject: 'index.html',
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      defaultBehavior: {
        origin: origins.S3BucketOrigin.withOriginAccessControl(this.bucket, {
          originAccessControl: new cloudfront.S3OriginAccessControl(this, 'OriginAccess', {
            originAccessControlName: regionalName(this, 'ui'),
            description: 'The storage admin UI distribution reads its bucket',
          }),
        }),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: headers,
        compress: true,
        functionAssociations: [{ function: pages, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST }],
      },
    });
    Validations.of(this.distribution).acknowledge(
      {
        id: 'AwsSolutions::AwsSolutions-CFR1',
        reason:
          'The admin UI is static code anyone may download; who may use the service is decided by sign-in and the API, so no country is refused.',
      },
      {
        id: 'AwsSolutions::AwsSolutions-CFR2',
        reason:
          'The distribution serves only the static UI files; a WAF web ACL costs a monthly fee even when idle and would protect no data (the API enforces authentication and throttling).',
      },
      {
        id: 'AwsSolutions::AwsSolutions-CFR3',
        reason:
          'Standard logging needs a bucket with ACLs enabled (or, for CloudWatch delivery, resources in us-east-1); requests for public static files carry no data worth that, and every data request is logged by the API and the bucket access logs.',
      },
      {
        id: 'AwsSolutions::AwsSolutions-CFR4',
        reason:
          'The distribution uses its *.cloudfront.net certificate, whose security policy CloudFront fixes; a minimum of TLS 1.2 needs a custom domain and an ACM certificate, which a zero-configuration deploy does not have.',
      },
    );
  }

  /** The UI's origin, as browsers send it (CORS of the API and of the bucket). */
  get origin(): string {
    return `https://${this.distribution.distributionDomainName}`;
  }

  /** The address users open (and where sign-in returns). */
  get url(): string {
    return `${this.origin}/`;
  }

  /** Every address of the page: sign-in returns to whichever the user opened. */
  get pageUrls(): string[] {
    return [this.url, ...UI_PAGE_ALIASES.map((path) => `${this.origin}${path}`)];
  }

  /**
   * Uploads the UI and its config.json (values resolved at deploy time) and removes files of older
   * builds. Every file is served `no-cache`: browsers and CloudFront revalidate with the ETag, so a
   * new deployment is visible at once without an invalidation.
   */
  deploy(config: UiConfig): s3deploy.BucketDeployment {
    const deployment = new s3deploy.BucketDeployment(this, 'Deployment', {
      sources: [uiSource(), s3deploy.Source.jsonData('config.json', config)],
      destinationBucket: this.bucket,
      prune: true,
      // With `destroy` the files go with the stack, so the bucket can be deleted too.
      retainOnDelete: this.props.removalPolicy !== RemovalPolicy.DESTROY,
      cacheControl: [s3deploy.CacheControl.noCache()],
      logGroup: new logs.LogGroup(this, 'DeploymentLogs', {
        retention: this.props.logRetention,
        removalPolicy: this.props.removalPolicy,
      }),
    });
    this.acknowledgeDeploymentHandler();
    return deployment;
  }

  /**
   * CDK's BucketDeployment copies the files with a singleton Lambda of its own (Python, the AWS
   * CLI), whose role CDK writes: its findings are acknowledged one by one, so a new one still fails.
   */
  private acknowledgeDeploymentHandler(): void {
    const stack = Stack.of(this);
    const handler = stack.node.children.find((c) => c.node.id.startsWith('Custom::CDKBucketDeployment'));
    if (!handler) throw new Error('BucketDeployment created no handler function');
    const synthesizer = stack.synthesizer;
    const qualifier =
      (synthesizer instanceof DefaultStackSynthesizer ? synthesizer.bootstrapQualifier : undefined) ??
      DefaultStackSynthesizer.DEFAULT_QUALIFIER;
    const uiObjects = `<${stack.getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket)}.Arn>/*`;
    // As cdk-nag writes the asset bucket: pseudo parameters where the stack's environment is not known.
    const account = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
    const region = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
    const assetObjects = `arn:<AWS::Partition>:s3:::cdk-${qualifier}-assets-${account}-${region}/*`;
    const why =
      "CDK's BucketDeployment handler runs only during deployments, reading the UI's asset from the CDK asset bucket and syncing it into the UI bucket; CDK grants it";
    Validations.of(handler).acknowledge(
      {
        id: 'AwsSolutions::AwsSolutions-L1',
        reason: `${why} its Python runtime, which follows aws-cdk-lib upgrades.`,
      },
      {
        id: 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: `${why} AWSLambdaBasicExecutionRole to write its logs.`,
      },
      ...['s3:GetBucket*', 's3:GetObject*', 's3:List*', 's3:Abort*', 's3:DeleteObject*'].map((action) => ({
        id: `AwsSolutions::AwsSolutions-IAM5[Action::${action}]`,
        reason: `${why} ${action} through grantRead/grantReadWrite, on those two buckets only.`,
      })),
      ...[assetObjects, uiObjects].map((resource) => ({
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::${resource}]`,
        reason: `${why} the objects of the asset bucket (read) and of the UI bucket (write), which it copies.`,
      })),
    );
  }
}
