import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, test } from 'vitest';
import {
  createMailroomAccountClient,
  createMailroomClient,
  ERROR_CODES,
  errorCodeForStatus,
  MailroomError,
  unwrap,
  unwrapEnvelope,
} from '../../src/client/index.ts';
import { fail, ok, type ScriptedReply, type ScriptedServer, startScriptedServer } from './helpers/scripted-server.ts';

const KEY = 'mr_a1b2c3d4_Xk3PqR7sT1uVwY9zA2bC4dE6fG8hJ0kL1mN3pQ';
const OTHER_KEY = 'mr_k9m8n7p6_Xk3PqR7sT1uVwY9zA2bC4dE6fG8hJ0kL1mN3pQ';
const servers: ScriptedServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function serve(...replies: ScriptedReply[]) {
  const server = await startScriptedServer(
    (_request, index) => replies[Math.min(index, replies.length - 1)] as ScriptedReply,
  );
  servers.push(server);
  return server;
}

describe('auth', () => {
  test('sends the key as Authorization: Bearer by default, and no X-API-Key', async () => {
    const server = await serve(ok({}));
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY });

    await unwrap(client.GET('/v1/health'));

    expect(server.requests[0]?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(server.requests[0]?.headers['x-api-key']).toBeUndefined();
  });

  test("sends the key as X-API-Key with authScheme 'x-api-key', and no Authorization", async () => {
    const server = await serve(ok({}));
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY, authScheme: 'x-api-key' });

    await unwrap(client.GET('/v1/health'));

    expect(server.requests[0]?.headers['x-api-key']).toBe(KEY);
    expect(server.requests[0]?.headers.authorization).toBeUndefined();
  });

  test("a per-request credential header replaces the client's key instead of adding a second one", async () => {
    const server = await serve(ok({}));
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY });

    await unwrap(client.GET('/v1/health', { headers: { 'X-API-Key': OTHER_KEY } }));

    expect(server.requests[0]?.headers['x-api-key']).toBe(OTHER_KEY);
    expect(server.requests[0]?.headers.authorization).toBeUndefined();
  });

  test.each([
    [{ apiKey: '' }, 'apiKey is required'],
    [{ apiKey: undefined as unknown as string }, 'apiKey is required'],
    [{ baseUrl: '127.0.0.1:3000' }, 'baseUrl must be an absolute URL'],
    [{ authScheme: 'basic' as 'bearer' }, "authScheme must be 'bearer' or 'x-api-key'"],
  ])('createMailroomClient refuses %o', (override, message) => {
    expect(() => createMailroomClient({ baseUrl: 'http://127.0.0.1:3000', apiKey: KEY, ...override })).toThrow(message);
  });
});

const TOKEN = 'mru_k3m9p2x7_Vb7nQ2wE5rT8yU1iO4pA6sD9fG3hJ0kL15Fq2w';

