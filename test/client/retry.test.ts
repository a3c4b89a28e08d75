import { afterEach, describe, expect, test } from 'vitest';
import { createMailroomClient, MailroomError, type RetryOptions, unwrap } from '../../src/client/index.ts';
import { fail, ok, type ScriptedReply, type ScriptedServer, startScriptedServer } from './helpers/scripted-server.ts';

const KEY = 'mr_a1b2c3d4_Xk3PqR7sT1uVwY9zA2bC4dE6fG8hJ0kL1mN3pQ';
const servers: ScriptedServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** Starts a server whose n-th answer is `replies[n]` (the last one repeats) and logs `send n` for each request. */
async function serve(replies: ScriptedReply[], log: string[] = []) {
  const server = await startScriptedServer((_request, index) => {
    log.push(`send ${index + 1}`);
    return replies[Math.min(index, replies.length - 1)] as ScriptedReply;
  });
  servers.push(server);
  return server;
}

/** Retry options whose waits are recorded in `log` instead of slept, with jitter pinned by `random`. */
function recordedWaits(log: string[], random = 0): RetryOptions {
  return {
    random: () => random,
    sleep: async (ms) => {
      log.push(`sleep ${ms}`);
    },
  };
}

const rateLimited = (requestId: string) =>
  fail(429, 'RATE_LIMITED', requestId, {
    'Retry-After': '1',
    'X-RateLimit-Limit': '3',
    'X-RateLimit-Remaining': '0',
    'X-RateLimit-Reset': '1',
  });

