import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { expectError, type Reply } from './helpers/call.ts';
import { startTestServer, type TestKey, type TestServer } from './helpers/server.ts';
import type { Body } from './helpers/spec.ts';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
const SHOWN_ONCE = 'This API key will only be shown once. Please store it securely.';

type Rotated = Body<'rotateApiKey', 201>;

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

/** A key made over HTTP with `body`, in the organization of `admin`. */
async function createKey(admin: TestKey, body: Record<string, unknown>): Promise<Body<'createApiKey', 201>['data']> {
  const created = await server.call<Body<'createApiKey', 201>>('POST', '/v1/api-keys', { key: admin.plaintext, body });
  expect(created.status, created.text).toBe(201);
  return created.body.data;
}

function rotate(admin: TestKey, keyId: string, body?: unknown): Promise<Reply<Rotated>> {
  return server.call<Rotated>('POST', `/v1/api-keys/${keyId}/rotate`, {
    key: admin.plaintext,
    ...(body === undefined ? {} : { body }),
  });
}

/** What a rotation must carry over: everything but the identity, the secret and the dates. */
function inherited(key: Body<'getApiKey', 200>['data']) {
  const { name, access, rateLimit, plan, organizationId } = key;
  return { name, access, rateLimit, plan, organizationId };
}

