import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ALL_PERMISSIONS, READ_PERMISSIONS } from '../../src/lib/permissions.ts';
import { expectError } from './helpers/call.ts';
import { newOrganization, startTestServer, type TestServer } from './helpers/server.ts';
import type { Body } from './helpers/spec.ts';

const DAY_MS = 86_400_000;
const SHOWN_ONCE = 'This API key will only be shown once. Please store it securely.';
const KEY_PATTERN = /^mr_([a-z0-9]{8})_[A-Za-z0-9]{38}$/;

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

describe('the MoMail examples, with only the base URL changed', () => {
  test('POST /v1/api-keys with X-API-Key returns the key once, with the warning', async () => {
    const caller = await server.newKey();
    const created = await server.call<Body<'createApiKey', 201>>('POST', '/v1/api-keys', {
      key: caller.plaintext,
      scheme: 'x-api-key',
      raw: '{ "name": "Production API", "expirationDays": 365 }',
      contentType: 'application/json',
    });
    expect(created.status).toBe(201);
    const { data, meta } = created.body;
    expect(meta).toEqual({ warning: SHOWN_ONCE });
    const publicId = KEY_PATTERN.exec(data.apiKey)?.[1];
    expect(publicId, data.apiKey).toBeDefined();
    expect(data).toMatchObject({
      name: 'Production API',
      keyPrefix: `mr_${publicId}_****`,
      organizationId: caller.organizationId,
      plan: 'roomy',
      rateLimit: 100000,
      access: 'full',
      lastUsed: null,
    });
    expect(data.keyId).toMatch(/^key_[a-z0-9]{16}$/);
    expect(Date.parse(String(data.expirationTs)) - Date.parse(data.createdAt)).toBe(365 * DAY_MS);

    const validated = await server.call<Body<'validateApiKey', 200>>('GET', '/v1/api-keys/validate', {
      key: data.apiKey,
      scheme: 'x-api-key',
    });
    expect(validated.status).toBe(200);
    expect(validated.body.data.keyId).toBe(data.keyId);
  });

  test('GET /v1/api-keys lists the active keys with meta.total', async () => {
    const caller = await server.newKey();
    const other = await server.newKey({ organization: caller.organization, name: 'Staging API' });
    await server.newKey({ name: 'someone else’s' });

    const list = await server.call<Body<'listApiKeys', 200>>('GET', '/v1/api-keys', {
      key: caller.plaintext,
      scheme: 'x-api-key',
    });
    expect(list.status).toBe(200);
    expect(list.body.meta).toEqual({ total: 2 });
    expect(list.body.data.map((k) => k.keyId)).toEqual([caller.keyId, other.keyId]);
    for (const key of list.body.data) {
      expect(key).not.toHaveProperty('apiKey');
      expect(key.keyPrefix).toMatch(/^mr_[a-z0-9]{8}_\*{4}$/);
      expect(key.organizationId).toBe(caller.organizationId);
    }
  });

  test('DELETE /v1/api-keys/{keyId} answers { keyId, revoked: true } and the key leaves the list', async () => {
    const caller = await server.newKey();
    const doomed = await server.newKey({ organization: caller.organization });
    const revoked = await server.call<Body<'revokeApiKey', 200>>('DELETE', `/v1/api-keys/${doomed.keyId}`, {
      key: caller.plaintext,
      scheme: 'x-api-key',
    });
    expect(revoked.status).toBe(200);
    expect(revoked.body).toEqual({ success: true, data: { keyId: doomed.keyId, revoked: true } });

    const list = await server.call<Body<'listApiKeys', 200>>('GET', '/v1/api-keys', { key: caller.plaintext });
    expect(list.body.meta.total).toBe(1);
    expect(list.body.data.map((k) => k.keyId)).toEqual([caller.keyId]);
  });
});