describe('retry on 429 with Retry-After', () => {
  test('waits Retry-After before each retry, in order, and succeeds on the third send', async () => {
    const log: string[] = [];
    const server = await serve([rateLimited('r1'), rateLimited('r2'), ok({ valid: true })], log);
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY, retry: recordedWaits(log) });

    const data = await unwrap(client.GET('/v1/api-keys/validate'));

    expect(data).toEqual({ valid: true });
    expect(log).toEqual(['send 1', 'sleep 1000', 'send 2', 'sleep 1000', 'send 3']);
  });

  test('waits with the real timer too: three sends, a wait of at least Retry-After before each retry', async () => {
    const log: string[] = [];
    const delays: number[] = [];
    const server = await serve([rateLimited('r1'), rateLimited('r2'), ok({ valid: true })], log);
    const client = createMailroomClient({
      baseUrl: server.url,
      apiKey: KEY,
      retry: {
        onRetry: ({ attempt, delayMs }) => {
          log.push(`retry ${attempt}`);
          delays.push(delayMs);
        },
      },
    });

    await unwrap(client.GET('/v1/api-keys/validate'));

    expect(log).toEqual(['send 1', 'retry 1', 'send 2', 'retry 2', 'send 3']);
    expect(delays.every((ms) => ms >= 1000)).toBe(true);
  });

  test('adds the full-jitter backoff term on top of Retry-After', async () => {
    const log: string[] = [];
    const server = await serve([rateLimited('r1'), rateLimited('r2'), ok({})], log);
    const client = createMailroomClient({
      baseUrl: server.url,
      apiKey: KEY,
      retry: { ...recordedWaits(log, 0.5), baseDelayMs: 100 },
    });

    await unwrap(client.GET('/v1/api-keys/validate'));

    expect(log.filter((line) => line.startsWith('sleep'))).toEqual(['sleep 1050', 'sleep 1100']);
  });

  test('gives up after maxRetries with a RATE_LIMITED MailroomError carrying the last request id', async () => {
    const log: string[] = [];
    let n = 0;
    const server = await startScriptedServer(() => {
      n++;
      log.push(`send ${n}`);
      return rateLimited(`req-${n}`);
    });
    servers.push(server);
    const client = createMailroomClient({
      baseUrl: server.url,
      apiKey: KEY,
      retry: { ...recordedWaits(log), maxRetries: 2 },
    });

    const error = await unwrap(client.GET('/v1/api-keys')).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MailroomError);
    expect(error).toMatchObject({ code: 'RATE_LIMITED', status: 429, requestId: 'req-3', retryAfterSeconds: 1 });
    expect(log).toEqual(['send 1', 'sleep 1000', 'send 2', 'sleep 1000', 'send 3']);
  });

  test('retries a POST on 429, because a refused request was not processed, and resends the same body', async () => {
    const server = await serve([rateLimited('r1'), { status: 201, body: { success: true, data: { keyId: 'k' } } }]);
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY, retry: recordedWaits([]) });

    const created = await unwrap(client.POST('/v1/api-keys', { body: { name: 'Production API', expirationDays: 30 } }));

    expect(created).toEqual({ keyId: 'k' });
    expect(server.requests.map((r) => [r.method, JSON.parse(r.body)])).toEqual([
      ['POST', { name: 'Production API', expirationDays: 30 }],
      ['POST', { name: 'Production API', expirationDays: 30 }],
    ]);
  });

  test('resends the same credentials and X-Request-Id on every attempt', async () => {
    const server = await serve([rateLimited('r1'), ok({})]);
    const client = createMailroomClient({
      baseUrl: server.url,
      apiKey: KEY,
      authScheme: 'x-api-key',
      retry: recordedWaits([]),
    });

    await unwrap(client.GET('/v1/api-keys/validate'));

    const [first, second] = server.requests;
    expect(first?.headers['x-api-key']).toBe(KEY);
    expect(second?.headers['x-api-key']).toBe(KEY);
    expect(first?.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(second?.headers['x-request-id']).toBe(first?.headers['x-request-id']);
  });

  test('gives up at once when Retry-After is longer than maxRetryAfterMs', async () => {
    const log: string[] = [];
    const server = await serve([fail(429, 'RATE_LIMITED', 'r1', { 'Retry-After': '120' })], log);
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY, retry: recordedWaits(log) });

    const error = await unwrap(client.GET('/v1/health')).catch((e: unknown) => e);

    expect(error).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 120, requestId: 'r1' });
    expect(log).toEqual(['send 1']);
  });

  test('honours a Retry-After above the backoff cap when it is within maxRetryAfterMs', async () => {
    const log: string[] = [];
    const server = await serve([fail(429, 'RATE_LIMITED', 'r1', { 'Retry-After': '30' }), ok({})], log);
    const client = createMailroomClient({
      baseUrl: server.url,
      apiKey: KEY,
      retry: { ...recordedWaits(log), maxDelayMs: 1000 },
    });

    await unwrap(client.GET('/v1/health'));

    expect(log).toEqual(['send 1', 'sleep 30000', 'send 2']);
  });

  test('updates the rate-limit state from retried responses too', async () => {
    const seen: number[] = [];
    const server = await serve([
      rateLimited('r1'),
      {
        status: 200,
        headers: { 'X-RateLimit-Limit': '3', 'X-RateLimit-Remaining': '2', 'X-RateLimit-Reset': '60' },
        body: { success: true, data: {} },
      },
    ]);
    const client = createMailroomClient({
      baseUrl: server.url,
      apiKey: KEY,
      retry: recordedWaits([]),
      onRateLimit: (state) => seen.push(state.remaining),
    });

    await unwrap(client.GET('/v1/health'));

    expect(seen).toEqual([0, 2]);
    expect(client.rateLimit).toMatchObject({ limit: 3, remaining: 2, resetSeconds: 60 });
  });

  test('with retry: false a 429 is returned after one send', async () => {
    const server = await serve([rateLimited('r1'), ok({})]);
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY, retry: false });

    await expect(unwrap(client.GET('/v1/health'))).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    expect(server.requests).toHaveLength(1);
  });

  test('aborting during the wait rejects with the abort reason and sends nothing more', async () => {
    const controller = new AbortController();
    const server = await serve([rateLimited('r1'), ok({})]);
    const client = createMailroomClient({
      baseUrl: server.url,
      apiKey: KEY,
      retry: { onRetry: () => controller.abort(new Error('caller gave up')) },
    });

    await expect(client.GET('/v1/health', { signal: controller.signal })).rejects.toThrow('caller gave up');
    expect(server.requests).toHaveLength(1);
  });
});

