import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  IDEMPOTENCY_LEASE_MS,
  IDEMPOTENCY_RETENTION_MS,
  idempotencyScope,
  requestFingerprint,
} from '../../src/server/idempotency.ts';
import { newEmail, PASSWORD, type Session, signUp as signUpAs } from './helpers/accounts.ts';
import { type CallOptions, expectError, type Reply } from './helpers/call.ts';
import { SERVER_SECRET, startTestServer, type TestKey, type TestServer } from './helpers/server.ts';
import type { Body } from './helpers/spec.ts';
import { waitFor } from './helpers/wait.ts';

type Created = Body<'createApiKey', 201>;

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ idempotencyPurgeMs: 50 });
});
afterAll(async () => {
  await server?.close();
});

function post<T = Created>(path: string, caller: TestKey, idempotencyKey: string | undefined, options: CallOptions) {
  return server.call<T>('POST', path, {
    key: caller.plaintext,
    ...options,
    headers: { ...options.headers, ...(idempotencyKey === undefined ? {} : { 'Idempotency-Key': idempotencyKey }) },
  });
}

/** Every header but those that belong to the request rather than to its outcome. */
function outcomeHeaders(reply: Reply<unknown>): Record<string, string> {
  const own = new Set([
    'x-request-id',
    'x-ratelimit-limit',
    'x-ratelimit-remaining',
    'x-ratelimit-reset',
    'ratelimit-policy',
    'ratelimit',
    'date',
    'idempotent-replayed',
  ]);
  const kept: Record<string, string> = {};
  reply.headers.forEach((value, name) => {
    if (!own.has(name)) {
      kept[name] = value;
    }
  });
  return kept;
}

async function keyCount(caller: TestKey): Promise<number> {
  const list = await server.call<Body<'listApiKeys', 200>>('GET', '/v1/api-keys', { key: caller.plaintext });
  return list.body.meta.total;
}

describe('a retried create with the same Idempotency-Key', () => {
  test('replays the first answer byte for byte, marked Idempotent-Replayed, and creates one key', async () => {
    // One window, so X-RateLimit-Remaining counts every request.
    const caller = await server.newKey({ plan: 'steady' });
    const key = randomUUID();
    const first = await post('/v1/api-keys', caller, key, { body: { name: 'Once', expirationDays: 7 } });
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();

    const retries = [
      await post('/v1/api-keys', caller, key, { body: { name: 'Once', expirationDays: 7 } }),
      // The same data written differently is the same request.
      await post('/v1/api-keys', caller, key, { raw: '{ "expirationDays": 7,\n  "name": "Once" }' }),
    ];

    for (const retry of retries) {
      expect(retry.status).toBe(201);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(retry.text).toBe(first.text);
      expect(outcomeHeaders(retry)).toEqual(outcomeHeaders(first));
      expect(retry.requestId).not.toBe(first.requestId);
      // Replays count against the rate limit like any request.
      expect(retry.rate?.remaining).toBeLessThan(first.rate?.remaining ?? 0);
    }
    expect(await keyCount(caller)).toBe(2);
    // The replayed secret is the real one.
    const created = first.body.data;
    expect((await server.call('GET', '/v1/api-keys/validate', { key: created.apiKey })).status).toBe(200);
  });

  test('with a different body, path or method is 422 IDEMPOTENCY_KEY_REUSED and creates nothing', async () => {
    const caller = await server.newKey();
    const key = randomUUID();
    expect((await post('/v1/api-keys', caller, key, { body: { name: 'First' } })).status).toBe(201);

    const reused = [
      await post('/v1/api-keys', caller, key, { body: { name: 'Second' } }),
      await post('/v1/api-keys', caller, key, { body: { name: 'First', expirationDays: 1 } }),
      await post('/v1/contacts', caller, key, { body: { email: newEmail() } }),
      await post(`/v1/api-keys/${caller.keyId}/rotate`, caller, key, {}),
    ];
    for (const reply of reused) {
      expect(expectError(reply, 422, 'IDEMPOTENCY_KEY_REUSED').message).toBe(
        'This Idempotency-Key was used for a different request (method, path or body) in the last 24 hours. Send a new key for a new request.',
      );
      expect(reply.headers.get('idempotent-replayed')).toBeNull();
    }
    expect(await keyCount(caller)).toBe(2);
  });

  test('without an Idempotency-Key every POST creates', async () => {
    const caller = await server.newKey();
    for (let i = 0; i < 2; i++) {
      expect((await post('/v1/api-keys', caller, undefined, { body: { name: 'Twice' } })).status).toBe(201);
    }
    expect(await keyCount(caller)).toBe(3);
  });

  test('is scoped to the calling key: another key of the organization, or another organization, creates anew', async () => {
    const caller = await server.newKey();
    const colleague = await server.newKey({ organization: caller.organization });
    const stranger = await server.newKey();
    const key = randomUUID();
    const answers = [];
    for (const who of [caller, colleague, stranger]) {
      const reply = await post('/v1/api-keys', who, key, { body: { name: 'Scoped' } });
      expect(reply.status).toBe(201);
      expect(reply.headers.get('idempotent-replayed')).toBeNull();
      answers.push(reply.body.data.keyId);
    }
    expect(new Set(answers).size).toBe(3);
  });

  test('replays a stored error too: a 409 DUPLICATE_RESOURCE stays the answer, under the new request id', async () => {
    const caller = await server.newKey();
    const email = newEmail('taken');
    expect((await post('/v1/contacts', caller, undefined, { body: { email } })).status).toBe(201);
    const key = randomUUID();
    const first = await post('/v1/contacts', caller, key, { body: { email } });
    expectError(first, 409, 'DUPLICATE_RESOURCE');

    const retry = await post('/v1/contacts', caller, key, { body: { email } });

    expectError(retry, 409, 'DUPLICATE_RESOURCE');
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    // meta.requestId names this request (the call helper checks it equals X-Request-Id); the rest is the first answer.
    expect({ ...(retry.body as object), meta: undefined }).toEqual({ ...(first.body as object), meta: undefined });
  });
});

