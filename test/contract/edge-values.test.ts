import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { edgeValues, emailOfLength, stringOfLength } from '../../src/contract/edge-values.ts';
import { listOperations } from '../../src/contract/spec.ts';

const root = resolve(import.meta.dirname, '../..');
const ajv = new Ajv();
addFormats.default(ajv, { mode: 'full' });
const isEmail = ajv.compile({ type: 'string', format: 'email' });

describe('edge values', () => {
  it.each([20, 64, 100, 254, 255])('builds a valid email of exactly %i characters', (length) => {
    const email = emailOfLength(length, 'run1.7');
    expect(email).toHaveLength(length);
    expect(isEmail(email), email).toBe(true);
  });

  it('gives no email when the length cannot hold one', () => {
    expect(emailOfLength(8, 'a-long-unique-tag')).toBeUndefined();
  });

  it('builds strings of the exact length', () => {
    expect(stringOfLength(0, 'tag')).toBe('');
    expect(stringOfLength(2, 'tag')).toHaveLength(2);
    expect(stringOfLength(101, 'tag')).toHaveLength(101);
  });

  it('derives accepted and refused values at every bound of the bundled spec', () => {
    const operations = listOperations(JSON.parse(readFileSync(join(root, 'generated', 'openapi.json'), 'utf8')));
    let n = 0;
    const edges = edgeValues(operations, () => `t${++n}`);
    const described = edges.map((e) => `${e.operation.operationId} ${e.why} ${e.accepted ? 'accepted' : 'refused'}`);
    expect(described).toEqual(
      expect.arrayContaining([
        'createApiKey name at maxLength 100 accepted',
        'createApiKey name one over maxLength 100 refused',
        'createApiKey name one under minLength 1 refused',
        'createApiKey expirationDays one over maximum 365 refused',
        'createContact email at maxLength 254 accepted',
        'createContact email one over maxLength 254 refused',
        'listContacts ?limit one over maximum 100 refused',
        'listContacts ?limit one under minimum 1 refused',
      ]),
    );
    const email = edges.find((e) => e.operation.operationId === 'createContact' && e.why === 'email at maxLength 254');
    expect(String(email?.value)).toHaveLength(254);
  });
});