describe('concurrent calls', () => {
  test('each call keeps its own copy and attempt count: concurrent retries do not mix', async () => {
    const seen = new Map<string, number>();
    const server = await startScriptedServer((request) => {
      const count = (seen.get(request.url) ?? 0) + 1;
      seen.set(request.url, count);
      return count === 1 ? fail(429, 'RATE_LIMITED', request.url, { 'Retry-After': '0' }) : ok({ url: request.url });
    });
    servers.push(server);
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY, retry: recordedWaits([]) });

    const [health, validation, limits] = await Promise.all([
      unwrap(client.GET('/v1/health')),
      unwrap(client.GET('/v1/api-keys/validate')),
      unwrap(client.GET('/v1/rate-limit')),
    ]);

    expect([health, validation, limits]).toEqual([
      { url: '/v1/health' },
      { url: '/v1/api-keys/validate' },
      { url: '/v1/rate-limit' },
    ]);
    expect(server.requests).toHaveLength(6);
  });
});

describe('retry on 503', () => {
  test('backs off exponentially with full jitter, capped at maxDelayMs, then succeeds', async () => {
    const log: string[] = [];
    const unavailable = fail(503, 'SERVICE_UNAVAILABLE', 'r');
    const server = await serve([unavailable, unavailable, unavailable, ok({ status: 'ok' })], log);
    const client = createMailroomClient({
      baseUrl: server.url,
      apiKey: KEY,
      retry: { ...recordedWaits(log, 0.999_999), baseDelayMs: 100, maxDelayMs: 300 },
    });

    await unwrap(client.GET('/v1/health'));

    expect(log).toEqual(['send 1', 'sleep 99', 'send 2', 'sleep 199', 'send 3', 'sleep 299', 'send 4']);
  });

  test('gives up on a GET with SERVICE_UNAVAILABLE after maxRetries', async () => {
    const server = await serve([fail(503, 'SERVICE_UNAVAILABLE', 'r503')]);
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY, retry: recordedWaits([]) });

    const error = await unwrap(client.GET('/v1/contacts')).catch((e) => e);

    expect(error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 503, requestId: 'r503' });
    expect(server.requests).toHaveLength(4);
  });

  test('does not retry a 503 for a POST without an Idempotency-Key: the database may have written before it timed out', async () => {
    const server = await serve([fail(503, 'SERVICE_UNAVAILABLE', 'r503')]);
    const client = createMailroomClient({
      baseUrl: server.url,
      apiKey: KEY,
      retry: recordedWaits([]),
      idempotencyKeys: false,
    });

    const error = await unwrap(client.POST('/v1/contacts', { body: { email: 'ada@example.com' } })).catch((e) => e);

    expect(error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 503, requestId: 'r503' });
    expect(server.requests).toHaveLength(1);
  });

  test('a 503 HTML page from a proxy is retried and ends as SERVICE_UNAVAILABLE with the id the client sent', async () => {
    const server = await serve([{ status: 503, body: '<html><body>upstream down</body></html>' }]);
    const client = createMailroomClient({
      baseUrl: server.url,
      apiKey: KEY,
      retry: { ...recordedWaits([]), maxRetries: 1 },
    });

    const error = await unwrap(client.GET('/v1/health')).catch((e) => e);

    expect(error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 503 });
    expect(error.requestId).toBe(server.requests[1]?.headers['x-request-id']);
    expect(server.requests).toHaveLength(2);
  });
});