describe('the account client', () => {
  test('sends the user token as Authorization: Bearer, and no X-API-Key', async () => {
    const server = await serve(ok({ user: {}, organizations: [] }));
    const account = createMailroomAccountClient({ baseUrl: server.url, userToken: TOKEN });

    await unwrap(account.GET('/auth/me'));

    expect(server.requests[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(server.requests[0]?.headers['x-api-key']).toBeUndefined();
  });

  test('without a token it sends no credential, for sign-up and log-in', async () => {
    const server = await serve(ok({}));
    const account = createMailroomAccountClient({ baseUrl: server.url });

    await unwrap(account.POST('/auth/login', { body: { email: 'ada@example.com', password: 'correct horse' } }));

    expect(server.requests[0]?.headers.authorization).toBeUndefined();
    expect(server.requests[0]?.headers['x-request-id']).toBeTypeOf('string');
  });

  test('a user token given to createMailroomClient, or an API key to createMailroomAccountClient, is refused', () => {
    // The types refuse these too (client.test-d.ts); this is for callers without them, e.g. from JavaScript.
    const asString = (value: string): string => value;
    expect(() => createMailroomClient({ baseUrl: 'http://127.0.0.1:3000', apiKey: asString(TOKEN) })).toThrow(
      'createMailroomClient: apiKey is a user token (mru_...)',
    );
    expect(() => createMailroomAccountClient({ baseUrl: 'http://127.0.0.1:3000', userToken: asString(KEY) })).toThrow(
      'createMailroomAccountClient: userToken is an API key (mr_...)',
    );
    expect(() => createMailroomAccountClient({ baseUrl: 'http://127.0.0.1:3000', userToken: '' })).toThrow(
      'userToken must be a non-empty string',
    );
    expect(() => createMailroomAccountClient({ baseUrl: 'nope' })).toThrow(
      'createMailroomAccountClient: baseUrl must be an absolute URL',
    );
  });
});

describe('requests', () => {
  test('accepts JSON and gives every call its own X-Request-Id', async () => {
    const server = await serve(ok({}));
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY });

    await unwrap(client.GET('/v1/health'));
    await unwrap(client.GET('/v1/health'));

    const [first, second] = server.requests;
    expect(first?.headers.accept).toBe('application/json');
    expect(first?.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(second?.headers['x-request-id']).not.toBe(first?.headers['x-request-id']);
  });

  test("keeps the caller's own X-Request-Id", async () => {
    const server = await serve(ok({}));
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY });

    await unwrap(client.GET('/v1/health', { headers: { 'X-Request-Id': 'checkout-42' } }));

    expect(server.requests[0]?.headers['x-request-id']).toBe('checkout-42');
  });

  test('serializes typed path and query parameters and JSON bodies', async () => {
    const server = await serve(ok({}));
    const client = createMailroomClient({ baseUrl: `${server.url}/`, apiKey: KEY });

    await unwrap(client.GET('/v1/contacts', { params: { query: { limit: 5, cursor: 'abc=' } } }));
    await unwrap(
      client.PATCH('/v1/contacts/{contactId}', {
        params: { path: { contactId: 'ct_9a8b7c6d5e4f3a2b' } },
        body: { subscribed: false },
      }),
    );

    expect(server.requests.map((r) => [r.method, r.url, r.body])).toEqual([
      ['GET', '/v1/contacts?limit=5&cursor=abc%3D', ''],
      ['PATCH', '/v1/contacts/ct_9a8b7c6d5e4f3a2b', '{"subscribed":false}'],
    ]);
    expect(server.requests[1]?.headers['content-type']).toBe('application/json');
  });

  test('middleware added with client.use runs before the retry copy, so a resent request carries its changes', async () => {
    const server = await serve(fail(429, 'RATE_LIMITED', 'r1', { 'Retry-After': '0' }), ok({}));
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY, retry: { sleep: async () => {} } });
    client.use({
      onRequest({ request }) {
        request.headers.set('User-Agent', 'checkout-service/1.0');
      },
    });

    await unwrap(client.GET('/v1/health'));

    expect(server.requests.map((r) => r.headers['user-agent'])).toEqual([
      'checkout-service/1.0',
      'checkout-service/1.0',
    ]);
  });
});

