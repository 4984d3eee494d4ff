import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { STAGING_PREFIX } from '../../shared/service/keys';

export interface BucketsProps {
  removalPolicy: RemovalPolicy;
  /** Origins allowed to upload straight from a browser (presigned PUT/POST); none = no CORS rule. */
  allowedOrigins: string[];
  /** absent = S3-managed keys; `create` = a new customer-managed key; else the ARN of an existing key. */
  kmsKey?: string;
}

/**
 * The default storage instance (`storages.Default`): private, TLS-only, encrypted, with server access
 * logs in a bucket of their own, incomplete multipart uploads (abandoned large direct uploads)
 * aborted after a day so their parts do not cost storage forever, and leftovers in the staging
 * prefix of direct uploads expired after a day.
 */
export class Buckets extends Construct {
  readonly files: s3.Bucket;
  readonly accessLogs: s3.Bucket;
  readonly encryptionKey?: kms.IKey;

  constructor(scope: Construct, id: string, props: BucketsProps) {
    super(scope, id);
    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      // Server access log delivery supports only S3-managed keys on the target bucket.
      encryption: s3.BucketEncryption.S3_MANAGED,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(90) }],
      removalPolicy: props.removalPolicy,
    });

    if (props.kmsKey === 'create') {
      this.encryptionKey = new kms.Key(this, 'FilesKey', {
        description: 'Encrypts the stored files',
        enableKeyRotation: true,
        removalPolicy: props.removalPolicy,
      });
    } else if (props.kmsKey) {
      this.encryptionKey = kms.Key.fromKeyArn(this, 'FilesKey', props.kmsKey);
    }

    this.files = new s3.Bucket(this, 'Files', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      ...(this.encryptionKey
        ? // A bucket key cuts KMS requests (and their cost) to one per object batch, not per object.
          { encryption: s3.BucketEncryption.KMS, encryptionKey: this.encryptionKey, bucketKeyEnabled: true }
        : { encryption: s3.BucketEncryption.S3_MANAGED }),
      cors: props.allowedOrigins.length
        ? [
            {
              allowedOrigins: props.allowedOrigins,
              allowedMethods: [
                s3.HttpMethods.PUT,
                s3.HttpMethods.POST,
                s3.HttpMethods.GET,
                s3.HttpMethods.HEAD,
              ],
              allowedHeaders: ['*'],
              // Multipart uploads from a browser need each part's ETag to complete the upload.
              exposedHeaders: ['ETag'],
              maxAge: 3600,
            },
          ]
        : undefined,
      lifecycleRules: [
        { id: 'abort-incomplete-multipart', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        // Direct uploads land here and are promoted to their final key; whatever is left (bytes
        // written again after completion, or after the upload was reaped) is nobody's.
        { id: 'expire-staging', prefix: STAGING_PREFIX, expiration: Duration.days(1) },
      ],
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'files/',
      removalPolicy: props.removalPolicy,
    });
  }
}
