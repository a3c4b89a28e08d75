import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { generateApiKey } from '../../src/keys/api-key.ts';
import { newEmail } from './helpers/accounts.ts';
import { expectError, type Reply } from './helpers/call.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import type { Body } from './helpers/spec.ts';

let server: TestServer;

beforeAll(async () => {
  // failedAuth left at the server's default, to check what a default server announces.
  server = await startTestServer({ failedAuth: undefined });
});
afterAll(async () => {
  await server?.close();
});

/** X-RateLimit-Remaining of a /v1 reply (every /v1 reply has it; `call` has checked its shape). */
function remainingOf(reply: Reply<unknown>): number {
  expect(reply.rate).toBeDefined();
  return reply.rate?.remaining ?? Number.NaN;
}

describe('exact limits', () => {
  test('a plan of 3 a minute admits exactly 3 requests and refuses the 4th with Retry-After', async () => {
    const key = await server.newKey({ plan: 'tiny' });
    const admitted: number[] = [];
    for (let i = 0; i < 3; i++) {
      const reply = await server.call('GET', '/v1/contacts', { key: key.plaintext });
      expect(reply.status).toBe(200);
      expect(reply.rate?.limit).toBe(3);
      admitted.push(remainingOf(reply));
    }
    expect(admitted).toEqual([2, 1, 0]);

    const fourth = await server.call('GET', '/v1/contacts', { key: key.plaintext });
    const error = expectError(fourth, 429, 'RATE_LIMITED');
    expect(error.message).toMatch(/minute window of 3/);
    expect(fourth.rate).toMatchObject({ limit: 3, remaining: 0, binding: { name: 'minute', r: 0 } });
    expect(fourth.rate?.retryAfter).toBeGreaterThanOrEqual(1);
    expect(fourth.rate?.retryAfter).toBeLessThanOrEqual(60);
    expect(fourth.rate?.retryAfter).toBe(Math.max(1, fourth.rate?.reset ?? 0));
    expect(fourth.rate?.policy).toEqual([{ name: 'minute', q: 3, w: 60 }]);
  });

  test('a refused write was not processed', async () => {
    const key = await server.newKey({ plan: 'tiny' });
    for (let i = 0; i < 3; i++) {
      expect((await server.call('GET', '/v1/health', { key: key.plaintext })).status).toBe(200);
    }
    const refused = await server.call('POST', '/v1/contacts', { key: key.plaintext, body: { email: newEmail() } });
    expectError(refused, 429, 'RATE_LIMITED');
    expect(await server.handle.store.countContacts(key.organizationId)).toBe(0);
  });

  test('all keys of an organization draw from one pool', async () => {
    const first = await server.newKey({ plan: 'tiny' });
    const second = await server.newKey({ organization: first.organization });
    const remaining = [
      remainingOf(await server.call('GET', '/v1/contacts', { key: first.plaintext })),
      remainingOf(await server.call('GET', '/v1/contacts', { key: second.plaintext })),
      remainingOf(await server.call('GET', '/v1/contacts', { key: first.plaintext })),
    ];
    expect(remaining).toEqual([2, 1, 0]);
    expectError(await server.call('GET', '/v1/contacts', { key: second.plaintext }), 429, 'RATE_LIMITED');
    expectError(await server.call('GET', '/v1/contacts', { key: first.plaintext }), 429, 'RATE_LIMITED');
    // A key created afterwards joins the same, exhausted pool.
    const third = await server.newKey({ organization: first.organization });
    expectError(await server.call('GET', '/v1/contacts', { key: third.plaintext }), 429, 'RATE_LIMITED');
  });

  test('another organization is unaffected by an exhausted one', async () => {
    const busy = await server.newKey({ plan: 'tiny' });
    for (let i = 0; i < 4; i++) {
      await server.call('GET', '/v1/health', { key: busy.plaintext });
    }
    expectError(await server.call('GET', '/v1/health', { key: busy.plaintext }), 429, 'RATE_LIMITED');

    const idle = await server.newKey({ plan: 'tiny' });
    const reply = await server.call('GET', '/v1/health', { key: idle.plaintext });
    expect(reply.status).toBe(200);
    expect(remainingOf(reply)).toBe(2);
  });

  test('a key’s own rateLimit of 2 binds on a roomy plan, and only for that key', async () => {
    const capped = await server.newKey({ rateLimit: 2 });
    const first = await server.call('GET', '/v1/contacts', { key: capped.plaintext });
    expect(first.status).toBe(200);
    expect(first.rate).toMatchObject({ limit: 2, remaining: 1, binding: { name: 'key' } });
    expect(first.rate?.policy).toEqual([
      { name: 'burst', q: 1000, w: 1 },
      { name: 'minute', q: 100000, w: 60 },
      { name: 'key', q: 2, w: 60 },
    ]);
    expect(remainingOf(await server.call('GET', '/v1/contacts', { key: capped.plaintext }))).toBe(0);

    const third = await server.call('GET', '/v1/contacts', { key: capped.plaintext });
    expectError(third, 429, 'RATE_LIMITED');
    expect(third.rate?.binding).toMatchObject({ name: 'key', r: 0 });

    const sibling = await server.newKey({ organization: capped.organization });
    const other = await server.call('GET', '/v1/contacts', { key: sibling.plaintext });
    expect(other.status).toBe(200);
    expect(other.rate?.binding.name).toBe('burst');
  });

  test('a key created through the API with rateLimit 2 is capped at 2', async () => {
    const admin = await server.newKey();
    const created = await server.call<Body<'createApiKey', 201>>('POST', '/v1/api-keys', {
      key: admin.plaintext,
      body: { name: 'capped', rateLimit: 2 },
    });
    expect(created.status).toBe(201);
    expect(created.body.data.rateLimit).toBe(2);
    const key = created.body.data.apiKey;
    expect((await server.call('GET', '/v1/health', { key })).status).toBe(200);
    expect((await server.call('GET', '/v1/health', { key })).status).toBe(200);
    expectError(await server.call('GET', '/v1/health', { key }), 429, 'RATE_LIMITED');
  });
});

