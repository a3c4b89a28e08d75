import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { generateApiKey } from '../../src/keys/api-key.ts';
import { fromNewAddress } from './helpers/accounts.ts';
import { type CallOptions, expectError, type Reply } from './helpers/call.ts';
import { newOrganization, startTestServer, type TestServer } from './helpers/server.ts';
import type { Body, Envelope } from './helpers/spec.ts';

const DAY_MS = 86_400_000;
const BARE_CHALLENGE = 'Bearer realm="mailroom"';

/** A key with its checksum broken by one character, as a typo would. */
function mistype(key: string): string {
  const last = key.at(-1);
  return `${key.slice(0, -1)}${last === 'A' ? 'B' : 'A'}`;
}

/** Asserts a refused credential: 401 UNAUTHORIZED with the message, and the invalid_token challenge saying why. */
function expectInvalidToken(reply: Reply<unknown>, message: string | RegExp): void {
  const error = expectError(reply, 401, 'UNAUTHORIZED');
  expect(error.message).toMatch(message);
  const challenge = reply.headers.get('www-authenticate') ?? '';
  expect(challenge.startsWith(`${BARE_CHALLENGE}, error="invalid_token", error_description="`)).toBe(true);
  // The description is the message, with double quotes made safe for the quoted-string.
  expect(challenge).toContain(`error_description="${error.message.replace(/["\\]/g, "'")}"`);
}

let server: TestServer;

beforeAll(async () => {
  // trustProxy lets each request pick its client address (X-Forwarded-For), so the per-address failed-auth window
  // (5 here, to test it exactly) only couples the requests that mean to share an address.
  server = await startTestServer({
    failedAuth: { name: 'auth-failures', limit: 5, windowSeconds: 60 },
    trustProxy: true,
  });
});
afterAll(async () => {
  await server?.close();
});

/** A request from an address of its own, so this file's deliberate 401s never add up to a 429. */
function call<T = Envelope>(method: string, path: string, options: CallOptions = {}): Promise<Reply<T>> {
  return server.call<T>(method, path, { ...options, headers: { ...fromNewAddress(), ...options.headers } });
}

