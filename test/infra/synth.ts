import { readFileSync } from 'node:fs';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CONTEXT_PREFIX, configFromContext } from '../../infra/config';
import { StorageStack } from '../../infra/stack';

/** The context of cdk.json (feature flags and defaults), so tests synthesize what `cdk synth` does. */
const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};

export const ISSUER = 'https://auth.example.com/';
export const AUDIENCE = 'file-storage-api';

export interface SynthOptions {
  /** `storage:*` context keys, without the prefix. */
  context?: Record<string, unknown>;
  /** No issuer (zero configuration): the stack creates its own Cognito user pool. */
  pool?: boolean;
  /** Run esbuild for every function (slow); otherwise bundling is skipped. */
  bundle?: boolean;
  /** Apply cdk-nag's AwsSolutions pack; synthesis throws on an unacknowledged finding. */
  nag?: boolean;
  outdir?: string;
}

export function synth(options: SynthOptions = {}) {
  const storageContext = Object.fromEntries(
    Object.entries({
      ...(options.pool ? {} : { jwtIssuer: ISSUER, jwtAudience: AUDIENCE }),
      ...options.context,
    }).map(([k, v]) => [`${CONTEXT_PREFIX}${k}`, v]),
  );
  const app = new App({
    outdir: options.outdir,
    context: {
      ...cdkJson.context,
      ...storageContext,
      // An empty list of stacks to bundle: CDK skips the local esbuild run and uses a placeholder asset.
      ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
    },
  });
  const stack = new StorageStack(app, 'Storage', {
    config: configFromContext((key) => app.node.tryGetContext(key)),
  });
  if (options.nag) {
    Validations.of(app).addPlugins(
      new AwsSolutionsChecks(app, { verbose: true, writeSuppressionsToCloudFormation: true }),
    );
  }
  return { app, stack, template: () => Template.fromStack(stack) };
}