describe('unwrap', () => {
  test("returns the envelope's data from the call's promise", async () => {
    const server = await serve(ok([{ keyId: 'key_1' }], { total: 1 }));
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY });

    const keys = await unwrap(client.GET('/v1/api-keys'));

    expect(keys).toEqual([{ keyId: 'key_1' }]);
  });

  test('accepts an already settled result as well', async () => {
    const server = await serve(ok({ status: 'ok' }));
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY });

    const result = await client.GET('/livez');

    expect(await unwrap(result)).toEqual({ status: 'ok' });
  });

  test('unwrapEnvelope returns data and meta, for totals and cursors', async () => {
    const server = await serve(ok([], { limit: 20, hasMore: false, nextCursor: null }));
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY });

    const { data, meta } = await unwrapEnvelope(client.GET('/v1/contacts'));

    expect(data).toEqual([]);
    expect(meta).toEqual({ limit: 20, hasMore: false, nextCursor: null });
  });

  test('throws a MailroomError with code, status, message, details and requestId', async () => {
    const server = await serve({
      status: 422,
      headers: { 'X-Request-Id': 'req-422' },
      body: {
        success: false,
        error: { code: 'VALIDATION_ERROR', message: 'The given data was invalid', details: { name: ['too long'] } },
        meta: { requestId: 'req-422' },
      },
    });
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY });

    const error = await unwrap(client.POST('/v1/api-keys', { body: { name: 'x'.repeat(101) } })).catch((e) => e);

    expect(error).toBeInstanceOf(MailroomError);
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({
      name: 'MailroomError',
      code: 'VALIDATION_ERROR',
      status: 422,
      message: 'The given data was invalid',
      details: { name: ['too long'] },
      requestId: 'req-422',
      retryAfterSeconds: undefined,
    });
  });
});

describe('error bodies that are not Mailroom envelopes', () => {
  test("a proxy's HTML 502 becomes SERVICE_UNAVAILABLE with the request id the client sent", async () => {
    const server = await serve({ status: 502, body: '<html><h1>Bad Gateway</h1></html>' });
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY });

    const result = await client.GET('/v1/health');
    const error = await unwrap(result).catch((e) => e);

    const sentId = server.requests[0]?.headers['x-request-id'];
    expect(error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 502, requestId: sentId });
    expect(error.message).toBe('HTTP 502 Bad Gateway without a Mailroom error body (text/html)');
    expect(result.error).toEqual({
      success: false,
      error: { code: 'SERVICE_UNAVAILABLE', message: error.message },
      meta: { requestId: sentId },
    });
  });

  test('an empty 500 becomes SERVER_ERROR', async () => {
    const server = await serve({ status: 500, headers: { 'X-Request-Id': 'r500' } });
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY });

    await expect(unwrap(client.GET('/v1/health'))).rejects.toMatchObject({
      code: 'SERVER_ERROR',
      status: 500,
      requestId: 'r500',
      message: 'HTTP 500 Internal Server Error without a Mailroom error body (no content type)',
    });
  });

  test('problem+json keeps its detail as the message', async () => {
    const server = await serve({
      status: 404,
      body: { type: 'about:blank', title: 'Not Found', status: 404, detail: 'No route /v1/nope' },
    });
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY });

    await expect(unwrap(client.GET('/v1/health'))).rejects.toMatchObject({
      code: 'RESOURCE_NOT_FOUND',
      message: 'HTTP 404 Not Found: No route /v1/nope',
    });
  });

  test("an unknown code falls back to the status's code and keeps the server's message", async () => {
    const server = await serve({
      status: 409,
      headers: { 'X-Request-Id': 'r409' },
      body: { success: false, error: { code: 'KEY_ROTATING', message: 'Try later' }, meta: { requestId: 'r409' } },
    });
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY });

    await expect(unwrap(client.GET('/v1/health'))).rejects.toMatchObject({
      code: 'DUPLICATE_RESOURCE',
      message: 'Try later',
      requestId: 'r409',
    });
  });

  test("the response's X-Request-Id wins over a different meta.requestId", async () => {
    const server = await serve({
      status: 403,
      headers: { 'X-Request-Id': 'from-header' },
      body: { success: false, error: { code: 'FORBIDDEN', message: 'read_only' }, meta: { requestId: 'from-body' } },
    });
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY });

    const result = await client.DELETE('/v1/api-keys/{keyId}', { params: { path: { keyId: 'key_1' } } });

    expect(result.error?.meta.requestId).toBe('from-header');
    await expect(unwrap(result)).rejects.toMatchObject({ code: 'FORBIDDEN', requestId: 'from-header' });
  });
});

