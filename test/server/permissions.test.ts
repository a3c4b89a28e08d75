import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ALL_PERMISSIONS, missingPermissions, READ_PERMISSIONS } from '../../src/lib/permissions.ts';
import { newEmail, signUp } from './helpers/accounts.ts';
import { expectError } from './helpers/call.ts';
import { startTestServer, type TestKey, type TestServer } from './helpers/server.ts';
import { type Body, SPEC_OPERATIONS } from './helpers/spec.ts';

// Least privilege: what a key may do is a set of the spec's permissions, each /v1 operation names the one it needs,
// a key never grants or manages more than it holds, and every key belongs to an environment.

let server: TestServer;
let admin: TestKey;

beforeAll(async () => {
  server = await startTestServer({ trustProxy: true });
  admin = await server.newKey();
});
afterAll(async () => {
  await server?.close();
});

/** A new key of the admin's organization holding exactly `permissions`. */
function keyWith(...permissions: (typeof ALL_PERMISSIONS)[number][]): Promise<TestKey> {
  return server.newKey({ organization: admin.organization, permissions });
}

/** How many active keys the admin's organization holds. */
async function keyCount(): Promise<number> {
  const list = await server.call<Body<'listApiKeys', 200>>('GET', '/v1/api-keys', { key: admin.plaintext });
  return list.body.meta.total;
}

describe('a key carries only its permissions', () => {
  test('a contacts:read key lists contacts but is refused a create, naming the permission and the operation', async () => {
    const reader = await keyWith('contacts:read');
    expect((await server.call('GET', '/v1/contacts', { key: reader.plaintext })).status).toBe(200);
    const refused = await server.call('POST', '/v1/contacts', { key: reader.plaintext, body: { email: newEmail() } });
    const error = expectError(refused, 403, 'FORBIDDEN');
    expect(error.message).toBe(
      'This API key lacks the contacts:write permission, which createContact (POST /v1/contacts) needs',
    );
    expect(error.details).toEqual({ permissions: ['contacts:write'] });
    expectError(await server.call('GET', '/v1/api-keys', { key: reader.plaintext }), 403, 'FORBIDDEN');
  });

  test('validate, health, the rate-limit status and the permission list answer every valid key', async () => {
    const narrow = await keyWith('contacts:read');
    for (const path of ['/v1/api-keys/validate', '/v1/health', '/v1/rate-limit', '/v1/permissions']) {
      expect((await server.call('GET', path, { key: narrow.plaintext })).status, path).toBe(200);
    }
    const validated = await server.call<Body<'validateApiKey', 200>>('GET', '/v1/api-keys/validate', {
      key: narrow.plaintext,
    });
    expect(validated.body.data).toMatchObject({
      access: 'restricted',
      permissions: ['contacts:read'],
      environment: 'production',
    });
  });

  test('GET /v1/permissions lists each permission, what it opens as the spec says, and whether the key holds it', async () => {
    const narrow = await keyWith('api_keys:read', 'contacts:write');
    const reply = await server.call<Body<'listPermissions', 200>>('GET', '/v1/permissions', { key: narrow.plaintext });
    expect(reply.body.meta.total).toBe(ALL_PERMISSIONS.length);
    expect(reply.body.data.map((p) => p.permission)).toEqual(ALL_PERMISSIONS);
    for (const entry of reply.body.data) {
      expect(entry.description.length).toBeGreaterThan(0);
      expect(entry.granted, entry.permission).toBe(['api_keys:read', 'contacts:write'].includes(entry.permission));
      // Read from the spec independently of the server: every operation whose security names the permission.
      const expected = SPEC_OPERATIONS.filter((op) => op.path.startsWith('/v1/') && op.roles[0] === entry.permission)
        .map((op) => `${op.method} ${op.path} ${op.operationId}`)
        .sort();
      expect(entry.operations.map((op) => `${op.method} ${op.path} ${op.operationId}`).sort()).toEqual(expected);
      expect(expected.length, entry.permission).toBeGreaterThan(0);
    }
  });
});