describe('the Cocoonmail example', () => {
  test('GET /v1/api-keys/validate with Bearer answers { "success": true, ... }', async () => {
    const key = await server.newKey({ name: 'Cocoon' });
    const reply = await server.call<Body<'validateApiKey', 200>>('GET', '/v1/api-keys/validate', {
      key: key.plaintext,
      scheme: 'bearer',
    });
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({
      success: true,
      data: {
        valid: true,
        keyId: key.keyId,
        name: 'Cocoon',
        organizationId: key.organizationId,
        plan: 'roomy',
        access: 'full',
        permissions: ALL_PERMISSIONS,
        environment: 'production',
        expirationTs: null,
      },
    });
  });

  // One rule for every path: matched exactly as the spec writes it. Neither near miss is served, and both are answered
  // (and counted) like any other path the spec doesn't have in /v1, with a hint at the documented path.
  test.each([
    ['a trailing slash', '/v1/api-keys/validate/'],
    ['an empty segment', '/v1//api-keys/validate'],
  ])('the validate URL with %s is 404 naming the documented path, counted like any /v1 request', async (_, path) => {
    const key = await server.newKey();
    const before = await server.call('GET', '/v1/api-keys/validate', { key: key.plaintext });
    const reply = await server.call('GET', path, { key: key.plaintext });
    expect(expectError(reply, 404, 'RESOURCE_NOT_FOUND').message).toBe(
      `No route GET ${path}; paths are matched exactly as documented: did you mean /v1/api-keys/validate?`,
    );
    expect(Number(reply.headers.get('x-ratelimit-remaining'))).toBe(
      Number(before.headers.get('x-ratelimit-remaining')) - 1,
    );
  });

  test('an unknown /v1 path without a credential is 401, never a hint at what exists', async () => {
    const reply = await server.call('GET', '/v1/api-keys/validate/');
    expect(expectError(reply, 401, 'UNAUTHORIZED').message).toMatch(/^Missing API key/);
  });
});

