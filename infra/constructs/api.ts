import type { RemovalPolicy } from 'aws-cdk-lib';
import { Duration, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { type Route, routes } from '../../shared/routes';
import { grantAccess, type ServiceResources } from './grants';
import { StorageFunction } from './storage-function';

export interface ApiProps {
  resources: ServiceResources;
  jwtIssuer: string;
  jwtAudience: string[];
  allowedOrigins: string[];
  throttle: { rateLimit: number; burstLimit: number };
  logRetention: logs.RetentionDays;
  removalPolicy: RemovalPolicy;
}

/**
 * The HTTP API, generated from THE route table (shared/routes.ts): one function per route, the JWT
 * authorizer on exactly the routes that name a permission. Scopes are checked by the handlers (they
 * answer in the service's JSON error format), so the authorizer only proves who the caller is.
 */
export class Api extends Construct {
  readonly httpApi: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
  readonly functions: StorageFunction[] = [];
  readonly routes = new Map<Route, apigwv2.HttpRoute>();

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    this.httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      description: 'Unified file storage',
      createDefaultStage: false,
      corsPreflight: props.allowedOrigins.length
        ? {
            allowOrigins: props.allowedOrigins,
            allowMethods: [
              apigwv2.CorsHttpMethod.GET,
              apigwv2.CorsHttpMethod.PUT,
              apigwv2.CorsHttpMethod.POST,
              apigwv2.CorsHttpMethod.DELETE,
            ],
            allowHeaders: ['authorization', 'content-type', 'if-none-match', 'range'],
            exposeHeaders: ['etag', 'content-disposition', 'content-range', 'location'],
            maxAge: Duration.hours(1),
          }
        : undefined,
    });

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    this.stage = new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogs),
        format: apigw.AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            time: '$context.requestTime',
            routeKey: '$context.routeKey',
            status: '$context.status',
            responseLength: '$context.responseLength',
            latencyMs: '$context.responseLatency',
            integrationError: '$context.integrationErrorMessage',
            authorizerError: '$context.authorizer.error',
          }),
        ),
      },
    });

    const authorizer = new HttpJwtAuthorizer('JwtAuthorizer', props.jwtIssuer, {
      jwtAudience: props.jwtAudience,
    });

    for (const route of routes) {
      const fn = new StorageFunction(this, route.fn, {
        fn: route.fn,
        logRetention: props.logRetention,
        removalPolicy: props.removalPolicy,
      });
      grantAccess(fn, props.resources);
      this.functions.push(fn);
      const [httpRoute] = this.httpApi.addRoutes({
        path: route.path,
        methods: [route.method as apigwv2.HttpMethod],
        integration: new HttpLambdaIntegration(`${route.fn}-integration`, fn.function),
        authorizer: route.permission ? authorizer : undefined,
      });
      if (!httpRoute) throw new Error(`no route created for ${route.method} ${route.path}`);
      this.routes.set(route, httpRoute);
      if (!route.permission) {
        Validations.of(httpRoute).acknowledge({
          id: 'AwsSolutions::AwsSolutions-APIG4',
          reason: `${route.method} ${route.path} is public by design: its handler serves only public files, or private ones with a valid signed, expiring link.`,
        });
      }
    }
  }

  /** The API's base URL (the $default stage has no path prefix). */
  get url(): string {
    return this.stage.url;
  }
}