describe('rate-limit state', () => {
  const limited = (remaining: number): ScriptedReply => ({
    status: 200,
    headers: {
      'X-RateLimit-Limit': '100',
      'X-RateLimit-Remaining': String(remaining),
      'X-RateLimit-Reset': '60',
      'RateLimit-Policy': '"minute";q=100;w=60',
      RateLimit: `"minute";r=${remaining};t=60`,
    },
    body: { success: true, data: {} },
  });

  test('is null before any response and then follows the last response that had rate-limit headers', async () => {
    const server = await serve(limited(99), limited(98), ok({ status: 'ok' }));
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY });

    expect(client.rateLimit).toBeNull();
    await unwrap(client.GET('/v1/health'));
    expect(client.rateLimit).toMatchObject({ limit: 100, remaining: 99, window: 'minute' });
    await unwrap(client.GET('/v1/health'));
    await unwrap(client.GET('/livez'));
    expect(client.rateLimit).toMatchObject({ limit: 100, remaining: 98, resetSeconds: 60 });
    expect(client.rateLimit?.resetAt).toBeInstanceOf(Date);
  });

  test('is read from error responses too, and each state goes to onRateLimit', async () => {
    const states: number[] = [];
    const server = await serve(limited(1), {
      status: 401,
      headers: { 'X-RateLimit-Limit': '20', 'X-RateLimit-Remaining': '19', 'X-RateLimit-Reset': '60' },
      body: { success: false, error: { code: 'UNAUTHORIZED', message: 'revoked' }, meta: { requestId: 'r' } },
    });
    const client = createMailroomClient({
      baseUrl: server.url,
      apiKey: KEY,
      onRateLimit: (state) => states.push(state.remaining),
    });

    await unwrap(client.GET('/v1/health'));
    await unwrap(client.GET('/v1/health')).catch(() => undefined);

    expect(states).toEqual([1, 19]);
    expect(client.rateLimit?.limit).toBe(20);
  });
});

describe('errorCodeForStatus', () => {
  test.each([
    [400, 'BAD_REQUEST'],
    [401, 'UNAUTHORIZED'],
    [403, 'FORBIDDEN'],
    [404, 'RESOURCE_NOT_FOUND'],
    [405, 'METHOD_NOT_ALLOWED'],
    [409, 'DUPLICATE_RESOURCE'],
    [413, 'PAYLOAD_TOO_LARGE'],
    [415, 'UNSUPPORTED_MEDIA_TYPE'],
    [422, 'VALIDATION_ERROR'],
    [429, 'RATE_LIMITED'],
    [500, 'SERVER_ERROR'],
    [503, 'SERVICE_UNAVAILABLE'],
    [502, 'SERVICE_UNAVAILABLE'],
    [504, 'SERVICE_UNAVAILABLE'],
    [408, 'BAD_REQUEST'],
    [418, 'BAD_REQUEST'],
    [501, 'SERVER_ERROR'],
    [302, 'SERVER_ERROR'],
  ])('%i is %s', (status, code) => {
    expect(errorCodeForStatus(status)).toBe(code);
  });

  test("matches the spec's ErrorCode enum, and maps each status to the first code the spec lists for it", () => {
    const spec = JSON.parse(readFileSync(new URL('../../generated/openapi.json', import.meta.url), 'utf8'));
    const errorCode = spec.components.schemas.ErrorCode as {
      enum: string[];
      'x-error-statuses': Record<string, number>;
    };

    expect([...ERROR_CODES]).toEqual(errorCode.enum);
    const statuses = Object.entries(errorCode['x-error-statuses']);
    for (const [code, status] of statuses) {
      const generic = statuses.find(([, s]) => s === status)?.[0];
      expect(errorCodeForStatus(status), `${code} ${status}`).toBe(generic);
    }
    expect(errorCodeForStatus(409)).toBe('DUPLICATE_RESOURCE');
  });
});