describe('what is not stored', () => {
  test('requests refused before they run (422, 403, 415, 400) leave the key free for the corrected request', async () => {
    const caller = await server.newKey();
    const reader = await server.newKey({ organization: caller.organization, access: 'read_only' });
    const key = randomUUID();
    expectError(await post('/v1/api-keys', caller, key, { body: { name: '' } }), 422, 'VALIDATION_ERROR');
    expectError(await post('/v1/api-keys', caller, key, { raw: '{"name":' }), 400, 'BAD_REQUEST');
    expectError(
      await post('/v1/api-keys', caller, key, { raw: 'name=x', contentType: 'text/plain' }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    expectError(await post('/v1/api-keys', reader, key, { body: { name: 'Fixed' } }), 403, 'FORBIDDEN');

    const fixed = await post('/v1/api-keys', caller, key, { body: { name: 'Fixed' } });
    expect(fixed.status).toBe(201);
    expect(fixed.headers.get('idempotent-replayed')).toBeNull();
  });

  test('an Idempotency-Key that is empty, too long or not visible ASCII is 422 on the header', async () => {
    const caller = await server.newKey();
    for (const bad of ['', 'x'.repeat(256), 'two words']) {
      const reply = await post('/v1/api-keys', caller, bad, { body: { name: 'Bad key' } });
      expect(Object.keys(expectError(reply, 422, 'VALIDATION_ERROR').details ?? {}), JSON.stringify(bad)).toEqual([
        'headers.idempotency-key',
      ]);
    }
    const longest = await post('/v1/api-keys', caller, `"${'~'.repeat(253)}"`, { body: { name: 'Quoted' } });
    expect(longest.status).toBe(201);
    expect(await keyCount(caller)).toBe(2);
  });
});

describe('a request still in flight', () => {
  test('is 409 IDEMPOTENCY_KEY_IN_USE with Retry-After, until its lease passes and a retry takes over', async () => {
    const caller = await server.newKey();
    const key = randomUUID();
    const body = { name: 'In flight' };
    // Another instance holds the key: it claimed it and has not answered yet. The request is fingerprinted as the
    // input check leaves it (the create's fields have no defaults to fill in).
    const now = server.now();
    await server.handle.store.claimIdempotencyKey({
      ...idempotencyScope(
        SERVER_SECRET,
        { organizationId: caller.organizationId, principal: `key:${caller.keyId}` },
        key,
      ),
      fingerprint: requestFingerprint(SERVER_SECRET, 'POST', '/v1/api-keys', body),
      owner: 'another instance',
      at: now,
      leaseExpiresAt: new Date(now.getTime() + IDEMPOTENCY_LEASE_MS),
      expiresAt: new Date(now.getTime() + IDEMPOTENCY_RETENTION_MS),
    });

    const busy = await post('/v1/api-keys', caller, key, { body });
    expect(expectError(busy, 409, 'IDEMPOTENCY_KEY_IN_USE').message).toBe(
      'A request with this Idempotency-Key is still being processed. Retry after 1 second to get its outcome.',
    );
    expect(busy.headers.get('retry-after')).toBe('1');
    // A different request with the key is still a misuse, in flight or not.
    expectError(await post('/v1/api-keys', caller, key, { body: { name: 'Other' } }), 422, 'IDEMPOTENCY_KEY_REUSED');
    expect(await keyCount(caller)).toBe(1);

    // The holder died: once its lease passes, the retry runs the request.
    server.advanceClock(IDEMPOTENCY_LEASE_MS);
    const retry = await post('/v1/api-keys', caller, key, { body });
    expect(retry.status).toBe(201);
    expect(await keyCount(caller)).toBe(2);
  });
});

describe('a rotation with an Idempotency-Key', () => {
  test('is replayed with the same new key instead of 409 KEY_ALREADY_ROTATED, and rotates once', async () => {
    const admin = await server.newKey();
    const target = await post('/v1/api-keys', admin, undefined, { body: { name: 'Rotate me' } });
    const key = randomUUID();
    const path = `/v1/api-keys/${target.body.data.keyId}/rotate`;
    const first = await post<Body<'rotateApiKey', 201>>(path, admin, key, { body: { gracePeriodMinutes: 30 } });
    expect(first.status).toBe(201);

    const retry = await post<Body<'rotateApiKey', 201>>(path, admin, key, { body: { gracePeriodMinutes: 30 } });

    expect(retry.status).toBe(201);
    expect(retry.text).toBe(first.text);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await keyCount(admin)).toBe(3);
    expectError(
      await post(path, admin, randomUUID(), { body: { gracePeriodMinutes: 30 } }),
      409,
      'KEY_ALREADY_ROTATED',
    );
  });
});

describe('retention', () => {
  test('an outcome is kept 24 hours, then the key is free again and the expired entry is purged', async () => {
    const caller = await server.newKey();
    const key = randomUUID();
    expect((await post('/v1/api-keys', caller, key, { body: { name: 'Day one' } })).status).toBe(201);
    server.advanceClock(IDEMPOTENCY_RETENTION_MS - 1000);
    expectError(await post('/v1/api-keys', caller, key, { body: { name: 'Day two' } }), 422, 'IDEMPOTENCY_KEY_REUSED');

    const keptUntil = server.now();
    server.advanceClock(1000);
    // The periodic purge (every 50 ms here) deletes the expired entry: claiming it as of before its expiry succeeds.
    const scope = idempotencyScope(
      SERVER_SECRET,
      { organizationId: caller.organizationId, principal: `key:${caller.keyId}` },
      key,
    );
    await waitFor(async () => {
      const claim = await server.handle.store.claimIdempotencyKey({
        ...scope,
        fingerprint: '0'.repeat(64),
        owner: 'probe',
        at: keptUntil,
        leaseExpiresAt: keptUntil,
        expiresAt: keptUntil,
      });
      return claim.claimed ? true : undefined;
    }, 'the periodic purge of the expired entry');

    const later = await post('/v1/api-keys', caller, key, { body: { name: 'Day two' } });
    expect(later.status).toBe(201);
    expect(later.body.data.name).toBe('Day two');
  });
});

describe('a create under a user token (POST /organizations/{organizationId}/api-keys)', () => {
  async function signUp(): Promise<{ session: Session; orgId: string }> {
    const session = await signUpAs(server);
    return { session, orgId: session.organizations[0]?.organizationId ?? '' };
  }

  function postAsUser(token: string, orgId: string, idempotencyKey: string | undefined, options: CallOptions) {
    return server.call<Created>('POST', `/organizations/${orgId}/api-keys`, {
      key: token,
      ...options,
      headers: { ...options.headers, ...(idempotencyKey === undefined ? {} : { 'Idempotency-Key': idempotencyKey }) },
    });
  }

  async function orgKeyCount(token: string, orgId: string): Promise<number> {
    const list = await server.call<Body<'listOrganizationApiKeys', 200>>('GET', `/organizations/${orgId}/api-keys`, {
      key: token,
    });
    return list.body.meta.total;
  }

  test('is replayed with the same secret, refused with 422 for another body, and makes one key', async () => {
    const { session, orgId } = await signUp();
    const key = randomUUID();
    const first = await postAsUser(session.token, orgId, key, { body: { name: 'Once', expirationDays: 7 } });
    expect(first.status, first.text).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();

    const retry = await postAsUser(session.token, orgId, key, { body: { name: 'Once', expirationDays: 7 } });
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.text).toBe(first.text);
    expect(outcomeHeaders(retry)).toEqual(outcomeHeaders(first));

    expectError(
      await postAsUser(session.token, orgId, key, { body: { name: 'Another' } }),
      422,
      'IDEMPOTENCY_KEY_REUSED',
    );
    // The same Idempotency-Key on /v1/api-keys, under a key of the organization, is another caller's.
    const made = first.body.data;
    const viaKey = await post(
      '/v1/api-keys',
      { plaintext: made.apiKey, keyId: made.keyId, organizationId: orgId, organization: '' },
      key,
      { body: { name: 'Once', expirationDays: 7 } },
    );
    expect(viaKey.status).toBe(201);
    expect(viaKey.headers.get('idempotent-replayed')).toBeNull();
    expect(await orgKeyCount(session.token, orgId)).toBe(2);
    expect((await server.call('GET', '/v1/api-keys/validate', { key: first.body.data.apiKey })).status).toBe(200);
  });

  test('is scoped to the user and the organization in the path', async () => {
    const { session, orgId } = await signUp();
    const other = await server.call<Body<'createOrganization', 201>>('POST', '/organizations', {
      key: session.token,
      body: { name: 'Second' },
    });
    const otherId = other.body.data.organizationId;
    const key = randomUUID();
    const here = await postAsUser(session.token, orgId, key, { body: { name: 'Scoped' } });
    const there = await postAsUser(session.token, otherId, key, { body: { name: 'Scoped' } });
    expect(here.status).toBe(201);
    expect(there.status).toBe(201);
    expect(there.headers.get('idempotent-replayed')).toBeNull();
    expect(there.body.data.keyId).not.toBe(here.body.data.keyId);
  });

  test('past the 100 active keys is 409 KEY_LIMIT_REACHED, and that answer is replayed', async () => {
    const { session, orgId } = await signUp();
    const first = await postAsUser(session.token, orgId, undefined, { body: { name: 'first' } });
    expect(first.status, first.text).toBe(201);
    for (let i = 1; i < 100; i++) {
      expect((await postAsUser(session.token, orgId, undefined, { body: { name: `key ${i}` } })).status).toBe(201);
    }
    const key = randomUUID();
    const refused = await postAsUser(session.token, orgId, key, { body: { name: 'one too many' } });
    expect(expectError(refused, 409, 'KEY_LIMIT_REACHED').message).toBe(
      'This organization already has 100 active API keys, the most it may hold: revoke one first',
    );
    const again = await postAsUser(session.token, orgId, key, { body: { name: 'one too many' } });
    expectError(again, 409, 'KEY_LIMIT_REACHED');
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await orgKeyCount(session.token, orgId)).toBe(100);
  });
});