describe('managing keys', () => {
  test('a read-only key capped at 100 a minute is created as asked and can only read', async () => {
    const admin = await server.newKey();
    const created = await server.call<Body<'createApiKey', 201>>('POST', '/v1/api-keys', {
      key: admin.plaintext,
      body: { name: 'Dashboard', rateLimit: 100, access: 'read_only' },
    });
    expect(created.status).toBe(201);
    expect(created.body.data).toMatchObject({
      name: 'Dashboard',
      rateLimit: 100,
      access: 'read_only',
      permissions: READ_PERMISSIONS,
      environment: 'production',
    });
    expect(created.body.data.expirationTs).toBeNull();

    const readOnly = created.body.data.apiKey;
    expect((await server.call('GET', '/v1/api-keys', { key: readOnly })).status).toBe(200);
    expect((await server.call('GET', `/v1/api-keys/${admin.keyId}`, { key: readOnly })).status).toBe(200);
    const writes = [
      await server.call('POST', '/v1/api-keys', { key: readOnly, body: { name: 'escalate' } }),
      await server.call('PATCH', `/v1/api-keys/${admin.keyId}`, { key: readOnly, body: { name: 'mine now' } }),
      await server.call('DELETE', `/v1/api-keys/${admin.keyId}`, { key: readOnly }),
    ];
    const operations = [
      'createApiKey (POST /v1/api-keys)',
      'renameApiKey (PATCH /v1/api-keys/{keyId})',
      'revokeApiKey (DELETE /v1/api-keys/{keyId})',
    ];
    for (const [i, reply] of writes.entries()) {
      const operation = operations[i];
      const error = expectError(reply, 403, 'FORBIDDEN');
      expect(error.message).toBe(`This API key lacks the api_keys:write permission, which ${operation} needs`);
      expect(error.details).toEqual({ permissions: ['api_keys:write'] });
    }
    expect((await server.call('GET', '/v1/health', { key: admin.plaintext })).status).toBe(200);
  });

  test('GET /v1/api-keys/{keyId} shows one key; an unknown, revoked or foreign key is 404', async () => {
    const caller = await server.newKey();
    const got = await server.call<Body<'getApiKey', 200>>('GET', `/v1/api-keys/${caller.keyId}`, {
      key: caller.plaintext,
    });
    expect(got.status).toBe(200);
    expect(got.body.data).toMatchObject({ keyId: caller.keyId, name: 'test key', access: 'full', plan: 'roomy' });
    expect(got.body.data).not.toHaveProperty('apiKey');

    const unknown = await server.call('GET', '/v1/api-keys/key_0000000000000000', { key: caller.plaintext });
    expect(expectError(unknown, 404, 'RESOURCE_NOT_FOUND').message).toBe(
      'No API key key_0000000000000000 in this organization',
    );

    const revoked = await server.newKey({ organization: caller.organization });
    await server.call('DELETE', `/v1/api-keys/${revoked.keyId}`, { key: caller.plaintext });
    expectError(
      await server.call('GET', `/v1/api-keys/${revoked.keyId}`, { key: caller.plaintext }),
      404,
      'RESOURCE_NOT_FOUND',
    );

    const foreign = await server.newKey({ organization: newOrganization(), plan: 'roomy' });
    expectError(
      await server.call('GET', `/v1/api-keys/${foreign.keyId}`, { key: caller.plaintext }),
      404,
      'RESOURCE_NOT_FOUND',
    );
  });

  test('renaming changes only the name, and the key keeps working under it', async () => {
    const caller = await server.newKey({ rateLimit: 50, expiresInDays: 10 });
    const before = await server.call<Body<'getApiKey', 200>>('GET', `/v1/api-keys/${caller.keyId}`, {
      key: caller.plaintext,
    });
    const renamed = await server.call<Body<'renameApiKey', 200>>('PATCH', `/v1/api-keys/${caller.keyId}`, {
      key: caller.plaintext,
      body: { name: 'Staging API' },
    });
    expect(renamed.status).toBe(200);
    const { name, lastUsed: _after, ...rest } = renamed.body.data;
    const { name: oldName, lastUsed: _before, ...restBefore } = before.body.data;
    expect(name).toBe('Staging API');
    expect(oldName).toBe('test key');
    expect(rest).toEqual(restBefore);

    const validated = await server.call<Body<'validateApiKey', 200>>('GET', '/v1/api-keys/validate', {
      key: caller.plaintext,
    });
    expect(validated.body.data.name).toBe('Staging API');
  });

  test('renaming an unknown key is 404 and revoking a key twice is 404', async () => {
    const caller = await server.newKey();
    expectError(
      await server.call('PATCH', '/v1/api-keys/key_0000000000000000', { key: caller.plaintext, body: { name: 'x' } }),
      404,
      'RESOURCE_NOT_FOUND',
    );
    const doomed = await server.newKey({ organization: caller.organization });
    expect((await server.call('DELETE', `/v1/api-keys/${doomed.keyId}`, { key: caller.plaintext })).status).toBe(200);
    expectError(
      await server.call('DELETE', `/v1/api-keys/${doomed.keyId}`, { key: caller.plaintext }),
      404,
      'RESOURCE_NOT_FOUND',
    );
  });

  test('lastUsed is null until the key authenticates a request, then a time after its creation', async () => {
    const admin = await server.newKey();
    const created = await server.call<Body<'createApiKey', 201>>('POST', '/v1/api-keys', {
      key: admin.plaintext,
      body: { name: 'fresh' },
    });
    const { keyId, apiKey, createdAt } = created.body.data;
    const unused = await server.call<Body<'getApiKey', 200>>('GET', `/v1/api-keys/${keyId}`, { key: admin.plaintext });
    expect(unused.body.data.lastUsed).toBeNull();

    await server.call('GET', '/v1/health', { key: apiKey });
    const used = await server.call<Body<'getApiKey', 200>>('GET', `/v1/api-keys/${keyId}`, { key: admin.plaintext });
    expect(used.body.data.lastUsed).not.toBeNull();
    expect(Date.parse(String(used.body.data.lastUsed))).toBeGreaterThanOrEqual(Date.parse(createdAt));
  });

  test('the list is oldest first and counts only active keys', async () => {
    const caller = await server.newKey();
    const made: string[] = [caller.keyId];
    for (const name of ['b', 'c', 'd']) {
      server.advanceClock(1000);
      const created = await server.call<Body<'createApiKey', 201>>('POST', '/v1/api-keys', {
        key: caller.plaintext,
        body: { name },
      });
      made.push(created.body.data.keyId);
    }
    await server.call('DELETE', `/v1/api-keys/${made[2]}`, { key: caller.plaintext });
    const list = await server.call<Body<'listApiKeys', 200>>('GET', '/v1/api-keys', { key: caller.plaintext });
    expect(list.body.data.map((k) => k.keyId)).toEqual([made[0], made[1], made[3]]);
    expect(list.body.meta.total).toBe(3);
    const created = list.body.data.map((k) => Date.parse(k.createdAt));
    expect([...created].sort((a, b) => a - b)).toEqual(created);
  });

  test('GET /v1/health reports the stores and the caller’s organization', async () => {
    const key = await server.newKey();
    const reply = await server.call<Body<'getHealth', 200>>('GET', '/v1/health', { key: key.plaintext });
    expect(reply.status).toBe(200);
    expect(reply.body.data).toMatchObject({
      status: 'ok',
      version: '0.1.0',
      organizationId: key.organizationId,
      stores: { database: { kind: 'pglite', status: 'up' }, rateLimiter: { kind: 'memory', status: 'up' } },
    });
    expect(reply.body.data.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });
});

describe('create and rename validation', () => {
  test.each([
    [{ name: 'a name of exactly 100 characters'.padEnd(100, '.') }, 201, undefined],
    [{ name: 'a name of 101 characters'.padEnd(101, '.') }, 422, 'name'],
    [{ name: '' }, 422, 'name'],
    [{}, 422, 'name'],
    [{ name: 'n', expirationDays: 1 }, 201, undefined],
    [{ name: 'n', expirationDays: 365 }, 201, undefined],
    [{ name: 'n', expirationDays: 0 }, 422, 'expirationDays'],
    [{ name: 'n', expirationDays: 366 }, 422, 'expirationDays'],
    [{ name: 'n', expirationDays: 1.5 }, 422, 'expirationDays'],
    [{ name: 'n', rateLimit: 100000 }, 201, undefined],
    [{ name: 'n', rateLimit: 0 }, 422, 'rateLimit'],
    [{ name: 'n', rateLimit: 100001 }, 422, 'rateLimit'],
    [{ name: 'n', access: 'admin' }, 422, 'access'],
    [{ name: 'n', plan: 'enterprise' }, 422, 'plan'],
  ])('POST /v1/api-keys %j → %i', async (body, status, field) => {
    const caller = await server.newKey();
    const reply = await server.call('POST', '/v1/api-keys', { key: caller.plaintext, body });
    expect(reply.status, reply.text).toBe(status);
    if (field !== undefined) {
      const error = expectError(reply, 422, 'VALIDATION_ERROR');
      expect(error.message).toBe('The given data was invalid');
      expect(Object.keys(error.details ?? {})).toEqual([field]);
    }
  });

  test.each([
    [{ name: 'a name of exactly 100 characters'.padEnd(100, '.') }, 200, undefined],
    [{ name: 'a name of 101 characters'.padEnd(101, '.') }, 422, 'name'],
    [{}, 422, 'name'],
    [{ name: 'n', rateLimit: 5 }, 422, 'rateLimit'],
  ])('PATCH /v1/api-keys/{keyId} %j → %i', async (body, status, field) => {
    const caller = await server.newKey();
    const reply = await server.call('PATCH', `/v1/api-keys/${caller.keyId}`, { key: caller.plaintext, body });
    expect(reply.status, reply.text).toBe(status);
    if (field !== undefined) {
      expect(Object.keys(expectError(reply, 422, 'VALIDATION_ERROR').details ?? {})).toEqual([field]);
    }
  });
});

describe('an organization holds at most 100 active keys', () => {
  test('the 101st key is refused with 409 KEY_LIMIT_REACHED, and revoking one makes room again', async () => {
    const first = await server.newKey();
    for (let i = 1; i < 100; i++) {
      await server.newKey({ organization: first.organization });
    }
    const refused = await server.call('POST', '/v1/api-keys', { key: first.plaintext, body: { name: 'one too many' } });
    expect(expectError(refused, 409, 'KEY_LIMIT_REACHED').message).toBe(
      'This organization already has 100 active API keys, the most it may hold: revoke one first',
    );
    const listed = await server.call<Body<'listApiKeys', 200>>('GET', '/v1/api-keys', { key: first.plaintext });
    expect(listed.body.meta.total).toBe(100);
    expect(listed.body.data).toHaveLength(100);

    const victim = listed.body.data.find((k) => k.keyId !== first.keyId);
    expect((await server.call('DELETE', `/v1/api-keys/${victim?.keyId}`, { key: first.plaintext })).status).toBe(200);
    const made = await server.call('POST', '/v1/api-keys', { key: first.plaintext, body: { name: 'room again' } });
    expect(made.status).toBe(201);
  });

  test('concurrent creates never take an organization past the limit', async () => {
    const first = await server.newKey();
    for (let i = 1; i < 95; i++) {
      await server.newKey({ organization: first.organization });
    }
    const replies = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        server.call('POST', '/v1/api-keys', { key: first.plaintext, body: { name: `racer ${i}` } }),
      ),
    );
    expect(replies.filter((r) => r.status === 201)).toHaveLength(5);
    expect(replies.filter((r) => r.status === 409)).toHaveLength(7);
    expect(await server.handle.store.listApiKeys(first.organizationId)).toHaveLength(100);
  });
});
