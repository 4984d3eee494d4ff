import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { EVENT_SOURCE } from '../../shared/events';
import { NOTIFIED_PREFIXES } from '../../shared/service/keys';
import { grantAccess, type ServiceResources } from './grants';
import { StorageFunction } from './storage-function';

export interface ProcessingProps {
  resources: ServiceResources;
  bucket: s3.IBucket;
  /** The file events' bus: its FileUploaded events of images run render-thumbnails. */
  bus: events.IEventBus;
  logRetention: logs.RetentionDays;
  removalPolicy: RemovalPolicy;
}

/**
 * What happens after bytes land in the bucket: S3 ObjectCreated -> on-object-created, which
 * finalizes direct uploads; and after a file commits: FileUploaded of an image -> render-thumbnails,
 * which renders the eager thumbnail sizes. Both are invoked asynchronously; events that still fail
 * after Lambda's retries are kept in a dead-letter queue for two weeks instead of being dropped (a
 * PENDING upload can still be completed by its client, and the sweeper reaps it otherwise; a
 * thumbnail not rendered ahead is rendered at its first request).
 */
export class Processing extends Construct {
  readonly onObjectCreated: StorageFunction;
  readonly renderThumbnails: StorageFunction;
  readonly deadLetters: sqs.Queue;

  constructor(scope: Construct, id: string, props: ProcessingProps) {
    super(scope, id);
    this.deadLetters = new sqs.Queue(this, 'DeadLetters', {
      retentionPeriod: Duration.days(14),
      enforceSSL: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      removalPolicy: props.removalPolicy,
    });
    this.onObjectCreated = new StorageFunction(this, 'on-object-created', {
      fn: 'on-object-created',
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      deadLetterQueue: this.deadLetters,
    });
    grantAccess(this.onObjectCreated, props.resources);
    const fn = this.onObjectCreated.function;
    fn.configureAsyncInvoke({ retryAttempts: 2, maxEventAge: Duration.hours(6) });
    // Only where direct uploads land (staging, and multipart uploads joined in place): the
    // service's own writes (promoted copies, API uploads, blobs) need no processing.
    for (const prefix of NOTIFIED_PREFIXES) {
      props.bucket.addEventNotification(s3.EventType.OBJECT_CREATED, new s3n.LambdaDestination(fn), {
        prefix,
      });
    }

    this.renderThumbnails = new StorageFunction(this, 'render-thumbnails', {
      fn: 'render-thumbnails',
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    grantAccess(this.renderThumbnails, props.resources);
    new events.Rule(this, 'ImageUploaded', {
      eventBus: props.bus,
      description: 'FileUploaded of an image: render its eager thumbnail sizes',
      eventPattern: {
        source: [EVENT_SOURCE],
        detailType: ['FileUploaded'],
        detail: { contentType: events.Match.prefix('image/') },
      },
      targets: [
        new targets.LambdaFunction(this.renderThumbnails.function, {
          deadLetterQueue: this.deadLetters,
          retryAttempts: 2,
          maxEventAge: Duration.hours(6),
        }),
      ],
    });
  }
}

/** The bus that file events go to; only the functions that emit may put events on it. */
export class FileEvents extends Construct {
  readonly bus: events.EventBus;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.bus = new events.EventBus(this, 'Bus', {
      description: 'File events of the storage service: FileUploaded, FileDeleted, FileExpired',
    });
  }
}