describe('statuses that are never retried', () => {
  test.each([
    [400, 'BAD_REQUEST'],
    [401, 'UNAUTHORIZED'],
    [403, 'FORBIDDEN'],
    [404, 'RESOURCE_NOT_FOUND'],
    [409, 'DUPLICATE_RESOURCE'],
    [422, 'VALIDATION_ERROR'],
    [500, 'SERVER_ERROR'],
  ] as const)('%i %s is sent once and thrown', async (status, code) => {
    const log: string[] = [];
    const server = await serve([fail(status, code, `id-${status}`), ok({})], log);
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY, retry: recordedWaits(log) });

    await expect(unwrap(client.GET('/v1/api-keys'))).rejects.toMatchObject({ code, status, requestId: `id-${status}` });
    expect(log).toEqual(['send 1']);
  });
});

describe('retry on network errors', () => {
  test('retries a GET after the connection drops and returns the answer of the retry', async () => {
    const log: string[] = [];
    const server = await serve(['destroy', ok({ status: 'ok' })], log);
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY, retry: recordedWaits(log, 0.5) });

    const data = await unwrap(client.GET('/v1/health'));

    expect(data).toEqual({ status: 'ok' });
    expect(log).toEqual(['send 1', 'sleep 125', 'send 2']);
  });

  test('a network error then a 429 continues with Retry-After and the same attempt budget', async () => {
    const log: string[] = [];
    const server = await serve(['destroy', rateLimited('r2'), ok({})], log);
    const client = createMailroomClient({
      baseUrl: server.url,
      apiKey: KEY,
      retry: { ...recordedWaits(log), maxRetries: 2 },
    });

    await unwrap(client.GET('/v1/health'));

    expect(log).toEqual(['send 1', 'sleep 0', 'send 2', 'sleep 1000', 'send 3']);
  });

  test('rethrows the last network error of a GET after maxRetries', async () => {
    const server = await serve(['destroy']);
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY, retry: recordedWaits([]) });

    await expect(client.GET('/v1/health')).rejects.toThrow(TypeError);
    expect(server.requests).toHaveLength(4);
  });

  test('does not retry a POST without an Idempotency-Key after a network error: it may have been processed', async () => {
    const server = await serve(['destroy', { status: 201, body: { success: true, data: {} } }]);
    const client = createMailroomClient({
      baseUrl: server.url,
      apiKey: KEY,
      retry: recordedWaits([]),
      idempotencyKeys: false,
    });

    await expect(client.POST('/v1/api-keys', { body: { name: 'Once' } })).rejects.toThrow(TypeError);
    expect(server.requests).toHaveLength(1);
  });

  test('does not retry a PATCH after a network error', async () => {
    const server = await serve(['destroy', ok({})]);
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY, retry: recordedWaits([]) });

    await expect(
      client.PATCH('/v1/api-keys/{keyId}', { params: { path: { keyId: 'key_0' } }, body: { name: 'x' } }),
    ).rejects.toThrow(TypeError);
    expect(server.requests).toHaveLength(1);
  });

  test('retries a DELETE after a network error (idempotent)', async () => {
    const server = await serve(['destroy', ok({ keyId: 'key_0', revoked: true })]);
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY, retry: recordedWaits([]) });

    const data = await unwrap(client.DELETE('/v1/api-keys/{keyId}', { params: { path: { keyId: 'key_0' } } }));

    expect(data).toEqual({ keyId: 'key_0', revoked: true });
    expect(server.requests.map((r) => r.method)).toEqual(['DELETE', 'DELETE']);
  });
});

