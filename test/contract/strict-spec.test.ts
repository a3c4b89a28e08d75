import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { errorStatusTable, resolvePointer } from '../../src/contract/spec.ts';
import { buildStrictSpec, closeObjects, requireUtc } from '../../src/contract/strict-spec.ts';

const root = resolve(import.meta.dirname, '../..');
const bundled = () => JSON.parse(readFileSync(join(root, 'generated', 'openapi.json'), 'utf8'));

function validator(schema: object) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);
  return ajv.compile(schema);
}

describe('strict copy of the spec', () => {
  it('closes nested objects and allOf compositions, but not the branches of a composition', () => {
    const closed = closeObjects({
      type: 'object',
      properties: { data: { allOf: [{ type: 'object', properties: { a: {} } }, { properties: { b: {} } }] } },
    });
    expect(closed.unevaluatedProperties).toBe(false);
    expect(closed.properties.data.unevaluatedProperties).toBe(false);
    expect(closed.properties.data.allOf[0].unevaluatedProperties).toBeUndefined();
    const check = validator(closed);
    expect(check({ data: { a: 1, b: 2 } })).toBe(true);
    expect(check({ data: { a: 1, b: 2, keyHash: 'x' } })).toBe(false);
    expect(check({ data: { a: 1 }, extra: true })).toBe(false);
  });

  it('leaves an object that already says what it allows alone', () => {
    const schema = { type: 'object', additionalProperties: { type: 'string' } };
    expect(closeObjects(schema)).toEqual(schema);
  });

  it('requires date-times to end in Z', () => {
    const check = validator(requireUtc({ type: 'string', format: 'date-time' }));
    expect(check('2026-11-22T10:30:00.000Z')).toBe(true);
    expect(check('2026-11-22T10:30:00.000+00:00')).toBe(false);
  });

  it('pins each error response to the codes of its status, and closes every response object', () => {
    const source = bundled();
    const strict = buildStrictSpec(source);
    const schemaOf = (path: string, method: string, status: string) =>
      strict.doc.paths[path][method].responses[status].content['application/json'].schema;
    const conflict = validator(schemaOf('/v1/contacts', 'post', '409'));
    const envelope = (code: string) => ({ success: false, error: { code, message: 'm' }, meta: { requestId: 'r' } });
    expect(conflict(envelope('DUPLICATE_RESOURCE'))).toBe(true);
    expect(conflict(envelope('VALIDATION_ERROR'))).toBe(false);
    const created = validator(schemaOf('/v1/api-keys', 'post', '201'));
    // The spec's own example of a created key (whatever fields the key object has by now), closed and checked.
    const example = resolvePointer(source, '#/components/responses/ApiKeyCreated').content['application/json'].examples
      .created.value;
    expect(created(example), JSON.stringify(created.errors)).toBe(true);
    expect(created({ ...example, data: { ...example.data, keyHash: 'abc' } })).toBe(false);
    expect(strict.doc.jsonSchemaDialect).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(strict.summary.pinnedErrorResponses).toBeGreaterThan(100);
  });

  it('leaves the published spec open (tolerant reader)', () => {
    const source = bundled();
    buildStrictSpec(source);
    expect(JSON.stringify(source)).not.toContain('unevaluatedProperties');
  });
});

describe('error-code table lookup', () => {
  const withTable = (extension: string, table: unknown) => ({
    components: { schemas: { ErrorCode: { type: 'string', [extension]: table } } },
  });

  it.each([
    ['x-error-statuses', { DUPLICATE_RESOURCE: 409 }],
    ['x-error-codes', { DUPLICATE_RESOURCE: 409 }],
    ['x-error-codes', { DUPLICATE_RESOURCE: { status: 409, description: 'dup' } }],
    ['x-error-codes', [{ code: 'DUPLICATE_RESOURCE', status: 409 }]],
  ])('reads %s in the form %j', (extension, table) => {
    expect(errorStatusTable(withTable(extension, table))).toEqual(new Map([['DUPLICATE_RESOURCE', 409]]));
  });

  it('is empty when the spec declares none', () => {
    expect(errorStatusTable({ components: { schemas: { ErrorCode: { type: 'string' } } } }).size).toBe(0);
  });
});
