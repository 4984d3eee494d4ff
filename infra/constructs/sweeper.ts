import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { grantAccess, type ServiceResources } from './grants';
import { StorageFunction } from './storage-function';

export interface SweeperProps {
  resources: ServiceResources;
  rateMinutes: number;
  auditRateHours: number;
  logRetention: logs.RetentionDays;
  removalPolicy: RemovalPolicy;
}

/**
 * sweep-expired on a schedule. One instance at a time (reserved concurrency 1): the sweep is safe to
 * run twice, but a second copy would only compete for the same items. Each run stops before its
 * timeout and the next run continues, so the timeout stays under the rate (at most 5 minutes), and
 * a missed or failed run is not retried: the next one is minutes away.
 */
export class Sweeper extends Construct {
  readonly sweeper: StorageFunction;
  readonly rule: events.Rule;
  readonly audit: StorageFunction;
  readonly auditRule: events.Rule;

  constructor(scope: Construct, id: string, props: SweeperProps) {
    super(scope, id);
    const timeoutSeconds = Math.max(30, Math.floor(Math.min(props.rateMinutes, 5) * 60 * 0.8));
    this.sweeper = new StorageFunction(this, 'sweep-expired', {
      fn: 'sweep-expired',
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      timeout: Duration.seconds(timeoutSeconds),
      reservedConcurrency: 1,
    });
    grantAccess(this.sweeper, props.resources);
    this.rule = new events.Rule(this, 'Schedule', {
      description: 'Sweeps expired files and abandoned uploads',
      schedule: events.Schedule.rate(Duration.minutes(props.rateMinutes)),
      targets: [new targets.LambdaFunction(this.sweeper.function, { retryAttempts: 0 })],
    });

    // The integrity audit: report only on the schedule (findings logged as errors, for an alarm);
    // run on demand with {"repair": true} to fix what it finds. One at a time, like the sweeper.
    this.audit = new StorageFunction(this, 'audit-integrity', {
      fn: 'audit-integrity',
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      reservedConcurrency: 1,
    });
    grantAccess(this.audit, props.resources);
    this.auditRule = new events.Rule(this, 'AuditSchedule', {
      description: 'Audits the integrity of files, blobs, uploads and quota counters',
      schedule: events.Schedule.rate(Duration.hours(props.auditRateHours)),
      targets: [new targets.LambdaFunction(this.audit.function, { retryAttempts: 0 })],
    });
  }
}
