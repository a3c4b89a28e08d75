import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signUp } from './helpers/accounts.ts';
import { expectError } from './helpers/call.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import type { Body } from './helpers/spec.ts';

// The endpoint operations on a server started without --allow-private-webhooks: what a URL may be (SSRF), what an
// endpoint holds, and that its secret is shown once. Host names resolve through a table of the test's own, so "a
// name that resolves to a private address" is real without touching the machine's DNS.

const RESOLVES: Record<string, string[]> = {
  'hooks.example.com': ['93.184.215.14'],
  'sneaky.example.com': ['93.184.215.14', '10.1.2.3'],
  'metadata.example.com': ['169.254.169.254'],
  'six.example.com': ['2606:4700::6810:84e5', '::1'],
  'mapped.example.com': ['::ffff:127.0.0.1'],
};

let server: TestServer;
let key: string;

beforeAll(async () => {
  server = await startTestServer({
    webhooks: {
      // Nothing is delivered here: only the URL policy is under test.
      deliver: false,
      resolve: async (host) => {
        const addresses = RESOLVES[host];
        if (!addresses) {
          throw new Error(`ENOTFOUND ${host}`);
        }
        return addresses;
      },
    },
  });
  key = (await server.newKey()).plaintext;
});
afterAll(async () => {
  await server?.close();
});

const create = (body: unknown) => server.call('POST', '/v1/webhook-endpoints', { key, body });

describe('where an endpoint may point', () => {
  test.each([
    ['not a URL', 'hooks example', 'must be an absolute URL'],
    ['http without the flag', 'http://hooks.example.com/in', 'must be an https URL'],
    ['another scheme', 'ftp://hooks.example.com/in', 'must be an https URL'],
    ['credentials in the URL', 'https://user:pass@hooks.example.com/in', 'must not carry credentials (user:password@)'],
    [
      'a loopback address',
      'https://127.0.0.1/in',
      'must not point at a loopback, private or link-local address (127.0.0.1 resolves to 127.0.0.1)',
    ],
    [
      'a private address',
      'https://192.168.1.20:8443/in',
      'must not point at a loopback, private or link-local address (192.168.1.20 resolves to 192.168.1.20)',
    ],
    [
      'IPv6 loopback',
      'https://[::1]/in',
      'must not point at a loopback, private or link-local address (::1 resolves to ::1)',
    ],
    [
      'a name with one private address among public ones',
      'https://sneaky.example.com/in',
      'must not point at a loopback, private or link-local address (sneaky.example.com resolves to 10.1.2.3)',
    ],
    [
      'the cloud metadata address',
      'https://metadata.example.com/',
      'must not point at a loopback, private or link-local address (metadata.example.com resolves to 169.254.169.254)',
    ],
    [
      'an IPv6 name with a loopback address',
      'https://six.example.com/',
      'must not point at a loopback, private or link-local address (six.example.com resolves to ::1)',
    ],
    [
      'an IPv4-mapped loopback',
      'https://mapped.example.com/',
      'must not point at a loopback, private or link-local address (mapped.example.com resolves to ::ffff:127.0.0.1)',
    ],
    ['a name that does not resolve', 'https://nowhere.example.com/', 'host nowhere.example.com does not resolve'],
  ])('%s is refused with 422 on url', async (_what, url, message) => {
    const error = expectError(await create({ url }), 422, 'VALIDATION_ERROR');
    expect(error.details).toEqual({ url: [message] });
  });

  test('an unknown event type is refused with 422', async () => {
    const error = expectError(
      await create({ url: 'https://hooks.example.com/in', enabledEvents: ['api_key.deleted'] }),
      422,
      'VALIDATION_ERROR',
    );
    expect(Object.keys(error.details ?? {})).toEqual(['enabledEvents.0']);
  });

  test('a PATCH to a private URL is refused the same way, and the endpoint keeps its URL', async () => {
    const created = await create({ url: 'https://hooks.example.com/in' });
    const { endpointId } = (created.body as Body<'createWebhookEndpoint', 201>).data;
    const refused = await server.call('PATCH', `/v1/webhook-endpoints/${endpointId}`, {
      key,
      body: { url: 'https://10.0.0.8/in' },
    });
    expect(expectError(refused, 422, 'VALIDATION_ERROR').details).toEqual({
      url: ['must not point at a loopback, private or link-local address (10.0.0.8 resolves to 10.0.0.8)'],
    });
    const kept = await server.call<Body<'getWebhookEndpoint', 200>>('GET', `/v1/webhook-endpoints/${endpointId}`, {
      key,
    });
    expect(kept.body.data.url).toBe('https://hooks.example.com/in');
  });
});