describe('authentication', () => {
  test('a key is accepted in Authorization: Bearer', async () => {
    const key = await server.newKey();
    const reply = await call<Body<'validateApiKey', 200>>('GET', '/v1/api-keys/validate', {
      key: key.plaintext,
      scheme: 'bearer',
    });
    expect(reply.status).toBe(200);
    expect(reply.body.data.keyId).toBe(key.keyId);
  });

  test('a key is accepted in X-API-Key', async () => {
    const key = await server.newKey();
    const reply = await call<Body<'validateApiKey', 200>>('GET', '/v1/api-keys/validate', {
      key: key.plaintext,
      scheme: 'x-api-key',
    });
    expect(reply.status).toBe(200);
    expect(reply.body.data.keyId).toBe(key.keyId);
  });

  test('the same key in both headers is accepted', async () => {
    const key = await server.newKey();
    const reply = await call('GET', '/v1/api-keys/validate', { key: key.plaintext, scheme: 'both' });
    expect(reply.status).toBe(200);
  });

  test('the Bearer scheme name is matched without regard to case', async () => {
    const key = await server.newKey();
    const reply = await call('GET', '/v1/health', { headers: { authorization: `bearer ${key.plaintext}` } });
    expect(reply.status).toBe(200);
  });

  test('a request without credentials is refused with the bare Bearer challenge', async () => {
    const reply = await call('GET', '/v1/api-keys');
    const error = expectError(reply, 401, 'UNAUTHORIZED');
    expect(error.message).toBe('Missing API key: send Authorization: Bearer <key> or X-API-Key: <key>');
    expect(reply.headers.get('www-authenticate')).toBe(BARE_CHALLENGE);
  });

  test('an empty X-API-Key counts as missing', async () => {
    const reply = await call('GET', '/v1/api-keys', { headers: { 'x-api-key': '' } });
    expectError(reply, 401, 'UNAUTHORIZED');
    expect(reply.headers.get('www-authenticate')).toBe(BARE_CHALLENGE);
  });

  test.each([
    ['X-API-Key', 'x-api-key' as const],
    ['Bearer', 'bearer' as const],
  ])('a key of the wrong shape in %s is refused as malformed', async (_label, scheme) => {
    for (const bad of ['nope', 'mr_short_abc', `sk_live_${'a'.repeat(40)}`, `${generateApiKey().plaintext}x`]) {
      const reply = await call('GET', '/v1/api-keys', { key: bad, scheme });
      expectInvalidToken(reply, /^Malformed API key: expected mr_<8-character id>_<38-character secret>/);
    }
  });

  test('a mistyped key is refused for its checksum', async () => {
    const key = await server.newKey();
    const reply = await call('GET', '/v1/api-keys', { key: mistype(key.plaintext) });
    expectInvalidToken(reply, /^Malformed API key: the checksum does not match/);
  });

  test('a well-formed key with a valid checksum that was never issued is refused as unknown', async () => {
    const reply = await call('GET', '/v1/api-keys', { key: generateApiKey().plaintext, scheme: 'x-api-key' });
    expectInvalidToken(reply, 'Unknown API key');
  });

  test('a revoked key is refused on the next request', async () => {
    const admin = await server.newKey();
    const victim = await server.newKey({ organization: admin.organization });
    expect((await call('GET', '/v1/api-keys/validate', { key: victim.plaintext })).status).toBe(200);

    const revoked = await call<Body<'revokeApiKey', 200>>('DELETE', `/v1/api-keys/${victim.keyId}`, {
      key: admin.plaintext,
    });
    expect(revoked.status).toBe(200);
    expect(revoked.body.data).toEqual({ keyId: victim.keyId, revoked: true });

    const next = await call('GET', '/v1/api-keys/validate', { key: victim.plaintext });
    expectInvalidToken(next, 'The API key has been revoked');
    // Still refused the same way through the other header.
    expectInvalidToken(
      await call('GET', '/v1/health', { key: victim.plaintext, scheme: 'x-api-key' }),
      'The API key has been revoked',
    );
  });

  test('a key may revoke itself and is refused right after', async () => {
    const key = await server.newKey();
    const revoked = await call('DELETE', `/v1/api-keys/${key.keyId}`, { key: key.plaintext });
    expect(revoked.status).toBe(200);
    expectInvalidToken(await call('GET', '/v1/api-keys', { key: key.plaintext }), 'The API key has been revoked');
  });

  test('a key stops working when the clock passes its expiry', async () => {
    const admin = await server.newKey();
    const created = await call<Body<'createApiKey', 201>>('POST', '/v1/api-keys', {
      key: admin.plaintext,
      body: { name: 'short-lived', expirationDays: 1 },
    });
    expect(created.status).toBe(201);
    const { apiKey, expirationTs, createdAt } = created.body.data;
    expect(expirationTs).not.toBeNull();
    expect(Date.parse(String(expirationTs)) - Date.parse(createdAt)).toBe(DAY_MS);

    server.advanceClock(DAY_MS - 60_000);
    expect((await call('GET', '/v1/api-keys/validate', { key: apiKey })).status).toBe(200);

    server.advanceClock(60_000);
    expectInvalidToken(
      await call('GET', '/v1/api-keys/validate', { key: apiKey }),
      `The API key expired at ${expirationTs}`,
    );
    // The key that never expires is unaffected by the same clock.
    expect((await call('GET', '/v1/api-keys/validate', { key: admin.plaintext })).status).toBe(200);
  });

  test('a key made with expiresInDays is refused once that many days have passed', async () => {
    const key = await server.newKey({ expiresInDays: 30 });
    expect((await call('GET', '/v1/health', { key: key.plaintext })).status).toBe(200);
    server.advanceClock(30 * DAY_MS + 1);
    expectInvalidToken(await call('GET', '/v1/health', { key: key.plaintext }), /^The API key expired at /);
  });

  test('two different keys in the two headers are refused as conflicting, even when both are valid', async () => {
    const one = await server.newKey();
    const other = await server.newKey({ organization: one.organization });
    const reply = await call('GET', '/v1/api-keys', {
      headers: { authorization: `Bearer ${one.plaintext}`, 'x-api-key': other.plaintext },
    });
    expectInvalidToken(reply, 'Conflicting credentials: Authorization and X-API-Key carry different keys; send one');
  });

  test('an Authorization header that is not Bearer is refused as malformed', async () => {
    const key = await server.newKey();
    for (const authorization of [
      `Basic ${Buffer.from(`user:${key.plaintext}`).toString('base64')}`,
      `Token ${key.plaintext}`,
      'Bearer',
      `Bearer ${key.plaintext} extra`,
    ]) {
      const reply = await call('GET', '/v1/api-keys', { headers: { authorization } });
      expectInvalidToken(reply, 'Malformed Authorization header: expected "Bearer <key>"');
    }
  });

  test('a Basic Authorization header is refused even next to a valid X-API-Key', async () => {
    const key = await server.newKey();
    const reply = await call('GET', '/v1/api-keys', {
      headers: { authorization: 'Basic dXNlcjpwYXNz', 'x-api-key': key.plaintext },
    });
    expectInvalidToken(reply, /^Malformed Authorization header/);
  });

  test('a 401 describes the per-address failed-authentication window', async () => {
    const reply = await call('GET', '/v1/contacts', { key: generateApiKey().plaintext });
    expect(reply.status).toBe(401);
    expect(reply.rate?.policy).toEqual([{ name: 'auth-failures', q: 5, w: 60 }]);
    expect(reply.rate?.binding.name).toBe('auth-failures');
  });

  test('an organization cannot see another organization’s key', async () => {
    const mine = await server.newKey();
    const theirs = await server.newKey({ organization: newOrganization(), plan: 'roomy' });
    const reply = await call('GET', `/v1/api-keys/${theirs.keyId}`, { key: mine.plaintext });
    expectError(reply, 404, 'RESOURCE_NOT_FOUND');
    const revoke = await call('DELETE', `/v1/api-keys/${theirs.keyId}`, { key: mine.plaintext });
    expectError(revoke, 404, 'RESOURCE_NOT_FOUND');
    expect((await call('GET', '/v1/health', { key: theirs.plaintext })).status).toBe(200);
  });
});

