import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SCANNER_KEYS, scannerHeaders } from '../helpers/secret-scanner.ts';
import { newEmail } from './helpers/accounts.ts';
import { type CallOptions, call, expectError } from './helpers/call.ts';
import { startTestServer, type TestKey, type TestServer } from './helpers/server.ts';
import { allowOf, type Body, type ErrorBody, SPEC_OPERATIONS } from './helpers/spec.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const BODY_LIMIT = 100 * 1024;

let server: TestServer;
let key: TestKey;
let userToken: string;

beforeAll(async () => {
  server = await startTestServer({ webhooks: { deliver: false, secretScanningKeys: SCANNER_KEYS } });
  key = await server.newKey();
  const signedUp = await server.call<Body<'signUp', 201>>('POST', '/auth/signup', {
    body: { email: newEmail('errors'), password: 'correct horse battery staple' },
  });
  userToken = signedUp.body.data.token;
});
afterAll(async () => {
  await server?.close();
});

/** A JSON body of exactly `bytes` bytes: an API key name padded to size. */
function bodyOfSize(bytes: number): string {
  const frame = '{"name":""}';
  return `{"name":"${'x'.repeat(bytes - frame.length)}"}`;
}

describe('malformed requests', () => {
  test.each([
    ['POST', '/v1/contacts'],
    ['POST', '/v1/api-keys'],
    ['PATCH', '/v1/contacts/ct_0000000000000000'],
    ['PATCH', '/v1/api-keys/key_0000000000000000'],
  ])('malformed JSON to %s %s is 400 BAD_REQUEST', async (method, path) => {
    const reply = await server.call(method, path, { key: key.plaintext, raw: '{"name": "unterminated' });
    expect(expectError(reply, 400, 'BAD_REQUEST').message).toBe('The request body is not valid JSON');
  });

  test('a text/plain body is 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const reply = await server.call('POST', '/v1/contacts', {
      key: key.plaintext,
      raw: JSON.stringify({ email: newEmail() }),
      contentType: 'text/plain',
    });
    expect(expectError(reply, 415, 'UNSUPPORTED_MEDIA_TYPE').message).toBe(
      'Unsupported media type text/plain: send application/json',
    );
  });

  test('a form-encoded body (curl -d without a Content-Type) is 415', async () => {
    const reply = await server.call('POST', '/v1/api-keys', {
      key: key.plaintext,
      raw: '{ "name": "Production API" }',
      contentType: 'application/x-www-form-urlencoded',
    });
    expectError(reply, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  test('an unknown body field is 422 with details naming it', async () => {
    const reply = await server.call('POST', '/v1/api-keys', {
      key: key.plaintext,
      body: { name: 'n', scopes: ['all'] },
    });
    const error = expectError(reply, 422, 'VALIDATION_ERROR');
    expect(error.details).toEqual({ scopes: ['is not an allowed field'] });
  });

  test('an unknown query parameter is 422 with details naming it', async () => {
    const reply = await server.call('GET', '/v1/api-keys?page=2', { key: key.plaintext });
    expect(expectError(reply, 422, 'VALIDATION_ERROR').details).toEqual({
      'query.page': ['is not an allowed query parameter'],
    });
  });

  test('a missing required field is 422 on details.name', async () => {
    const reply = await server.call('POST', '/v1/api-keys', { key: key.plaintext, body: { expirationDays: 30 } });
    const error = expectError(reply, 422, 'VALIDATION_ERROR');
    expect(Object.keys(error.details ?? {})).toEqual(['name']);
  });

  test('a validation error has the easymail shape { error: { code, message, details } }', async () => {
    const reply = await server.call('POST', '/v1/contacts', { key: key.plaintext, body: { firstName: 'Ada' } });
    expect(reply.status).toBe(422);
    expect(reply.body).toEqual({
      success: false,
      error: {
        code: 'VALIDATION_ERROR',
        message: 'The given data was invalid',
        details: { email: [expect.any(String)] },
      },
      meta: { requestId: reply.requestId },
    });
  });

  test.each([
    [0, 'must be >= 1'],
    [366, 'must be <= 365'],
  ])('expirationDays %i is 422: %s', async (expirationDays, message) => {
    const reply = await server.call('POST', '/v1/api-keys', {
      key: key.plaintext,
      body: { name: 'n', expirationDays },
    });
    expect(expectError(reply, 422, 'VALIDATION_ERROR').details).toEqual({ expirationDays: [message] });
  });

  test('every invalid field is reported at once', async () => {
    const reply = await server.call('POST', '/v1/api-keys', {
      key: key.plaintext,
      body: { name: '', expirationDays: 999, access: 'root' },
    });
    expect(Object.keys(expectError(reply, 422, 'VALIDATION_ERROR').details ?? {}).sort()).toEqual([
      'access',
      'expirationDays',
      'name',
    ]);
  });

  test.each([
    ['POST', '/v1/api-keys'],
    ['PATCH', '/v1/api-keys/key_0000000000000000'],
    ['POST', '/v1/contacts'],
    ['PATCH', '/v1/contacts/ct_0000000000000000'],
  ])('a body over 100 KiB to %s %s is 413, one of exactly 100 KiB is not', async (method, path) => {
    const over = await server.call(method, path, { key: key.plaintext, raw: bodyOfSize(BODY_LIMIT + 1) });
    expect(expectError(over, 413, 'PAYLOAD_TOO_LARGE').message).toBe('The request body exceeds the 100 KiB limit');
    const at = await server.call(method, path, { key: key.plaintext, raw: bodyOfSize(BODY_LIMIT) });
    expect(at.status).toBe(422);
  });

  test('a POST without any body is refused with a 4xx envelope', async () => {
    const reply = await server.call('POST', '/v1/contacts', { key: key.plaintext });
    expect(reply.status).toBe(415);
  });
});

describe('routing errors', () => {
  // This server is no sandbox: its sandbox-only paths are unknown (test/server/sandbox/reset.test.ts).
  const paths = [...new Set(SPEC_OPERATIONS.filter((op) => !op.sandboxOnly).map((op) => op.path))];

  test.each(paths)('an undeclared method on %s is 405 with Allow', async (path) => {
    const concrete = path
      .replace('{keyId}', 'key_0000000000000000')
      .replace('{contactId}', 'ct_0000000000000000')
      .replace('{organizationId}', 'org_0000000000000000')
      .replace('{userId}', 'usr_0000000000000000')
      .replace('{sessionId}', 'tok_0000000000000000')
      .replace('{endpointId}', 'we_0000000000000000')
      .replace('{deliveryId}', 'dlv_0000000000000000');
    const operations = SPEC_OPERATIONS.filter((op) => op.path === path);
    const declared = operations.map((op) => op.method);
    // The credential the path's operations take (the miss is answered after their security): a key, a user token, or
    // a secret scanner's signature headers (checked over the body only by the operation itself).
    const scanner = operations.some((op) => op.schemes.includes('githubSecretScanning'));
    const credential = operations.some((op) => op.schemes.includes('userToken')) ? userToken : key.plaintext;
    const reply = await server.call(
      'PUT',
      concrete,
      scanner ? { headers: scannerHeaders('{}'), body: {} } : { key: credential, body: {} },
    );
    const error = expectError(reply, 405, 'METHOD_NOT_ALLOWED');
    expect(reply.headers.get('allow')).toBe(allowOf(declared));
    expect(error.message).toBe(`PUT is not allowed on ${concrete}; allowed: ${allowOf(declared)}`);
  });

  test('POST /livez is 405 with Allow: GET, HEAD, without a key and without rate-limit headers', async () => {
    const reply = await server.call('POST', '/livez');
    expectError(reply, 405, 'METHOD_NOT_ALLOWED');
    expect(reply.headers.get('allow')).toBe('GET, HEAD');
    expect(reply.rate).toBeUndefined();
  });

  test('GET /livez answers 200 whatever its query string (it documents only 200 and 405)', async () => {
    const reply = await server.call('GET', '/livez?probe=lb-1');
    expect(reply.status, reply.text).toBe(200);
  });

  test('an unknown route under /v1 is 404 for an authenticated caller, counted like any request', async () => {
    for (const path of ['/v1/domains', '/v1', '/v1/contacts/ct_1/notes', '/v1/api-keys/key_1/roll']) {
      const reply = await server.call('GET', path, { key: key.plaintext });
      expect(expectError(reply, 404, 'RESOURCE_NOT_FOUND').message).toBe(`No route GET ${path}`);
      expect(reply.rate).toBeDefined();
    }
  });

  test('an unknown route under /v1 without a key is 401: authentication comes before routing', async () => {
    const reply = await server.call('GET', '/v1/domains');
    expectError(reply, 401, 'UNAUTHORIZED');
  });

  test('an unknown route outside /v1 is a JSON 404 with X-Request-Id and no rate-limit headers', async () => {
    for (const [method, path] of [
      ['GET', '/'],
      ['GET', '/api/v1/contacts'],
      ['POST', '/docs'],
      ['DELETE', '/openapi.json'],
      ['GET', '/v2/contacts'],
      ['GET', '/docs/missing'],
    ] as const) {
      const reply = await server.call(method, path);
      expectError(reply, 404, 'RESOURCE_NOT_FOUND');
      expect(reply.rate).toBeUndefined();
    }
  });

  test('a path that only begins with the letters "/v1" is outside the API: a 404 without rate-limit headers', async () => {
    // /v1contacts is not under /v1/, so it is neither authenticated nor counted, and no window is exhausted.
    const reply = await server.call('GET', '/v1contacts');
    expectError(reply, 404, 'RESOURCE_NOT_FOUND');
    expect(reply.rate).toBeUndefined();
  });
});

describe('X-Request-Id', () => {
  test('is generated when absent, different for each request, on /livez and on errors', async () => {
    const ids = [
      (await server.call('GET', '/livez')).requestId,
      (await server.call('GET', '/livez')).requestId,
      (await server.call('GET', '/nowhere')).requestId,
      (await server.call('GET', '/v1/health', { key: key.plaintext })).requestId,
      (await server.call('GET', '/v1/health')).requestId,
    ];
    for (const id of ids) {
      expect(id).toMatch(UUID);
    }
    expect(new Set(ids).size).toBe(ids.length);
  });

  test.each([['trace-123.abc:XYZ_'], ['a'], ['x'.repeat(128)], ['9b2c1f4e-5d7a-4e8b-a1c3-0f6e2d9b7a45']])(
    'a sane caller value (%s) is kept and equals meta.requestId',
    async (given) => {
      const live = await server.call('GET', '/livez', { headers: { 'x-request-id': given } });
      expect(live.requestId).toBe(given);
      const failed = await server.call('GET', '/v1/contacts/ct_0000000000000000', {
        key: key.plaintext,
        headers: { 'x-request-id': given },
      });
      expect(failed.status).toBe(404);
      expect(failed.requestId).toBe(given);
      expect((failed.body as ErrorBody).meta.requestId).toBe(given);
    },
  );

  test.each([
    ['300 characters', 'r'.repeat(300)],
    ['129 characters', 'r'.repeat(129)],
    ['spaces', 'my request id'],
    ['a slash', 'a/b'],
    ['quotes', '"quoted"'],
    ['a comma', 'a,b'],
  ])('an insane caller value (%s) is replaced by a generated one', async (_label, given) => {
    const reply = await server.call('GET', '/v1/nope', { key: key.plaintext, headers: { 'x-request-id': given } });
    expect(reply.status).toBe(404);
    expect(reply.requestId).toMatch(UUID);
    expect(reply.requestId).not.toBe(given);
  });

  test('the request id is in the server’s log line for the request', async () => {
    const reply = await server.call('GET', '/v1/contacts/ct_0000000000000000', {
      key: key.plaintext,
      headers: { 'x-request-id': 'log-line-check-1' },
    });
    expect(reply.status).toBe(404);
    expect(server.logs()).toContain('"reqId":"log-line-check-1"');
  });
});

describe('bad input never answers 5xx and never damages stored data', () => {
  let sentinel: Body<'getContact', 200>['data'];

  beforeAll(async () => {
    const created = await server.call<Body<'createContact', 201>>('POST', '/v1/contacts', {
      key: key.plaintext,
      body: { email: newEmail('sentinel'), firstName: 'Sentinel' },
    });
    sentinel = created.body.data;
  });

  const deepArray = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
  const deepObject = `{"email":${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}}`;
  const unicorn = '\u{1F984}';

  const cases: [string, string, string, CallOptions][] = [
    ['a deeply nested array body', 'POST', '/v1/contacts', { raw: deepArray }],
    ['a deeply nested object as a field', 'POST', '/v1/contacts', { raw: deepObject }],
    ['a null body', 'POST', '/v1/contacts', { raw: 'null' }],
    ['an empty body', 'POST', '/v1/contacts', { raw: '' }],
    ['an array body', 'POST', '/v1/contacts', { raw: '[{"email":"array@example.com"}]' }],
    ['a string body', 'POST', '/v1/api-keys', { raw: '"name"' }],
    ['a number body', 'PATCH', '/v1/contacts/{sentinel}', { raw: '42' }],
    ['a huge rateLimit', 'POST', '/v1/api-keys', { raw: '{"name":"n","rateLimit":1e308}' }],
    ['a rateLimit beyond 2^64', 'POST', '/v1/api-keys', { raw: '{"name":"n","rateLimit":123456789012345678901234}' }],
    [
      'an expirationDays overflowing to Infinity',
      'POST',
      '/v1/api-keys',
      { raw: '{"name":"n","expirationDays":1e400}' },
    ],
    ['a negative zero expirationDays', 'POST', '/v1/api-keys', { raw: '{"name":"n","expirationDays":-0}' }],
    ['a limit overflowing to Infinity', 'GET', '/v1/contacts?limit=1e400', {}],
    ['a limit of Infinity', 'GET', '/v1/contacts?limit=Infinity', {}],
    ['a limit in hex', 'GET', '/v1/contacts?limit=0x10', {}],
    ['a repeated limit', 'GET', '/v1/contacts?limit=1&limit=2', {}],
    ['a bracketed query parameter', 'GET', '/v1/contacts?cursor[a]=1', {}],
    ['a 100-character unicode name', 'POST', '/v1/api-keys', { body: { name: unicorn.repeat(100) } }],
    ['a 101-character unicode name', 'POST', '/v1/api-keys', { body: { name: unicorn.repeat(101) } }],
    ['a 100-character name', 'POST', '/v1/api-keys', { body: { name: 'n'.repeat(100) } }],
    ['a 101-character name', 'POST', '/v1/api-keys', { body: { name: 'n'.repeat(101) } }],
    [
      'mixed-script names',
      'POST',
      '/v1/contacts',
      { body: { email: newEmail(), firstName: 'Zoë عربى 𝕬𝖉𝖆', lastName: 'ﷺ\u0301\u200d' } },
    ],
    ['a lone surrogate in a name', 'POST', '/v1/contacts', { raw: `{"email":"${newEmail()}","firstName":"\\ud800"}` }],
    ['an email with a +tag', 'POST', '/v1/contacts', { body: { email: `ada+news-${Date.now()}@example.com` } }],
    ['an email with a unicode local part', 'POST', '/v1/contacts', { body: { email: `${unicorn}@example.com` } }],
    ['an email of 255 characters', 'POST', '/v1/contacts', { body: { email: `${'e'.repeat(243)}@example.com` } }],
    ['duplicate JSON keys', 'POST', '/v1/contacts', { raw: `{"email":"x","email":"${newEmail()}"}` }],
    ['invalid UTF-8 bytes', 'POST', '/v1/contacts', { raw: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]) }],
    ['a latin1 charset', 'POST', '/v1/contacts', { raw: '{}', contentType: 'application/json; charset=latin1' }],
    ['an unsupported Content-Encoding', 'POST', '/v1/contacts', { raw: '{}', headers: { 'content-encoding': 'br2' } }],
    ['a malformed percent-encoding in the path', 'GET', '/v1/api-keys/%ZZ', {}],
    ['a 5000-character key id', 'GET', `/v1/api-keys/key_${'0'.repeat(5000)}`, {}],
    ['a 10 KB API key header', 'GET', '/v1/health', { headers: { 'x-api-key': `mr_${'a'.repeat(10_000)}` } }],
    ['a NUL byte in a name', 'POST', '/v1/contacts', { body: { email: newEmail(), firstName: 'a\u0000b' } }],
    ['a NUL byte in a contact id', 'GET', '/v1/contacts/ct_%00', {}],
    ['a NUL byte in a key id', 'DELETE', '/v1/api-keys/key_%00', {}],
    ['a NUL byte in a new key name', 'POST', '/v1/api-keys', { body: { name: 'nul\u0000name' } }],
    ['a field named __proto__', 'POST', '/v1/api-keys', { raw: '{"name":"n","__proto__":{"x":1}}' }],
    ['a field named constructor', 'POST', '/v1/contacts', { raw: `{"email":"${newEmail()}","constructor":1}` }],
    [
      'a cursor dated before PostgreSQL’s range',
      'GET',
      `/v1/contacts?cursor=${Buffer.from('{"c":"-271821-04-20T00:00:00.000Z","i":"ct_x"}').toString('base64url')}`,
      {},
    ],
    [
      'a cursor with a NUL byte',
      'GET',
      `/v1/contacts?cursor=${Buffer.from('{"c":"2026-01-01T00:00:00.000Z","i":"ct_\\u0000"}').toString('base64url')}`,
      {},
    ],
    [
      'a gzip Content-Encoding whose body is not gzip',
      'POST',
      '/v1/contacts',
      { raw: '{"email":"gzip@example.com"}', headers: { 'content-encoding': 'gzip' } },
    ],
  ];

  test.each(cases)('%s gets a 2xx or 4xx envelope', async (_label, method, rawPath, options) => {
    const path = rawPath.replace('{sentinel}', sentinel.contactId);
    const reply = await server.call(method, path, { key: key.plaintext, ...options });
    expect(reply.status, reply.text).toBeLessThan(500);

    const stored = await server.call<Body<'getContact', 200>>('GET', `/v1/contacts/${sentinel.contactId}`, {
      key: key.plaintext,
    });
    expect(stored.body.data).toEqual(sentinel);
    expect((await server.call('GET', '/v1/api-keys/validate', { key: key.plaintext })).status).toBe(200);
  });

  test('a real gzip body is accepted', async () => {
    const reply = await server.call('POST', '/v1/contacts', {
      key: key.plaintext,
      raw: new Uint8Array(gzipSync(JSON.stringify({ email: newEmail('gzip') }))),
      headers: { 'content-encoding': 'gzip' },
    });
    expect(reply.status).toBe(201);
  });

  test('an email with a +tag is stored as given and is unique regardless of case', async () => {
    const email = `Ada+Newsletter-${Date.now()}@Example.com`;
    const created = await server.call<Body<'createContact', 201>>('POST', '/v1/contacts', {
      key: key.plaintext,
      body: { email },
    });
    expect(created.body.data.email).toBe(email);
    const again = await server.call('POST', '/v1/contacts', {
      key: key.plaintext,
      body: { email: email.toLowerCase() },
    });
    expectError(again, 409, 'DUPLICATE_RESOURCE');
  });
});

