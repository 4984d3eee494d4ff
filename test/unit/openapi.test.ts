import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { errorCodes } from '../../shared/errors';
import { LOCAL_ONLY_CODES, openApiDocument } from '../../shared/openapi';
import { routes } from '../../shared/routes';

// biome-ignore lint/suspicious/noExplicitAny: the document is walked as plain JSON
type Json = any;
const document = openApiDocument('http://localhost:3000') as Json;
const openApiPath = (path: string) => path.replace(/\{(\w+)\+\}/g, '{$1}');
const operations = () =>
  Object.entries(document.paths as Record<string, Record<string, Json>>).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({ path, method: method.toUpperCase(), operation })),
  );

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1', async () => {
    const result = await new Validator().validate(structuredClone(document));
    expect(result.errors ?? [], JSON.stringify(result.errors)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(document.openapi).toBe('3.1.0');
    // The validator does find what is wrong: a parameter in no place a parameter can be.
    const broken = structuredClone(document);
    broken.paths['/v1/objects'].get.parameters[0].in = 'body';
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });

  it('has every route of shared/routes.ts, and nothing else', () => {
    const documented = operations()
      .map((o) => `${o.method} ${o.path}`)
      .sort();
    expect(documented).toEqual(routes.map((r) => `${r.method} ${openApiPath(r.path)}`).sort());
    for (const route of routes) {
      const operation = document.paths[openApiPath(route.path)][route.method.toLowerCase()];
      // Its path parameters, as the route names them.
      const inPath = [...route.path.matchAll(/\{(\w+)\+?\}/g)].map((m) => m[1]);
      const documentedPath = (operation.parameters ?? [])
        .filter((p: Json) => p.in === 'path')
        .map((p: Json) => p.name);
      expect(documentedPath, route.fn).toEqual(inPath);
      // A token route names its scope; an anonymous one needs none.
      expect(operation.security, route.fn).toEqual(
        route.permission ? [{ bearer: [`storage:${route.permission}`] }] : [],
      );
    }
  });

  it('documents only error codes of shared/errors.ts, each under its own status, and every code somewhere', () => {
    const documented = new Set<string>([
      ...document.info['x-fallback-error-codes'],
      ...document.info['x-local-error-codes'],
    ]);
    for (const { path, method, operation } of operations()) {
      for (const [status, response] of Object.entries(operation.responses as Record<string, Json>)) {
        for (const code of response['x-error-codes'] ?? []) {
          expect(Object.keys(errorCodes), `${method} ${path}`).toContain(code);
          expect(String(errorCodes[code as keyof typeof errorCodes]), `${method} ${path} ${code}`).toBe(
            status,
          );
          documented.add(code);
        }
      }
    }
    expect([...documented].sort()).toEqual(Object.keys(errorCodes).sort());
    expect(LOCAL_ONLY_CODES.every((c) => c in errorCodes)).toBe(true);
  });

  it("names the validating schemas' error codes on their fields, e.g. the thumbnail parameters", () => {
    const params = document.paths['/v1/thumbnails/{tenant}/{path}'].get.parameters as Json[];
    const code = (name: string) => params.find((p) => p.name === name)?.schema['x-error-code'];
    expect(code('width')).toBe('INVALID_THUMBNAIL_SIZE');
    expect(code('fit')).toBe('INVALID_THUMBNAIL_FIT');
    expect(code('quality')).toBe('INVALID_THUMBNAIL_QUALITY');
    const upload = document.paths['/v1/objects/{path}'].put.parameters as Json[];
    expect(upload.find((p) => p.name === 'md5')?.schema).toMatchObject({ 'x-error-code': 'INVALID_MD5' });
    expect(document.components.schemas.Attachment.properties.fullName).toEqual({ type: 'string' });
  });
});
