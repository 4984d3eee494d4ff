import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, describe, expect, it } from 'vitest';
import { synth } from './synth';

const outdirs: string[] = [];
const outdir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'storage-nag-'));
  outdirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

interface Acknowledged {
  id: string;
  reason: string;
}

describe('cdk-nag AwsSolutions', () => {
  /** Synthesizes with the pack (throws on any unacknowledged finding); the acknowledgments, by resource. */
  function acknowledgedIn(options: { pool?: boolean; context?: Record<string, unknown> }) {
    const { app, stack } = synth({ nag: true, outdir: outdir(), ...options });
    // Synthesis runs the pack and throws "Validation failed" on any unacknowledged finding.
    expect(() => app.synth()).not.toThrow();
    const acknowledged: (Acknowledged & { resource: string })[] = [];
    for (const [resource, r] of Object.entries(Template.fromStack(stack).toJSON().Resources) as [
      string,
      { Metadata?: { cdk_nag?: { rules_to_suppress?: Acknowledged[] } } },
    ][]) {
      for (const a of r.Metadata?.cdk_nag?.rules_to_suppress ?? []) acknowledged.push({ ...a, resource });
    }
    return acknowledged;
  }

  /** Every acknowledgment gives its reason; wildcards only where the stack explains them. */
  function checkReasons(acknowledged: (Acknowledged & { resource: string })[]) {
    for (const a of acknowledged) expect(a.reason.length, a.id).toBeGreaterThan(40);
    for (const a of acknowledged.filter((x) => x.id.includes('IAM5'))) {
      // CDK's BucketDeployment handler (the UI's files): its own grants, acknowledged one by one.
      if (a.resource.startsWith('CustomCDKBucketDeployment')) {
        expect(a.id).toMatch(
          /^AwsSolutions::AwsSolutions-IAM5\[(Action::s3:(GetBucket|GetObject|List|Abort|DeleteObject)\*|Resource::(<UiBucket[0-9A-F]+\.Arn>|arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>)\/\*)\]$/,
        );
        continue;
      }
      // Our own functions: only for the files bucket's object keys, never for a wildcard action.
      expect(a.id).toMatch(/^AwsSolutions::AwsSolutions-IAM5\[Resource::<BucketsFiles[0-9A-F]+\.Arn>\/\*\]$/);
    }
  }

  const ruleIds = (acknowledged: Acknowledged[]) =>
    [...new Set(acknowledged.map((a) => a.id.replace(/\[.*$/, '')))].sort();

  it('finds nothing unacknowledged in the zero-configuration stack (own user pool), every acknowledgment reasoned', () => {
    const acknowledged = acknowledgedIn({ pool: true });
    // Exactly the findings the stack explains; a new kind of finding needs a new, reasoned entry.
    expect(ruleIds(acknowledged)).toEqual([
      'AwsSolutions::AwsSolutions-APIG4',
      'AwsSolutions::AwsSolutions-CFR1',
      'AwsSolutions::AwsSolutions-CFR2',
      'AwsSolutions::AwsSolutions-CFR3',
      'AwsSolutions::AwsSolutions-CFR4',
      'AwsSolutions::AwsSolutions-COG8',
      'AwsSolutions::AwsSolutions-IAM4',
      'AwsSolutions::AwsSolutions-IAM5',
      'AwsSolutions::AwsSolutions-L1',
      'AwsSolutions::AwsSolutions-SMG4',
    ]);
    checkReasons(acknowledged);
    // Of the user pool's findings only the feature plan (COG8) is acknowledged: its password
    // policy (COG1) and required MFA (COG2) pass as they are.
  });

  it('finds nothing unacknowledged with an issuer given (no user pool)', () => {
    const acknowledged = acknowledgedIn({
      context: { allowedOrigins: 'https://app.example.com', uiClientId: 'admin-ui' },
    });
    expect(ruleIds(acknowledged)).toEqual([
      'AwsSolutions::AwsSolutions-APIG4',
      'AwsSolutions::AwsSolutions-CFR1',
      'AwsSolutions::AwsSolutions-CFR2',
      'AwsSolutions::AwsSolutions-CFR3',
      'AwsSolutions::AwsSolutions-CFR4',
      'AwsSolutions::AwsSolutions-IAM4',
      'AwsSolutions::AwsSolutions-IAM5',
      'AwsSolutions::AwsSolutions-L1',
      'AwsSolutions::AwsSolutions-SMG4',
    ]);
    checkReasons(acknowledged);
  });

  it('fails synthesis on a finding that nobody acknowledged (the check above can fail)', () => {
    const app = new App({ outdir: outdir() });
    const stack = new Stack(app, 'Careless');
    new s3.Bucket(stack, 'Open');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).toThrow(/AwsSolutions-S10/);
  });
});