describe('what the headers say', () => {
  test('X-RateLimit-Remaining falls by one with each counted request, errors included', async () => {
    const key = await server.newKey({ plan: 'steady' });
    const replies = [
      await server.call('GET', '/v1/contacts', { key: key.plaintext }),
      await server.call('GET', '/v1/contacts/ct_0000000000000000', { key: key.plaintext }),
      await server.call('GET', '/v1/contacts?unknown=1', { key: key.plaintext }),
      await server.call('POST', '/v1/contacts', { key: key.plaintext, raw: '{"email":' }),
      await server.call('PUT', '/v1/contacts', { key: key.plaintext }),
      await server.call('GET', '/v1/no-such-route', { key: key.plaintext }),
      await server.call('POST', '/v1/contacts', { key: key.plaintext, body: { email: newEmail() } }),
    ];
    expect(replies.map((r) => r.status)).toEqual([200, 404, 422, 400, 405, 404, 201]);
    expect(replies.map((r) => r.rate?.limit)).toEqual(Array(7).fill(1000));
    expect(replies.map(remainingOf)).toEqual([999, 998, 997, 996, 995, 994, 993]);
  });

  test('RateLimit-Policy lists every window of the plan and the binding one has the fewest left', async () => {
    const key = await server.newKey();
    const reply = await server.call('GET', '/v1/health', { key: key.plaintext });
    expect(reply.headers.get('ratelimit-policy')).toBe('"burst";q=1000;w=1, "minute";q=100000;w=60');
    expect(reply.rate).toMatchObject({ limit: 1000, remaining: 999, binding: { name: 'burst', r: 999 } });
  });

  test('GET /v1/rate-limit does not count, and its body matches its headers', async () => {
    const key = await server.newKey({ plan: 'steady' });
    const counted = remainingOf(await server.call('GET', '/v1/contacts', { key: key.plaintext }));
    expect(counted).toBe(999);

    for (let i = 0; i < 3; i++) {
      const status = await server.call<Body<'getRateLimitStatus', 200>>('GET', '/v1/rate-limit', {
        key: key.plaintext,
      });
      expect(status.status).toBe(200);
      expect(remainingOf(status)).toBe(counted);
      const data = status.body.data;
      expect(data).toMatchObject({ organizationId: key.organizationId, plan: 'steady', keyId: key.keyId });
      expect(data.binding).toBe(status.rate?.binding.name);
      const binding = data.windows.find((w) => w.name === data.binding);
      expect(binding).toEqual({
        name: 'minute',
        limit: status.rate?.limit,
        remaining: status.rate?.remaining,
        resetSeconds: status.rate?.reset,
        windowSeconds: 60,
      });
      expect(data.windows.map((w) => ({ name: w.name, q: w.limit, w: w.windowSeconds }))).toEqual(status.rate?.policy);
    }

    expect(remainingOf(await server.call('GET', '/v1/contacts', { key: key.plaintext }))).toBe(counted - 1);
  });

  test('GET /v1/rate-limit lists the plan windows and the key’s own window', async () => {
    const key = await server.newKey({ rateLimit: 7 });
    const reply = await server.call<Body<'getRateLimitStatus', 200>>('GET', '/v1/rate-limit', { key: key.plaintext });
    expect(reply.body.data.windows).toEqual([
      { name: 'burst', limit: 1000, remaining: 1000, resetSeconds: 1, windowSeconds: 1 },
      { name: 'minute', limit: 100000, remaining: 100000, resetSeconds: 60, windowSeconds: 60 },
      { name: 'key', limit: 7, remaining: 7, resetSeconds: 60, windowSeconds: 60 },
    ]);
    expect(reply.body.data.binding).toBe('key');
    expect(reply.rate).toMatchObject({ limit: 7, remaining: 7 });
  });

  test('GET /v1/rate-limit still answers 200 once the pool is exhausted, showing 0 left', async () => {
    const key = await server.newKey({ plan: 'tiny' });
    for (let i = 0; i < 3; i++) {
      await server.call('GET', '/v1/health', { key: key.plaintext });
    }
    const status = await server.call<Body<'getRateLimitStatus', 200>>('GET', '/v1/rate-limit', { key: key.plaintext });
    expect(status.status).toBe(200);
    expect(status.rate).toMatchObject({ limit: 3, remaining: 0, retryAfter: undefined });
    expect(status.body.data.windows).toEqual([expect.objectContaining({ name: 'minute', limit: 3, remaining: 0 })]);
  });

  test('GET /livez is neither limited nor counted', async () => {
    const key = await server.newKey({ plan: 'steady' });
    const before = remainingOf(await server.call('GET', '/v1/rate-limit', { key: key.plaintext }));
    for (let i = 0; i < 3; i++) {
      const live = await server.call('GET', '/livez', { key: key.plaintext });
      expect(live.status).toBe(200);
      expect(live.rate).toBeUndefined();
    }
    expect(remainingOf(await server.call('GET', '/v1/rate-limit', { key: key.plaintext }))).toBe(before);
  });

  test('a 401 describes the failed-auth window, 20 a minute per address by default', async () => {
    const reply = await server.call('GET', '/v1/health', { key: generateApiKey().plaintext });
    expectError(reply, 401, 'UNAUTHORIZED');
    expect(reply.rate?.policy).toEqual([{ name: 'auth-failures', q: 20, w: 60 }]);
    expect(reply.rate?.limit).toBe(20);
    expect(reply.rate?.remaining).toBeLessThan(20);
  });
});