describe('failed-authentication limiting per client address', () => {
  test('the 6th failed attempt from an address is refused with 429 and Retry-After, even with a valid key', async () => {
    const address = { 'x-forwarded-for': '198.51.100.6' };
    const key = await server.newKey();
    // Successful requests do not spend the failed-auth budget.
    for (let i = 0; i < 3; i++) {
      expect((await server.call('GET', '/v1/health', { key: key.plaintext, headers: address })).status).toBe(200);
    }

    const remaining: number[] = [];
    for (let attempt = 1; attempt <= 5; attempt++) {
      const reply = await server.call('GET', '/v1/api-keys', { key: generateApiKey().plaintext, headers: address });
      expect(reply.status).toBe(401);
      remaining.push(reply.rate?.remaining ?? -1);
    }
    expect(remaining).toEqual([4, 3, 2, 1, 0]);

    const sixth = await server.call('GET', '/v1/api-keys', { key: generateApiKey().plaintext, headers: address });
    const error = expectError(sixth, 429, 'RATE_LIMITED');
    expect(error.message).toMatch(/failed authentication attempts/);
    expect(sixth.rate?.retryAfter).toBeGreaterThanOrEqual(1);
    expect(sixth.rate?.retryAfter).toBeLessThanOrEqual(60);
    expect(sixth.rate?.binding).toMatchObject({ name: 'auth-failures', r: 0 });
    expect(sixth.headers.get('www-authenticate')).toBeNull();

    // Observed: the address is refused before its key is looked at, so a valid key is refused too, until the window
    // resets.
    const valid = await server.call('GET', '/v1/health', { key: key.plaintext, headers: address });
    expectError(valid, 429, 'RATE_LIMITED');
    expect(valid.rate?.binding.name).toBe('auth-failures');

    // Unauthenticated /livez is not gated.
    expect((await server.call('GET', '/livez', { headers: address })).status).toBe(200);
  });

  test('another address is not affected by one address’s failures', async () => {
    const noisy = { 'x-forwarded-for': '198.51.100.7' };
    for (let attempt = 0; attempt < 6; attempt++) {
      await server.call('GET', '/v1/api-keys', { key: 'garbage', headers: noisy });
    }
    expect((await server.call('GET', '/v1/api-keys', { key: 'garbage', headers: noisy })).status).toBe(429);

    const key = await server.newKey();
    const quiet = await server.call('GET', '/v1/health', {
      key: key.plaintext,
      headers: { 'x-forwarded-for': '198.51.100.8' },
    });
    expect(quiet.status).toBe(200);
    const quietFailure = await server.call('GET', '/v1/health', {
      key: 'garbage',
      headers: { 'x-forwarded-for': '198.51.100.8' },
    });
    expect(quietFailure.status).toBe(401);
    expect(quietFailure.rate?.remaining).toBe(4);
  });
});