describe('an endpoint', () => {
  test('is created with its secret shown once, listed, changed and deleted', async () => {
    const ownerKey = await server.newKey();
    const owner = ownerKey.plaintext;
    const created = await server.call<Body<'createWebhookEndpoint', 201>>('POST', '/v1/webhook-endpoints', {
      key: owner,
      body: { url: 'https://hooks.example.com/a', description: 'alerts', enabledEvents: ['api_key.leaked'] },
    });
    expect(created.status, created.text).toBe(201);
    const { secret, ...endpoint } = created.body.data;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(created.body.meta.warning).toMatch(/only be shown once/);
    const listed = await server.call<Body<'listWebhookEndpoints', 200>>('GET', '/v1/webhook-endpoints', {
      key: owner,
    });
    expect(listed.body).toMatchObject({ data: [endpoint], meta: { total: 1 } });
    expect(listed.text).not.toContain(secret.slice(6));
    // Stored sealed: the secret's text is nowhere in the table.
    const stored = await server.handle.store.listWebhookEndpoints(ownerKey.organizationId);
    expect(stored).toHaveLength(1);
    expect(Buffer.from(stored[0]?.secretSealed ?? []).toString('latin1')).not.toContain(secret.slice(6));
    expect(Buffer.from(stored[0]?.secretSealed ?? []).toString('base64')).not.toContain(secret.slice(6, 30));

    const changed = await server.call<Body<'updateWebhookEndpoint', 200>>(
      'PATCH',
      `/v1/webhook-endpoints/${endpoint.endpointId}`,
      { key: owner, body: { description: null, enabledEvents: ['*'], disabled: true } },
    );
    expect(changed.body.data).toMatchObject({ description: null, enabledEvents: ['*'], disabled: true });
    const deleted = await server.call('DELETE', `/v1/webhook-endpoints/${endpoint.endpointId}`, { key: owner });
    expect(deleted.body).toEqual({ success: true, data: { endpointId: endpoint.endpointId, deleted: true } });
    expectError(
      await server.call('GET', `/v1/webhook-endpoints/${endpoint.endpointId}`, { key: owner }),
      404,
      'RESOURCE_NOT_FOUND',
    );
  });

  test("is another organization's 404", async () => {
    const created = await create({ url: 'https://hooks.example.com/mine' });
    const { endpointId } = (created.body as Body<'createWebhookEndpoint', 201>).data;
    const stranger = (await server.newKey()).plaintext;
    for (const [method, path] of [
      ['GET', `/v1/webhook-endpoints/${endpointId}`],
      ['DELETE', `/v1/webhook-endpoints/${endpointId}`],
      ['GET', `/v1/webhook-endpoints/${endpointId}/deliveries`],
      ['POST', `/v1/webhook-endpoints/${endpointId}/rotate-secret`],
      ['POST', `/v1/webhook-endpoints/${endpointId}/test`],
    ] as const) {
      expectError(await server.call(method, path, { key: stranger }), 404, 'RESOURCE_NOT_FOUND');
    }
  });

  test('needs webhooks:read to read and webhooks:write to change', async () => {
    const reader = await server.newKey({ permissions: ['webhooks:read'] });
    expect((await server.call('GET', '/v1/webhook-endpoints', { key: reader.plaintext })).status).toBe(200);
    const refused = await server.call('POST', '/v1/webhook-endpoints', {
      key: reader.plaintext,
      body: { url: 'https://hooks.example.com/x' },
    });
    expect(expectError(refused, 403, 'FORBIDDEN').details).toEqual({ permissions: ['webhooks:write'] });
  });

  test('an organization holds at most 20', async () => {
    const crowded = (await server.newKey()).plaintext;
    for (let i = 0; i < 20; i++) {
      const reply = await server.call('POST', '/v1/webhook-endpoints', {
        key: crowded,
        body: { url: `https://hooks.example.com/${i}` },
      });
      expect(reply.status, reply.text).toBe(201);
    }
    const refused = await server.call('POST', '/v1/webhook-endpoints', {
      key: crowded,
      body: { url: 'https://hooks.example.com/21' },
    });
    expect(expectError(refused, 422, 'VALIDATION_ERROR').details).toEqual({
      url: ['an organization holds at most 20 webhook endpoints: delete one first'],
    });
  });
});

