import { describe, expect, test } from 'vitest';
import { specOfPath } from '../../src/server/input-check.ts';
import { loadSpec, type OpenApiDocument } from '../../src/server/spec.ts';

// Each path's request validator is built over a copy of the spec holding that path and only the components it reaches
// (the library bundles and compiles all it is given). What it is given must still resolve every reference it holds.

const spec = loadSpec();

/** Every `$ref` string under `node`. */
function refsIn(node: unknown, found: string[] = []): string[] {
  if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') {
        found.push(value);
      } else {
        refsIn(value, found);
      }
    }
  }
  return found;
}

/** Whether a JSON pointer reference resolves in `doc`. */
function resolves(doc: OpenApiDocument, ref: string): boolean {
  let node: unknown = doc;
  for (const part of ref.replace(/^#\//, '').split('/')) {
    const key = part.replaceAll('~1', '/').replaceAll('~0', '~');
    if (node === null || typeof node !== 'object' || !(key in node)) {
      return false;
    }
    node = (node as Record<string, unknown>)[key];
  }
  return true;
}

describe("a path validator's copy of the spec", () => {
  test('holds one path, every component its references reach and nothing else but the security schemes', () => {
    const paths = Object.keys(spec.paths);
    expect(paths.length).toBeGreaterThan(10);
    for (const path of paths) {
      const own = specOfPath(spec, path, spec.paths[path] ?? {});
      expect(Object.keys(own.paths)).toEqual([path]);
      expect(own.webhooks).toBeUndefined();
      const refs = refsIn(own);
      expect(
        refs.filter((ref) => !resolves(own, ref)),
        path,
      ).toEqual([]);
      const components = own.components as Record<string, Record<string, unknown>>;
      for (const [kind, entries] of Object.entries(components)) {
        if (kind === 'securitySchemes') {
          continue;
        }
        for (const name of Object.keys(entries)) {
          expect(refs, `${path}: ${kind}/${name}`).toContain(`#/components/${kind}/${name}`);
        }
      }
    }
  });

  test('a path keeps far fewer components than the spec has', () => {
    const count = (doc: OpenApiDocument) =>
      Object.values(doc.components as Record<string, object>).reduce(
        (n, entries) => n + Object.keys(entries).length,
        0,
      );
    const own = specOfPath(spec, '/v1/contacts', spec.paths['/v1/contacts'] ?? {});
    expect(count(own)).toBeLessThan(count(spec) / 2);
    const schemas = Object.keys((own.components as { schemas: object }).schemas);
    expect(schemas).toEqual(expect.arrayContaining(['Contact', 'CreateContactRequest']));
    expect(schemas).not.toContain('UpdateContactRequest');
  });

  test('a reference it cannot follow keeps every component', () => {
    const item = { get: { responses: { 200: { $ref: '#/components/responses/Nope/content' } } } };
    const own = specOfPath(spec, '/x', item);
    expect(own.components).toBe(spec.components);
    expect(own.webhooks).toBeUndefined();
  });
});