describe('Idempotency-Key', () => {
  const created = { status: 201, body: { success: true, data: { keyId: 'key_1' } } } as const;
  const idempotencyKeys = (server: ScriptedServer) => server.requests.map((r) => r.headers['idempotency-key']);

  test('every POST gets a fresh one, reused on its own retries; other methods get none', async () => {
    const server = await serve([rateLimited('r1'), created, created, ok({})]);
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY, retry: recordedWaits([]) });

    await unwrap(client.POST('/v1/api-keys', { body: { name: 'First' } }));
    await unwrap(client.POST('/v1/api-keys', { body: { name: 'Second' } }));
    await unwrap(client.GET('/v1/api-keys'));

    const [first, retried, second, read] = idempotencyKeys(server);
    expect(first).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(retried).toBe(first);
    expect(second).toMatch(/^[0-9a-f-]{36}$/);
    expect(second).not.toBe(first);
    expect(read).toBeUndefined();
  });

  test('a caller’s own Idempotency-Key is sent as given', async () => {
    const server = await serve([created]);
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY, retry: recordedWaits([]) });

    await unwrap(
      client.POST('/v1/api-keys', { body: { name: 'Mine' }, headers: { 'Idempotency-Key': 'order-42-key' } }),
    );

    expect(idempotencyKeys(server)).toEqual(['order-42-key']);
  });

  test('a 503 on a POST with an Idempotency-Key is retried with backoff, with the same key', async () => {
    const log: string[] = [];
    const server = await serve([fail(503, 'SERVICE_UNAVAILABLE', 'r1'), created], log);
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY, retry: recordedWaits(log, 0.5) });

    const data = await unwrap(client.POST('/v1/contacts', { body: { email: 'ada@example.com' } }));

    expect(data).toEqual({ keyId: 'key_1' });
    expect(log).toEqual(['send 1', 'sleep 125', 'send 2']);
    const [first, second] = idempotencyKeys(server);
    expect(second).toBe(first);
    expect(server.requests.map((r) => JSON.parse(r.body))).toEqual([
      { email: 'ada@example.com' },
      { email: 'ada@example.com' },
    ]);
  });

  test('a POST with an Idempotency-Key is retried after a dropped connection', async () => {
    const server = await serve(['destroy', created]);
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY, retry: recordedWaits([]) });

    expect(await unwrap(client.POST('/v1/api-keys', { body: { name: 'Once' } }))).toEqual({ keyId: 'key_1' });
    const [first, second] = idempotencyKeys(server);
    expect(second).toBe(first);
  });

  test('a 409 IDEMPOTENCY_KEY_IN_USE is retried after its Retry-After; a 409 without one is not', async () => {
    const log: string[] = [];
    const inUse = fail(409, 'IDEMPOTENCY_KEY_IN_USE', 'busy', { 'Retry-After': '1' });
    const server = await serve([inUse, created, fail(409, 'DUPLICATE_RESOURCE', 'dup')], log);
    const client = createMailroomClient({ baseUrl: server.url, apiKey: KEY, retry: recordedWaits(log) });

    expect(await unwrap(client.POST('/v1/api-keys', { body: { name: 'Busy' } }))).toEqual({ keyId: 'key_1' });
    await expect(unwrap(client.POST('/v1/contacts', { body: { email: 'ada@example.com' } }))).rejects.toMatchObject({
      code: 'DUPLICATE_RESOURCE',
      status: 409,
    });

    expect(log).toEqual(['send 1', 'sleep 1000', 'send 2', 'send 3']);
  });

  test('with idempotencyKeys: false no POST carries one, and a 409 with Retry-After is not retried', async () => {
    const server = await serve([fail(409, 'IDEMPOTENCY_KEY_IN_USE', 'busy', { 'Retry-After': '1' }), created]);
    const client = createMailroomClient({
      baseUrl: server.url,
      apiKey: KEY,
      retry: recordedWaits([]),
      idempotencyKeys: false,
    });

    await expect(unwrap(client.POST('/v1/api-keys', { body: { name: 'Plain' } }))).rejects.toMatchObject({
      code: 'IDEMPOTENCY_KEY_IN_USE',
    });
    expect(idempotencyKeys(server)).toEqual([undefined]);
  });
});

describe('retry options', () => {
  test.each([
    [{ maxRetries: -1 }, 'retry.maxRetries'],
    [{ maxRetries: 1.5 }, 'retry.maxRetries'],
    [{ baseDelayMs: Number.NaN }, 'retry.baseDelayMs'],
    [{ maxDelayMs: -5 }, 'retry.maxDelayMs'],
  ])('%o is refused when the client is created', (retry, message) => {
    expect(() => createMailroomClient({ baseUrl: 'http://127.0.0.1:1', apiKey: KEY, retry })).toThrow(message);
  });
});