describe('a key never grants more than its caller holds', () => {
  test('a key with api_keys:write but not contacts:write may not create a key with contacts:write', async () => {
    const manager = await keyWith('api_keys:read', 'api_keys:write', 'contacts:read');
    const before = await keyCount();
    const refused = await server.call('POST', '/v1/api-keys', {
      key: manager.plaintext,
      body: { name: 'escalate', permissions: ['contacts:read', 'contacts:write'] },
    });
    const error = expectError(refused, 403, 'FORBIDDEN');
    expect(error.message).toBe(
      'An API key cannot grant or manage permissions it lacks itself; this one lacks contacts:write',
    );
    expect(error.details).toEqual({ permissions: ['contacts:write'] });
    // Without permissions the default is every one: more than this key holds, so refused too.
    const byDefault = await server.call('POST', '/v1/api-keys', { key: manager.plaintext, body: { name: 'all' } });
    expect(expectError(byDefault, 403, 'FORBIDDEN').details).toEqual({
      permissions: missingPermissions(['api_keys:read', 'api_keys:write', 'contacts:read'], ALL_PERMISSIONS),
    });
    expect(await keyCount()).toBe(before);
    // What it holds, it may give.
    const allowed = await server.call<Body<'createApiKey', 201>>('POST', '/v1/api-keys', {
      key: manager.plaintext,
      body: { name: 'reader', permissions: ['contacts:read'] },
    });
    expect(allowed.status).toBe(201);
    expect(allowed.body.data).toMatchObject({ permissions: ['contacts:read'], access: 'restricted' });
  });

  test('nor rename, rotate or revoke a key holding a permission it lacks; the key is untouched', async () => {
    const manager = await keyWith('api_keys:read', 'api_keys:write');
    const powerful = await keyWith(...ALL_PERMISSIONS);
    const attempts = [
      await server.call('PATCH', `/v1/api-keys/${powerful.keyId}`, { key: manager.plaintext, body: { name: 'mine' } }),
      await server.call('POST', `/v1/api-keys/${powerful.keyId}/rotate`, { key: manager.plaintext, body: {} }),
      await server.call('DELETE', `/v1/api-keys/${powerful.keyId}`, { key: manager.plaintext }),
    ];
    for (const reply of attempts) {
      expect(expectError(reply, 403, 'FORBIDDEN').details).toEqual({
        permissions: missingPermissions(['api_keys:read', 'api_keys:write'], ALL_PERMISSIONS),
      });
    }
    const still = await server.call<Body<'getApiKey', 200>>('GET', `/v1/api-keys/${powerful.keyId}`, {
      key: admin.plaintext,
    });
    expect(still.body.data).toMatchObject({ name: 'test key', expirationTs: null });
    expect((await server.call('GET', '/v1/contacts', { key: powerful.plaintext })).status).toBe(200);
  });

  test('a rotated key inherits its permissions and environment exactly', async () => {
    const created = await server.call<Body<'createApiKey', 201>>('POST', '/v1/api-keys', {
      key: admin.plaintext,
      body: { name: 'staging sync', environment: 'staging', permissions: ['contacts:write', 'contacts:read'] },
    });
    expect(created.body.data).toMatchObject({
      permissions: ['contacts:read', 'contacts:write'],
      environment: 'staging',
    });
    const rotated = await server.call<Body<'rotateApiKey', 201>>(
      'POST',
      `/v1/api-keys/${created.body.data.keyId}/rotate`,
      { key: admin.plaintext, body: { gracePeriodMinutes: 0 } },
    );
    expect(rotated.status).toBe(201);
    expect(rotated.body.data).toMatchObject({
      permissions: ['contacts:read', 'contacts:write'],
      environment: 'staging',
      access: 'restricted',
    });
    expectError(await server.call('GET', '/v1/api-keys', { key: rotated.body.data.apiKey }), 403, 'FORBIDDEN');
  });

  test('a user token (a member of the organization) may give a key any permission', async () => {
    const owner = await signUp(server, { tag: 'permissions', fromNewAddress: true });
    const organizationId = owner.organizations[0]?.organizationId ?? '';
    const created = await server.call<Body<'createOrganizationApiKey', 201>>(
      'POST',
      `/organizations/${organizationId}/api-keys`,
      { key: owner.token, body: { name: 'dev', environment: 'development', permissions: ['api_keys:write'] } },
    );
    expect(created.status, created.text).toBe(201);
    expect(created.body.data).toMatchObject({ permissions: ['api_keys:write'], environment: 'development' });
  });
});

describe('environments', () => {
  test('a key is made for an environment, shown with it, and listed by it', async () => {
    const organization = `env-${Date.now()}`;
    const lead = await server.newKey({ organization });
    for (const environment of ['development', 'staging', 'staging'] as const) {
      const reply = await server.call('POST', '/v1/api-keys', {
        key: lead.plaintext,
        body: { name: `${environment} key`, environment },
      });
      expect(reply.status).toBe(201);
    }
    const staging = await server.call<Body<'listApiKeys', 200>>('GET', '/v1/api-keys?environment=staging', {
      key: lead.plaintext,
    });
    expect(staging.body.meta.total).toBe(2);
    expect(staging.body.data.every((key) => key.environment === 'staging')).toBe(true);
    const production = await server.call<Body<'listApiKeys', 200>>('GET', '/v1/api-keys?environment=production', {
      key: lead.plaintext,
    });
    expect(production.body.data.map((key) => key.keyId)).toEqual([lead.keyId]);
    const unknown = await server.call('GET', '/v1/api-keys?environment=qa', { key: lead.plaintext });
    expect(Object.keys(expectError(unknown, 422, 'VALIDATION_ERROR').details ?? {})).toEqual(['query.environment']);
  });
});

describe('bad input is refused with per-field details, and nothing is stored', () => {
  test.each([
    ['an empty permissions array', { permissions: [] }, ['permissions']],
    ['a permission given twice', { permissions: ['contacts:read', 'contacts:read'] }, ['permissions']],
    ['an unknown permission', { permissions: ['contacts:delete'] }, ['permissions.0']],
    [
      'access and permissions that disagree',
      { access: 'read_only', permissions: ['contacts:write'] },
      ['access', 'permissions'],
    ],
    ['an unknown environment', { environment: 'qa' }, ['environment']],
  ])('%s is 422', async (_, fields, detailed) => {
    const before = await keyCount();
    const reply = await server.call('POST', '/v1/api-keys', { key: admin.plaintext, body: { name: 'bad', ...fields } });
    const error = expectError(reply, 422, 'VALIDATION_ERROR');
    expect(Object.keys(error.details ?? {}).sort()).toEqual([...detailed].sort());
    expect(await keyCount()).toBe(before);
  });

  test('access and permissions that agree are accepted, and access alone is its shorthand', async () => {
    const agreeing = await server.call<Body<'createApiKey', 201>>('POST', '/v1/api-keys', {
      key: admin.plaintext,
      body: { name: 'agree', access: 'read_only', permissions: [...READ_PERMISSIONS].reverse() },
    });
    expect(agreeing.body.data).toMatchObject({ access: 'read_only', permissions: READ_PERMISSIONS });
    const shorthand = await server.call<Body<'createApiKey', 201>>('POST', '/v1/api-keys', {
      key: admin.plaintext,
      body: { name: 'shorthand', access: 'full' },
    });
    expect(shorthand.body.data).toMatchObject({ access: 'full', permissions: ALL_PERMISSIONS });
  });
});