describe('a sign-up with an Idempotency-Key (no credential: the key alone is the scope)', () => {
  function signUp(idempotencyKey: string | undefined, body: Record<string, unknown>) {
    return server.call<Body<'signUp', 201>>('POST', '/auth/signup', {
      body,
      headers: idempotencyKey === undefined ? {} : { 'Idempotency-Key': idempotencyKey },
    });
  }

  test('is replayed with the same user and user token, and makes one account', async () => {
    const key = randomUUID();
    const body = { email: newEmail('once'), password: PASSWORD, name: 'Ada Lovelace' };
    const first = await signUp(key, body);
    expect(first.status, first.text).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();

    const retry = await signUp(key, body);
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.text).toBe(first.text);
    expect(retry.body.data.token).toBe(first.body.data.token);
    // The replayed token is the real one, and there is one account: signing up again without the key is a 409.
    const me = await server.call<Body<'getMe', 200>>('GET', '/auth/me', { key: retry.body.data.token });
    expect(me.status, me.text).toBe(200);
    expectError(await signUp(undefined, body), 409, 'DUPLICATE_RESOURCE');
    expect(me.body.data.organizations).toHaveLength(1);
  });

  test('with another body (another email, or another password) is 422 IDEMPOTENCY_KEY_REUSED and creates no one', async () => {
    const key = randomUUID();
    const email = newEmail('first');
    expect((await signUp(key, { email, password: PASSWORD })).status).toBe(201);
    const other = newEmail('second');
    expectError(await signUp(key, { email: other, password: PASSWORD }), 422, 'IDEMPOTENCY_KEY_REUSED');
    expectError(await signUp(key, { email, password: `${PASSWORD}!` }), 422, 'IDEMPOTENCY_KEY_REUSED');
    // Nobody signed up as the second email: it is still free.
    expect((await signUp(undefined, { email: other, password: PASSWORD })).status).toBe(201);
  });

  test('replays a 409 DUPLICATE_RESOURCE too, and a 5xx-free retry after the duplicate keeps it', async () => {
    const email = newEmail('taken');
    expect((await signUp(undefined, { email, password: PASSWORD })).status).toBe(201);
    const key = randomUUID();
    expectError(await signUp(key, { email, password: PASSWORD }), 409, 'DUPLICATE_RESOURCE');
    const retry = await signUp(key, { email, password: PASSWORD });
    expectError(retry, 409, 'DUPLICATE_RESOURCE');
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
  });
});

