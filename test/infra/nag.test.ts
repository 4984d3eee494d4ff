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
  it('finds nothing unacknowledged in the stack, and every acknowledgment gives its reason', () => {
    const { app, stack } = synth({
      nag: true,
      outdir: outdir(),
      context: { allowedOrigins: 'https://app.example.com' },
    });
    // Synthesis runs the pack and throws "Validation failed" on any unacknowledged finding.
    expect(() => app.synth()).not.toThrow();

    const acknowledged: Acknowledged[] = [];
    for (const resource of Object.values(Template.fromStack(stack).toJSON().Resources) as {
      Metadata?: { cdk_nag?: { rules_to_suppress?: Acknowledged[] } };
    }[]) {
      acknowledged.push(...(resource.Metadata?.cdk_nag?.rules_to_suppress ?? []));
    }
    const ids = new Set(acknowledged.map((a) => a.id.replace(/\[.*$/, '')));
    // Exactly the findings the stack explains; a new kind of finding needs a new, reasoned entry.
    expect([...ids].sort()).toEqual([
      'AwsSolutions::AwsSolutions-APIG4',
      'AwsSolutions::AwsSolutions-IAM4',
      'AwsSolutions::AwsSolutions-IAM5',
      'AwsSolutions::AwsSolutions-L1',
      'AwsSolutions::AwsSolutions-SMG4',
    ]);
    for (const a of acknowledged) expect(a.reason.length, a.id).toBeGreaterThan(40);
    // IAM5 is acknowledged only for the bucket's object keys, never for a wildcard action.
    for (const a of acknowledged.filter((x) => x.id.includes('IAM5'))) {
      expect(a.id).toMatch(/^AwsSolutions::AwsSolutions-IAM5\[Resource::<BucketsFiles[0-9A-F]+\.Arn>\/\*\]$/);
    }
  });

  it('fails synthesis on a finding that nobody acknowledged (the check above can fail)', () => {
    const app = new App({ outdir: outdir() });
    const stack = new Stack(app, 'Careless');
    new s3.Bucket(stack, 'Open');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).toThrow(/AwsSolutions-S10/);
  });
});
