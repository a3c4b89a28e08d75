import { createRequire } from 'node:module';
import { describe, expect, test } from 'vitest';
import { shareSchemaValidators } from '../../src/server/schema-validator-cache.ts';

// express-openapi-validator compiles the OpenAPI meta-schema in every middleware it builds; the server builds one per
// spec path, lazily. Shared, the meta-schema is compiled once per process, whatever the number of paths.

const require = createRequire(import.meta.url);
type Validator = { validate(doc: unknown): { errors: unknown[] } };
const holder = require('express-openapi-validator/dist/framework/openapi.schema.validator.js') as {
  OpenAPISchemaValidator: new (opts: { version: string; validateApiSpec: boolean }) => Validator;
};

describe('sharing express-openapi-validator’s meta-schema validators', () => {
  test('after it, the library builds one validator per OpenAPI version and setting, and it still validates', () => {
    expect(shareSchemaValidators()).toBe(true);
    expect(shareSchemaValidators()).toBe(true);
    const first = new holder.OpenAPISchemaValidator({ version: '3.1.0', validateApiSpec: true });
    const second = new holder.OpenAPISchemaValidator({ version: '3.1.0', validateApiSpec: true });
    const other = new holder.OpenAPISchemaValidator({ version: '3.1.0', validateApiSpec: false });
    expect(second).toBe(first);
    expect(other).not.toBe(first);
    expect(first.validate({ openapi: '3.1.0' }).errors.length).toBeGreaterThan(0);
    expect(first.validate({ openapi: '3.1.0', info: { title: 't', version: '1' }, paths: {} }).errors).toEqual([]);
  });
});