describe('creating an organization with an Idempotency-Key (scoped to the user)', () => {
  async function newUser(): Promise<Body<'signUp', 201>['data']> {
    const reply = await server.call<Body<'signUp', 201>>('POST', '/auth/signup', {
      body: { email: newEmail('founder'), password: 'correct horse battery staple' },
    });
    expect(reply.status, reply.text).toBe(201);
    return reply.body.data;
  }
  const create = (token: string, key: string, name: string) =>
    server.call<Body<'createOrganization', 201>>('POST', '/organizations', {
      key: token,
      body: { name },
      headers: { 'Idempotency-Key': key },
    });
  const organizationsOf = async (token: string) =>
    (await server.call<Body<'listOrganizations', 200>>('GET', '/organizations', { key: token })).body.data.length;

  test('is replayed with the same organization, 422 for another name, and makes one', async () => {
    const user = await newUser();
    const key = randomUUID();
    const first = await create(user.token, key, 'Acme Mail');
    expect(first.status, first.text).toBe(201);
    const retry = await create(user.token, key, 'Acme Mail');
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.text).toBe(first.text);
    expectError(await create(user.token, key, 'Other Mail'), 422, 'IDEMPOTENCY_KEY_REUSED');
    expect(await organizationsOf(user.token)).toBe(2);
  });

  test('is scoped to the user: another user with the same key creates their own', async () => {
    const [one, two] = [await newUser(), await newUser()];
    const key = randomUUID();
    const a = await create(one.token, key, 'Shared name');
    const b = await create(two.token, key, 'Shared name');
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.headers.get('idempotent-replayed')).toBeNull();
    expect(b.body.data.organizationId).not.toBe(a.body.data.organizationId);
  });

  test('while the first is in flight is 409 IDEMPOTENCY_KEY_IN_USE', async () => {
    const user = await newUser();
    const key = randomUUID();
    const now = server.now();
    await server.handle.store.claimIdempotencyKey({
      ...idempotencyScope(SERVER_SECRET, { organizationId: '', principal: `user:${user.user.userId}` }, key),
      fingerprint: requestFingerprint(SERVER_SECRET, 'POST', '/organizations', { name: 'Busy' }),
      owner: 'another instance',
      at: now,
      leaseExpiresAt: new Date(now.getTime() + IDEMPOTENCY_LEASE_MS),
      expiresAt: new Date(now.getTime() + IDEMPOTENCY_RETENTION_MS),
    });
    const busy = await create(user.token, key, 'Busy');
    expectError(busy, 409, 'IDEMPOTENCY_KEY_IN_USE');
    expect(busy.headers.get('retry-after')).toBe('1');
    expect(await organizationsOf(user.token)).toBe(1);
  });
});