describe("the organization twins (a member's user token under /organizations/{organizationId})", () => {
  test('a member does what a key with webhooks:read and webhooks:write does, on the same endpoints', async () => {
    const [owner, member] = await Promise.all([signUp(server), signUp(server)]);
    const organizationId = owner.organizations[0]?.organizationId ?? '';
    const added = await server.call('POST', `/organizations/${organizationId}/members`, {
      key: owner.token,
      body: { email: member.user.email },
    });
    expect(added.status, added.text).toBe(201);
    const base = `/organizations/${organizationId}/webhook-endpoints`;
    const asMember = { key: member.token };

    const created = await server.call<Body<'createOrganizationWebhookEndpoint', 201>>('POST', base, {
      ...asMember,
      body: { url: 'https://hooks.example.com/twin', enabledEvents: ['api_key.revoked'] },
    });
    expect(created.status, created.text).toBe(201);
    const { secret, ...endpoint } = created.body.data;
    expect(secret).toMatch(/^whsec_/);
    const path = `${base}/${endpoint.endpointId}`;

    // One implementation: the organization's API key sees the endpoint the member made, and the owner does too.
    const orgKey = await server.call<Body<'createOrganizationApiKey', 201>>(
      'POST',
      `/organizations/${organizationId}/api-keys`,
      { key: owner.token, body: { name: 'twin check' } },
    );
    expect(orgKey.status, orgKey.text).toBe(201);
    const viaKey = await server.call<Body<'getWebhookEndpoint', 200>>(
      'GET',
      `/v1/webhook-endpoints/${endpoint.endpointId}`,
      { key: orgKey.body.data.apiKey },
    );
    expect(viaKey.body.data).toEqual(endpoint);
    const listed = await server.call<Body<'listOrganizationWebhookEndpoints', 200>>('GET', base, { key: owner.token });
    expect(listed.body).toMatchObject({ data: [endpoint], meta: { total: 1 } });

    const changed = await server.call<Body<'updateOrganizationWebhookEndpoint', 200>>('PATCH', path, {
      ...asMember,
      body: { description: 'from the console' },
    });
    expect(changed.body.data.description).toBe('from the console');
    const rotated = await server.call<Body<'rotateOrganizationWebhookSecret', 200>>(
      'POST',
      `${path}/rotate-secret`,
      asMember,
    );
    expect(rotated.status, rotated.text).toBe(200);
    expect(rotated.body.data.secret).not.toBe(secret);
    const tested = await server.call<Body<'testOrganizationWebhookEndpoint', 202>>('POST', `${path}/test`, asMember);
    expect(tested.status, tested.text).toBe(202);
    expect(tested.body.data.eventType).toBe('ping');
    const deliveries = await server.call<Body<'listOrganizationWebhookDeliveries', 200>>(
      'GET',
      `${path}/deliveries`,
      asMember,
    );
    expect(deliveries.body.data.map((d) => d.deliveryId)).toEqual([tested.body.data.deliveryId]);
    const retried = await server.call<Body<'retryOrganizationWebhookDelivery', 202>>(
      'POST',
      `${path}/deliveries/${tested.body.data.deliveryId}/retry`,
      asMember,
    );
    expect(retried.status, retried.text).toBe(202);
    const deleted = await server.call('DELETE', path, asMember);
    expect(deleted.body).toEqual({ success: true, data: { endpointId: endpoint.endpointId, deleted: true } });
    expectError(await server.call('GET', path, asMember), 404, 'RESOURCE_NOT_FOUND');
  });

  test("a stranger's organization, another organization's endpoint and an API key are refused", async () => {
    const [owner, stranger] = await Promise.all([signUp(server), signUp(server)]);
    const organizationId = owner.organizations[0]?.organizationId ?? '';
    const base = `/organizations/${organizationId}/webhook-endpoints`;
    const created = await server.call<Body<'createOrganizationWebhookEndpoint', 201>>('POST', base, {
      key: owner.token,
      body: { url: 'https://hooks.example.com/mine' },
    });
    const { endpointId } = created.body.data;
    const strangersOrg = `/organizations/${stranger.organizations[0]?.organizationId}/webhook-endpoints`;
    for (const [method, path, error] of [
      ['GET', base, 'No organization'],
      ['POST', `${base}/${endpointId}/test`, 'No organization'],
      ['GET', `${strangersOrg}/${endpointId}`, `No webhook endpoint ${endpointId}`],
      ['DELETE', `${strangersOrg}/${endpointId}`, `No webhook endpoint ${endpointId}`],
    ] as const) {
      const refused = expectError(await server.call(method, path, { key: stranger.token }), 404, 'RESOURCE_NOT_FOUND');
      expect(refused.message).toContain(error);
    }
    // The twin takes a user token only; the URL policy is the same as under /v1.
    expectError(await server.call('GET', base, { key }), 401, 'UNAUTHORIZED');
    const privateUrl = await server.call('POST', base, { key: owner.token, body: { url: 'https://10.0.0.1/in' } });
    expect(expectError(privateUrl, 422, 'VALIDATION_ERROR').details).toHaveProperty('url');
  });
});