describe('bodies are validated as sent, without type coercion', () => {
  test.each([
    ['POST', '/v1/api-keys', { name: 123 }, 'name'],
    ['POST', '/v1/api-keys', { name: 'n', rateLimit: true }, 'rateLimit'],
    ['POST', '/v1/api-keys', { name: 'n', expirationDays: '5' }, 'expirationDays'],
    ['POST', '/v1/contacts', { email: 'coerce-1@example.com', subscribed: 'false' }, 'subscribed'],
    ['POST', '/v1/contacts', { email: 'coerce-2@example.com', subscribed: null }, 'subscribed'],
    ['PATCH', '/v1/api-keys/{self}', { name: 42 }, 'name'],
  ])('%s %s %j is 422 on %s', async (method, rawPath, body, field) => {
    const path = rawPath.replace('{self}', key.keyId);
    const reply = await server.call(method, path, { key: key.plaintext, body });
    expect(reply.status, reply.text).toBe(422);
    expect(Object.keys(expectError(reply, 422, 'VALIDATION_ERROR').details ?? {})).toEqual([field]);
  });
});

describe('nothing answers HTML', () => {
  test('errors from every layer are JSON (checked by call on each reply)', async () => {
    const replies = await Promise.all([
      call(server.url, 'GET', '/v1/health'),
      call(server.url, 'GET', '/nope'),
      call(server.url, 'POST', '/v1/contacts', { key: key.plaintext, raw: '{' }),
      call(server.url, 'POST', '/v1/contacts', { key: key.plaintext, raw: 'x', contentType: 'text/html' }),
      call(server.url, 'POST', '/v1/contacts', { key: key.plaintext, raw: bodyOfSize(BODY_LIMIT * 3) }),
      call(server.url, 'DELETE', '/v1/contacts', { key: key.plaintext }),
      call(server.url, 'GET', '/v1/contacts?x=1', { key: key.plaintext }),
      call(server.url, 'GET', '/v1/%E0%A4%A', { key: key.plaintext }),
    ]);
    expect(replies.map((r) => r.status)).toEqual([401, 404, 400, 415, 413, 405, 422, 404]);
  });
});