describe('rotating a key', () => {
  test('returns a new key that inherits name, access, rate limit, plan, organization and expiry policy', async () => {
    const admin = await server.newKey();
    const old = await createKey(admin, {
      name: 'Billing sync',
      access: 'read_only',
      rateLimit: 42,
      expirationDays: 30,
    });

    const rotated = await rotate(admin, old.keyId, { gracePeriodMinutes: 90 });

    expect(rotated.status, rotated.text).toBe(201);
    const { data, meta } = rotated.body;
    expect(meta).toEqual({ warning: SHOWN_ONCE });
    expect(data.apiKey).toMatch(/^mr_[a-z0-9]{8}_[A-Za-z0-9]{38}$/);
    expect(data.keyId).not.toBe(old.keyId);
    expect(data.apiKey).not.toBe(old.apiKey);
    expect(inherited(data)).toEqual(inherited(old));
    expect(inherited(old)).toEqual({
      name: 'Billing sync',
      access: 'read_only',
      rateLimit: 42,
      plan: 'roomy',
      organizationId: admin.organizationId,
    });
    expect(inherited(data.previousKey)).toEqual(inherited(old));
    expect(data.previousKey.keyId).toBe(old.keyId);
    // The same 30-day lifetime, counted from the rotation.
    expect(Date.parse(String(data.expirationTs)) - Date.parse(data.createdAt)).toBe(30 * DAY_MS);
    expect(Date.parse(String(data.previousKey.expirationTs)) - Date.parse(data.createdAt)).toBe(90 * MINUTE_MS);

    const listed = await server.call<Body<'listApiKeys', 200>>('GET', '/v1/api-keys', { key: admin.plaintext });
    const byId = new Map(listed.body.data.map((k) => [k.keyId, k]));
    const { apiKey: _secret, previousKey: _previous, ...shown } = data;
    expect(byId.get(data.keyId)).toEqual(shown);
    expect(byId.get(old.keyId)?.expirationTs).toBe(data.previousKey.expirationTs);
  });

  test('keeps the old key working through the grace period, flagged with Deprecation and Sunset, then refuses it', async () => {
    const admin = await server.newKey();
    const old = await createKey(admin, { name: 'Webhook signer' });
    const before = await server.call('GET', '/v1/api-keys/validate', { key: old.apiKey });
    expect(before.headers.get('deprecation')).toBeNull();

    const rotated = await rotate(admin, old.keyId, { gracePeriodMinutes: 10 });
    expect(rotated.status).toBe(201);
    const { apiKey: fresh, previousKey } = rotated.body.data;
    const rotatedAt = Date.parse(rotated.body.data.createdAt);
    const sunset = Date.parse(String(previousKey.expirationTs));
    expect(sunset - rotatedAt).toBe(10 * MINUTE_MS);

    // Both keys work during the grace period; only the old one's answers say it is going away, errors included.
    server.advanceClock(9 * MINUTE_MS);
    for (const [key, inGrace] of [
      [old.apiKey, true],
      [fresh, false],
    ] as const) {
      const ok = await server.call<Body<'validateApiKey', 200>>('GET', '/v1/api-keys/validate', { key });
      expect(ok.status).toBe(200);
      const missing = await server.call('GET', '/v1/contacts/ct_0000000000000000', { key });
      expectError(missing, 404, 'RESOURCE_NOT_FOUND');
      for (const reply of [ok, missing]) {
        if (inGrace) {
          expect(reply.headers.get('deprecation')).toBe(`@${Math.floor(rotatedAt / 1000)}`);
          expect(reply.headers.get('sunset')).toBe(new Date(sunset).toUTCString());
        } else {
          expect(reply.headers.get('deprecation')).toBeNull();
          expect(reply.headers.get('sunset')).toBeNull();
        }
      }
    }

    server.advanceClock(MINUTE_MS);
    const after = await server.call('GET', '/v1/api-keys/validate', { key: old.apiKey });
    expect(expectError(after, 401, 'UNAUTHORIZED').message).toBe(`The API key expired at ${previousKey.expirationTs}`);
    expect((await server.call('GET', '/v1/api-keys/validate', { key: fresh })).status).toBe(200);
  });

  test('with gracePeriodMinutes 0 the old key fails on its very next request, even a cached one', async () => {
    const admin = await server.newKey();
    const old = await createKey(admin, { name: 'Leaked' });
    expect((await server.call('GET', '/v1/api-keys/validate', { key: old.apiKey })).status).toBe(200);

    const rotated = await rotate(admin, old.keyId, { gracePeriodMinutes: 0 });

    expect(rotated.body.data.previousKey.expirationTs).toBe(rotated.body.data.createdAt);
    expectError(await server.call('GET', '/v1/api-keys/validate', { key: old.apiKey }), 401, 'UNAUTHORIZED');
    expect((await server.call('GET', '/v1/api-keys/validate', { key: rotated.body.data.apiKey })).status).toBe(200);
  });

  test('defaults to a 24-hour grace period, with no body at all or an empty one', async () => {
    const admin = await server.newKey();
    for (const body of [undefined, {}]) {
      const old = await createKey(admin, { name: 'Default grace' });
      const rotated = await rotate(admin, old.keyId, body);
      expect(rotated.status, rotated.text).toBe(201);
      const { createdAt, previousKey } = rotated.body.data;
      expect(Date.parse(String(previousKey.expirationTs)) - Date.parse(createdAt)).toBe(DAY_MS);
    }
  });

  test('never extends the old key past its own expiry', async () => {
    const admin = await server.newKey();
    const old = await createKey(admin, { name: 'Short-lived', expirationDays: 1 });
    server.advanceClock(DAY_MS - 30 * MINUTE_MS);

    const rotated = await rotate(admin, old.keyId, { gracePeriodMinutes: 10_080 });

    expect(rotated.body.data.previousKey.expirationTs).toBe(old.expirationTs);
    expect(Date.parse(String(rotated.body.data.expirationTs)) - Date.parse(rotated.body.data.createdAt)).toBe(DAY_MS);
  });

  test('a key may rotate itself and keeps working through the grace period', async () => {
    const admin = await server.newKey();
    const rotated = await rotate(admin, admin.keyId, { gracePeriodMinutes: 5 });
    expect(rotated.status).toBe(201);
    const next = await server.call('GET', '/v1/api-keys', { key: admin.plaintext });
    expect(next.status).toBe(200);
    expect(next.headers.get('sunset')).toBe(new Date(String(rotated.body.data.previousKey.expirationTs)).toUTCString());
  });
});

