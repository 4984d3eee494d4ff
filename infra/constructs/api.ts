import type { RemovalPolicy } from 'aws-cdk-lib';
import { Duration, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { fallbackRoute, type Route, routeKey, routes } from '../../shared/routes';
import { grantAccess, type ServiceResources } from './grants';
import { StorageFunction } from './storage-function';

export interface Throttle {
  rateLimit: number;
  burstLimit: number;
}

export interface ApiProps {
  resources: ServiceResources;
  jwtIssuer: string;
  jwtAudience: string[];
  allowedOrigins: string[];
  throttle: Throttle;
  /** The routes anyone may call (no token) and `$default`, each with its own bucket of this size. */
  anonymousThrottle: Throttle;
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
  /** `$default`: every request no route takes, answered 404/405 in the service's JSON by functions/no-route.ts. */
  readonly fallback: apigwv2.HttpRoute;

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

    const functionOf = (name: string) => {
      const fn = new StorageFunction(this, name, {
        fn: name,
        logRetention: props.logRetention,
        removalPolicy: props.removalPolicy,
      });
      grantAccess(fn, props.resources);
      this.functions.push(fn);
      return fn;
    };

    const anonymous = new Map<string, apigwv2.HttpRoute>();
    for (const route of routes) {
      const fn = functionOf(route.fn);
      const [httpRoute] = this.httpApi.addRoutes({
        path: route.path,
        methods: [route.method as apigwv2.HttpMethod],
        integration: new HttpLambdaIntegration(`${route.fn}-integration`, fn.function),
        authorizer: route.permission ? authorizer : undefined,
      });
      if (!httpRoute) throw new Error(`no route created for ${route.method} ${route.path}`);
      this.routes.set(route, httpRoute);
      if (!route.permission) {
        anonymous.set(routeKey(route), httpRoute);
        Validations.of(httpRoute).acknowledge({
          id: 'AwsSolutions::AwsSolutions-APIG4',
          reason: `${route.method} ${route.path} is public by design: its handler serves only public files, or private ones with a valid signed, expiring link.`,
        });
      }
    }

    // Without it API Gateway itself would answer unknown paths and methods with {"message":"Not Found"}.
    const fallbackFn = functionOf(fallbackRoute.fn);
    this.fallback = new apigwv2.HttpRoute(this, 'DefaultRoute', {
      httpApi: this.httpApi,
      routeKey: apigwv2.HttpRouteKey.DEFAULT,
      integration: new HttpLambdaIntegration(`${fallbackRoute.fn}-integration`, fallbackFn.function),
    });
    anonymous.set(fallbackRoute.key, this.fallback);
    Validations.of(this.fallback).acknowledge({
      id: 'AwsSolutions::AwsSolutions-APIG4',
      reason: '$default only answers 404/405 from the route table; it reads no data.',
    });

    // HTTP APIs throttle per route: requests without a token get their own, smaller buckets, so
    // anonymous traffic cannot use up the stage's limit that every tenant shares. The settings name
    // route keys, so the stage is created after those routes exist.
    const cfnStage = this.stage.node.defaultChild as apigwv2.CfnStage;
    cfnStage.routeSettings = Object.fromEntries(
      [...anonymous.keys()].map((key) => [
        key,
        {
          ThrottlingRateLimit: props.anonymousThrottle.rateLimit,
          ThrottlingBurstLimit: props.anonymousThrottle.burstLimit,
        },
      ]),
    );
    for (const r of anonymous.values()) this.stage.node.addDependency(r);
  }

  /** The API's base URL (the $default stage has no path prefix). */
  get url(): string {
    return this.stage.url;
  }

  /** The same, without the trailing slash: what clients put paths after. */
  get endpoint(): string {
    return this.httpApi.apiEndpoint;
  }
}