describe('keys that cannot be rotated', () => {
  test('a key rotated before is 409 KEY_ALREADY_ROTATED, naming its replacement', async () => {
    const admin = await server.newKey();
    const old = await createKey(admin, { name: 'Twice' });
    const first = await rotate(admin, old.keyId);
    const second = await rotate(admin, old.keyId);
    expect(expectError(second, 409, 'KEY_ALREADY_ROTATED').message).toBe(
      `API key ${old.keyId} was already rotated; its replacement is ${first.body.data.keyId}: rotate that one instead`,
    );
    // Its replacement can be rotated in turn.
    expect((await rotate(admin, first.body.data.keyId)).status).toBe(201);
  });

  test('an expired key is 409 KEY_EXPIRED', async () => {
    const admin = await server.newKey();
    const old = await createKey(admin, { name: 'Expired', expirationDays: 1 });
    server.advanceClock(DAY_MS);
    const refused = await rotate(admin, old.keyId);
    expect(expectError(refused, 409, 'KEY_EXPIRED').message).toBe(
      `API key ${old.keyId} expired at ${old.expirationTs} and cannot be rotated: create a new key`,
    );
  });

  test('a revoked key, another organization’s key and an unknown id are 404', async () => {
    const admin = await server.newKey();
    const revoked = await createKey(admin, { name: 'Revoked' });
    await server.call('DELETE', `/v1/api-keys/${revoked.keyId}`, { key: admin.plaintext });
    const stranger = await server.newKey();
    for (const keyId of [revoked.keyId, stranger.keyId, 'key_0000000000000000']) {
      expectError(await rotate(admin, keyId), 404, 'RESOURCE_NOT_FOUND');
    }
    expect((await server.call('GET', '/v1/api-keys/validate', { key: stranger.plaintext })).headers.get('sunset')).toBe(
      null,
    );
  });

  test('a read_only key is 403 and an out-of-range or unknown field is 422, and nothing is rotated', async () => {
    const admin = await server.newKey();
    const target = await createKey(admin, { name: 'Target' });
    const reader = await server.newKey({ organization: admin.organization, access: 'read_only' });
    expectError(
      await server.call('POST', `/v1/api-keys/${target.keyId}/rotate`, { key: reader.plaintext }),
      403,
      'FORBIDDEN',
    );
    for (const [body, field] of [
      [{ gracePeriodMinutes: 10_081 }, 'gracePeriodMinutes'],
      [{ gracePeriodMinutes: -1 }, 'gracePeriodMinutes'],
      [{ gracePeriodMinutes: 1.5 }, 'gracePeriodMinutes'],
      [{ gracePeriodMinutes: '60' }, 'gracePeriodMinutes'],
      [{ expireInMinutes: 60 }, 'expireInMinutes'],
    ] as const) {
      const refused = await rotate(admin, target.keyId, body);
      expect(Object.keys(expectError(refused, 422, 'VALIDATION_ERROR').details ?? {}), JSON.stringify(body)).toEqual([
        field,
      ]);
    }
    const listed = await server.call<Body<'listApiKeys', 200>>('GET', '/v1/api-keys', { key: admin.plaintext });
    expect(listed.body.data.find((k) => k.keyId === target.keyId)?.expirationTs).toBeNull();
  });

  test('a body that is not JSON is 415, never read as no body (the default grace) — and nothing is rotated', async () => {
    const admin = await server.newKey();
    const target = await createKey(admin, { name: 'Target' });
    for (const contentType of [null, 'text/plain', 'application/x-www-form-urlencoded']) {
      const refused = await server.call('POST', `/v1/api-keys/${target.keyId}/rotate`, {
        key: admin.plaintext,
        raw: new TextEncoder().encode('{"gracePeriodMinutes":0}') as Uint8Array<ArrayBuffer>,
        contentType,
      });
      expectError(refused, 415, 'UNSUPPORTED_MEDIA_TYPE');
    }
    const listed = await server.call<Body<'listApiKeys', 200>>('GET', '/v1/api-keys', { key: admin.plaintext });
    expect(listed.body.data.find((k) => k.keyId === target.keyId)?.expirationTs).toBeNull();
    expect(listed.body.data).toHaveLength(2); // the admin key and the target: no replacement was made
  });
});
