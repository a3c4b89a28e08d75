import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { generateApiKey } from '../../src/keys/api-key.ts';
import { generateUserToken } from '../../src/keys/user-token.ts';
import { fromNewAddress, newEmail, PASSWORD, type Session, signUp as signUpAs } from './helpers/accounts.ts';
import { type CallOptions, expectError, type Reply } from './helpers/call.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import type { Body, Envelope } from './helpers/spec.ts';

const DAY_MS = 86_400_000;
const TOKEN = /^mru_[a-z0-9]{8}_[A-Za-z0-9]{38}$/;
const BARE_CHALLENGE = 'Bearer realm="mailroom"';

let server: TestServer;

beforeAll(async () => {
  // trustProxy: each request may pick its client address (X-Forwarded-For), so per-address windows only couple the
  // requests that mean to share an address.
  server = await startTestServer({ trustProxy: true });
});
afterAll(async () => {
  await server?.close();
});

/** A request from an address of its own. */
function call<T = Envelope>(method: string, path: string, options: CallOptions = {}): Promise<Reply<T>> {
  return server.call<T>(method, path, { ...options, headers: { ...fromNewAddress(), ...options.headers } });
}

/** The names of a reply's headers, sorted. */
function headerNames(reply: Reply<unknown>): string[] {
  const names: string[] = [];
  reply.headers.forEach((_value, name) => {
    names.push(name);
  });
  return names.sort();
}

/** Signs a new user up and returns their session (user, first organization, token). */
const signUp = (body: Record<string, unknown> = {}): Promise<Session> =>
  signUpAs(server, { body: { name: 'Ada Lovelace', ...body }, fromNewAddress: true });

/** The first organization of a session (the one sign-up made). */
function firstOrganization(session: Session): string {
  return (session.organizations[0] as Session['organizations'][number]).organizationId;
}

describe('the account flow, end to end', () => {
  test('sign up, create an organization, create a key with the user token, use it on /v1, log out', async () => {
    const email = newEmail('ada');
    const signedUp = await call<Body<'signUp', 201>>('POST', '/auth/signup', {
      body: { email, password: PASSWORD, name: 'Ada Lovelace' },
    });
    expect(signedUp.status).toBe(201);
    const session = signedUp.body.data;
    expect(session.user).toMatchObject({ email, name: 'Ada Lovelace' });
    expect(session.token).toMatch(TOKEN);
    expect(session.organizations).toEqual([
      expect.objectContaining({ name: "Ada Lovelace's organization", role: 'owner', plan: 'free' }),
    ]);
    expect(Date.parse(session.expiresAt) - server.now().getTime()).toBeGreaterThan(30 * DAY_MS - 60_000);
    expect(signedUp.text).not.toContain(PASSWORD);
    // Sign-up is counted against the client address, and says so.
    expect(signedUp.rate?.policy).toEqual([{ name: 'address', q: 1000, w: 60 }]);

    const user = session.token;
    const created = await call<Body<'createOrganization', 201>>('POST', '/organizations', {
      key: user,
      body: { name: 'Acme Mail' },
    });
    expect(created.status).toBe(201);
    expect(created.body.data).toMatchObject({ name: 'Acme Mail', role: 'owner', plan: 'free' });
    expect(created.rate?.binding.name).toBe('user');
    const orgId = created.body.data.organizationId;

    const key = await call<Body<'createOrganizationApiKey', 201>>('POST', `/organizations/${orgId}/api-keys`, {
      key: user,
      body: { name: 'Production API' },
    });
    expect(key.status).toBe(201);
    expect(key.body.data).toMatchObject({ name: 'Production API', organizationId: orgId, plan: 'free' });
    expect(key.body.meta.warning).toBe('This API key will only be shown once. Please store it securely.');
    const apiKey = key.body.data.apiKey;

    const validated = await call<Body<'validateApiKey', 200>>('GET', '/v1/api-keys/validate', { key: apiKey });
    expect(validated.status).toBe(200);
    expect(validated.body.data).toMatchObject({ valid: true, keyId: key.body.data.keyId, organizationId: orgId });

    const tokenOnV1 = await call('GET', '/v1/api-keys', { key: user });
    expect(expectError(tokenOnV1, 401, 'UNAUTHORIZED').message).toMatch(/^This endpoint takes an API key \(mr_...\)/);
    const keyOnOrganizations = await call('GET', '/organizations', { key: apiKey });
    expect(expectError(keyOnOrganizations, 401, 'UNAUTHORIZED').message).toMatch(
      /^This endpoint takes a user token \(mru_...\)/,
    );
    const keyInHeaderOnOrganizations = await call('GET', `/organizations/${orgId}`, {
      key: apiKey,
      scheme: 'x-api-key',
    });
    expect(expectError(keyInHeaderOnOrganizations, 401, 'UNAUTHORIZED').message).toMatch(/takes a user token/);

    const loggedOut = await call<Body<'logOut', 200>>('POST', '/auth/logout', { key: user });
    expect(loggedOut.status).toBe(200);
    expect(loggedOut.body.data).toEqual({ revoked: true });
    const after = await call('GET', '/auth/me', { key: user });
    expect(expectError(after, 401, 'UNAUTHORIZED').message).toBe(
      'The user token has been revoked (logged out): log in again',
    );
    // The key made with the token belongs to the organization, not to the session: it keeps working.
    expect((await call('GET', '/v1/api-keys/validate', { key: apiKey })).status).toBe(200);
  });
});

describe('sign-up', () => {
  test('an email that already has an account, in any case, is 409 and changes nothing', async () => {
    const first = await signUp();
    const again = await call('POST', '/auth/signup', {
      body: { email: first.user.email.toUpperCase(), password: 'another password entirely' },
    });
    expect(expectError(again, 409, 'DUPLICATE_RESOURCE').message).toBe('An account with this email already exists');
    const login = await call<Body<'logIn', 200>>('POST', '/auth/login', {
      body: { email: first.user.email, password: PASSWORD },
    });
    expect(login.status).toBe(200);
    expect(login.body.data.organizations).toHaveLength(1);
  });

  test.each([
    { name: 'a 9-character password', body: { password: '123456789' }, field: 'password' },
    { name: 'a 257-character password', body: { password: 'x'.repeat(257) }, field: 'password' },
    { name: 'an email that is not one', body: { email: 'not-an-email' }, field: 'email' },
    { name: 'an empty name', body: { name: '' }, field: 'name' },
    { name: 'an unknown field', body: { plan: 'enterprise' }, field: 'plan' },
  ])('$name is refused with 422 naming the field', async ({ body, field }) => {
    const reply = await call('POST', '/auth/signup', {
      body: { email: newEmail(), password: PASSWORD, ...body },
    });
    const error = expectError(reply, 422, 'VALIDATION_ERROR');
    expect(Object.keys(error.details ?? {})).toEqual([field]);
    expect(reply.text).not.toContain(PASSWORD);
  });

  test('a 10-character password and one of 256 characters in any script are accepted', async () => {
    await signUp({ password: '0123456789' });
    await signUp({ password: 'пароль🔑'.repeat(32) });
  });

  test('without a name, the first organization is named after the email', async () => {
    const email = `grace.hopper.${Date.now()}@example.com`;
    const session = await signUp({ email, name: undefined });
    expect(session.user.name).toBeNull();
    expect(session.organizations[0]?.name).toBe(`${email.split('@')[0]}'s organization`);
  });

  test('a 100-character name still gives a first organization name of at most 100 characters', async () => {
    const session = await signUp({ name: `${'é'.repeat(99)}🦋` });
    const name = session.organizations[0]?.name ?? '';
    expect(Array.from(name)).toHaveLength(100);
    expect(name.endsWith("'s organization")).toBe(true);
  });
});

describe('log-in', () => {
  test('the right password, with the email in any case, gets a new token; both tokens work', async () => {
    const session = await signUp();
    const reply = await call<Body<'logIn', 200>>('POST', '/auth/login', {
      body: { email: session.user.email.toUpperCase(), password: PASSWORD },
    });
    expect(reply.status).toBe(200);
    expect(reply.body.data.token).toMatch(TOKEN);
    expect(reply.body.data.token).not.toBe(session.token);
    expect(reply.body.data.user).toEqual(session.user);
    for (const token of [session.token, reply.body.data.token]) {
      const me = await call<Body<'getMe', 200>>('GET', '/auth/me', { key: token });
      expect(me.status).toBe(200);
      expect(me.body.data).toEqual({ user: session.user, organizations: session.organizations });
    }
  });

  test('an unknown email and a wrong password get the same answer', async () => {
    const session = await signUp();
    const wrong = await call('POST', '/auth/login', { body: { email: session.user.email, password: 'not it at all' } });
    const unknown = await call('POST', '/auth/login', { body: { email: newEmail('nobody'), password: PASSWORD } });
    for (const reply of [wrong, unknown]) {
      expect(expectError(reply, 401, 'UNAUTHORIZED').message).toBe('Invalid email or password');
      expect(reply.headers.get('www-authenticate')).toBe(BARE_CHALLENGE);
    }
    const shape = (reply: Reply<unknown>) => ({
      body: { ...(reply.body as object), meta: undefined },
      headers: headerNames(reply).filter((name) => !['date', 'x-request-id'].includes(name)),
      // The seconds to each window's reset are left out: the two requests may straddle a second of the clock.
      rate: reply.rate && {
        ...reply.rate,
        reset: undefined,
        binding: { ...reply.rate.binding, t: undefined },
      },
    });
    expect(shape(unknown)).toEqual(shape(wrong));
  });

  test('every log-in answer carries the address window and both windows of failed log-ins', async () => {
    const session = await signUp();
    const reply = await call('POST', '/auth/login', { body: { email: session.user.email, password: PASSWORD } });
    expect(reply.rate?.policy).toEqual([
      { name: 'address', q: 1000, w: 60 },
      { name: 'account-address', q: 5, w: 900 },
      { name: 'account', q: 10, w: 3600 },
    ]);
    // A success spends nothing of the failed-log-in windows: only failures count there.
    expect(reply.rate?.binding).toMatchObject({ name: 'account-address', r: 5 });
    const failed = await call('POST', '/auth/login', {
      body: { email: session.user.email, password: 'not it at all' },
    });
    expect(failed.rate?.binding).toMatchObject({ name: 'account-address', r: 4 });
  });
});

describe('limits of the public operations', () => {
  let limited: TestServer;
  beforeAll(async () => {
    limited = await startTestServer({
      trustProxy: true,
      accountWindows: {
        address: { name: 'address', limit: 4, windowSeconds: 60 },
        'account-address': { name: 'account-address', limit: 2, windowSeconds: 900 },
        account: { name: 'account', limit: 3, windowSeconds: 3600 },
        user: { name: 'user', limit: 3, windowSeconds: 60 },
      },
    });
  });
  afterAll(async () => {
    await limited?.close();
  });

  test('sign-ups and log-ins share the address window: the 5th from one address is 429, another address is not', async () => {
    const address = fromNewAddress();
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const path = i % 2 === 0 ? '/auth/signup' : '/auth/login';
      const reply = await limited.call('POST', path, {
        headers: address,
        body: { email: newEmail(), password: PASSWORD },
      });
      statuses.push(reply.status);
    }
    expect(statuses).toEqual([201, 401, 201, 401]);
    const fifth = await limited.call('POST', '/auth/signup', {
      headers: address,
      body: { email: newEmail(), password: PASSWORD },
    });
    expect(expectError(fifth, 429, 'RATE_LIMITED').message).toMatch(/^Too many requests from this address/);
    expect(fifth.rate).toMatchObject({ limit: 4, remaining: 0, binding: { name: 'address' } });
    const elsewhere = await limited.call('POST', '/auth/signup', {
      headers: fromNewAddress(),
      body: { email: newEmail(), password: PASSWORD },
    });
    expect(elsewhere.status).toBe(201);
  });

  test('failed log-ins from strangers’ addresses never lock the owner out of an address they signed in from', async () => {
    const home = fromNewAddress();
    const email = newEmail('target');
    const signedUp = await limited.call('POST', '/auth/signup', { headers: home, body: { email, password: PASSWORD } });
    expect(signedUp.status).toBe(201);
    for (let i = 0; i < 3; i++) {
      const reply = await limited.call('POST', '/auth/login', {
        headers: fromNewAddress(),
        body: { email, password: `guess number ${i}` },
      });
      expectError(reply, 401, 'UNAUTHORIZED');
      expect(reply.rate?.policy.map((p) => p.name)).toEqual(['address', 'account-address', 'account']);
    }
    // The account window is spent: an address that has never signed in to it is refused, the right password or not.
    const stranger = await limited.call('POST', '/auth/login', {
      headers: fromNewAddress(),
      body: { email: email.toUpperCase(), password: PASSWORD },
    });
    expect(expectError(stranger, 429, 'RATE_LIMITED').message).toMatch(/^Too many failed log-ins for this account:/);
    expect(stranger.rate?.binding.name).toBe('account');
    expect(stranger.rate?.retryAfter).toBeGreaterThan(0);
    // The owner, from the address they signed up from, is not: the account's window is not theirs.
    const owner = await limited.call<Body<'logIn', 200>>('POST', '/auth/login', {
      headers: home,
      body: { email, password: PASSWORD },
    });
    expect(owner.status, owner.text).toBe(200);
    expect(owner.rate?.policy.map((p) => p.name)).toEqual(['address', 'account-address']);
    // …and a wrong password from there counts in that address's own window only.
    const typo = await limited.call('POST', '/auth/login', { headers: home, body: { email, password: 'typo typo' } });
    expectError(typo, 401, 'UNAUTHORIZED');

    const other = newEmail('other');
    await limited.call('POST', '/auth/signup', {
      headers: fromNewAddress(),
      body: { email: other, password: PASSWORD },
    });
    const fine = await limited.call('POST', '/auth/login', {
      headers: fromNewAddress(),
      body: { email: other, password: PASSWORD },
    });
    expect(fine.status).toBe(200);
  });

  test('an address that keeps failing for one email is refused for that email only', async () => {
    const address = fromNewAddress();
    const email = newEmail('pair');
    await limited.call('POST', '/auth/signup', { headers: fromNewAddress(), body: { email, password: PASSWORD } });
    for (let i = 0; i < 2; i++) {
      const reply = await limited.call('POST', '/auth/login', {
        headers: address,
        body: { email, password: `no ${i}` },
      });
      expectError(reply, 401, 'UNAUTHORIZED');
    }
    const refused = await limited.call('POST', '/auth/login', {
      headers: address,
      body: { email, password: PASSWORD },
    });
    expect(expectError(refused, 429, 'RATE_LIMITED').message).toMatch(
      /^Too many failed log-ins for this account from this address: the account-address window of 2 is exhausted/,
    );
    const elsewhere = await limited.call('POST', '/auth/login', {
      headers: fromNewAddress(),
      body: { email, password: PASSWORD },
    });
    expect(elsewhere.status, 'the email from another address').toBe(200);
    const other = await limited.call('POST', '/auth/login', {
      headers: address,
      body: { email: newEmail('other'), password: PASSWORD },
    });
    expectError(other, 401, 'UNAUTHORIZED');
  });

  test('an email without an account is locked the same way, so locking tells nothing about registration', async () => {
    const nobody = newEmail('nobody');
    for (let i = 0; i < 3; i++) {
      const reply = await limited.call('POST', '/auth/login', {
        headers: fromNewAddress(),
        body: { email: nobody, password: PASSWORD },
      });
      expectError(reply, 401, 'UNAUTHORIZED');
    }
    const locked = await limited.call('POST', '/auth/login', {
      headers: fromNewAddress(),
      body: { email: nobody, password: PASSWORD },
    });
    expectError(locked, 429, 'RATE_LIMITED');
  });

  test('a user’s requests count in their user window, across organizations; the 4th of 3 is 429', async () => {
    const signed = await limited.call<Body<'signUp', 201>>('POST', '/auth/signup', {
      headers: fromNewAddress(),
      body: { email: newEmail(), password: PASSWORD },
    });
    const token = signed.body.data.token;
    const orgId = firstOrganization(signed.body.data);
    const replies = [
      await limited.call('GET', '/auth/me', { key: token }),
      await limited.call('GET', `/organizations/${orgId}`, { key: token }),
      await limited.call('GET', '/organizations', { key: token }),
    ];
    expect(replies.map((r) => [r.status, r.rate?.remaining])).toEqual([
      [200, 2],
      [200, 1],
      [200, 0],
    ]);
    const fourth = await limited.call('GET', `/organizations/${orgId}/api-keys`, { key: token });
    expect(expectError(fourth, 429, 'RATE_LIMITED').message).toMatch(/the user window of 3 is exhausted/);
    expect(fourth.rate?.policy).toEqual([{ name: 'user', q: 3, w: 60 }]);
  });
});

describe('user tokens', () => {
  let session: Session;
  beforeAll(async () => {
    session = await signUp();
  });

  test('no token is refused with the bare challenge, naming the credential to send', async () => {
    const reply = await call('GET', '/auth/me');
    expect(expectError(reply, 401, 'UNAUTHORIZED').message).toBe(
      'Missing user token: send Authorization: Bearer <token> from POST /auth/login or POST /auth/signup',
    );
    expect(reply.headers.get('www-authenticate')).toBe(BARE_CHALLENGE);
  });

  test.each([
    {
      name: 'a mistyped token',
      token: () => `${session.token.slice(0, -1)}${session.token.endsWith('A') ? 'B' : 'A'}`,
      message: /^Malformed user token: the checksum does not match/,
    },
    { name: 'a token of the wrong shape', token: () => 'mru_short', message: /^Malformed user token: expected mru_/ },
    {
      name: 'a well-formed token never issued',
      token: () => generateUserToken().plaintext,
      message: /^Unknown user token$/,
    },
    { name: 'an API key', token: () => generateApiKey().plaintext, message: /^This endpoint takes a user token/ },
  ])('$name is refused with invalid_token and why', async ({ token, message }) => {
    const reply = await call('GET', '/auth/me', { key: token() });
    expect(expectError(reply, 401, 'UNAUTHORIZED').message).toMatch(message);
    expect(reply.headers.get('www-authenticate')).toMatch(/^Bearer realm="mailroom", error="invalid_token"/);
    // A failed attempt is counted for the address, as for API keys.
    expect(reply.rate?.binding.name).toBe('auth-failures');
  });

  test('a user token in X-API-Key is refused as a missing token, which says the header it goes in', async () => {
    const reply = await call('GET', '/auth/me', { key: session.token, scheme: 'x-api-key' });
    expect(expectError(reply, 401, 'UNAUTHORIZED').message).toBe(
      'Missing user token: send Authorization: Bearer <token> from POST /auth/login or POST /auth/signup',
    );
  });

  test('a user token on /v1, in either header, is refused as not an API key', async () => {
    for (const scheme of ['bearer', 'x-api-key'] as const) {
      const reply = await call('GET', '/v1/health', { key: session.token, scheme });
      expect(expectError(reply, 401, 'UNAUTHORIZED').message).toBe(
        'This endpoint takes an API key (mr_...), not a user token: create a key with POST /organizations/{organizationId}/api-keys',
      );
    }
  });

  test('a token stops working 30 days after it was issued', async () => {
    const fresh = await signUp();
    expect((await call('GET', '/auth/me', { key: fresh.token })).status).toBe(200);
    server.advanceClock(30 * DAY_MS + 1000);
    try {
      const reply = await call('GET', '/auth/me', { key: fresh.token });
      expect(expectError(reply, 401, 'UNAUTHORIZED').message).toBe(
        `The user token expired at ${fresh.expiresAt}: log in again`,
      );
    } finally {
      server.advanceClock(-(30 * DAY_MS + 1000));
    }
  });

  test('logging out revokes only the calling token', async () => {
    const other = await call<Body<'logIn', 200>>('POST', '/auth/login', {
      body: { email: session.user.email, password: PASSWORD },
    });
    expect((await call('POST', '/auth/logout', { key: other.body.data.token })).status).toBe(200);
    expectError(await call('GET', '/auth/me', { key: other.body.data.token }), 401, 'UNAUTHORIZED');
    expect((await call('GET', '/auth/me', { key: session.token })).status).toBe(200);
  });
});

describe('organizations', () => {
  let owner: Session;
  let stranger: Session;
  beforeAll(async () => {
    [owner, stranger] = await Promise.all([signUp(), signUp()]);
  });

  test('lists your organizations with your role, oldest first, as /auth/me does', async () => {
    const created = await call<Body<'createOrganization', 201>>('POST', '/organizations', {
      key: owner.token,
      body: { name: 'Second' },
    });
    const list = await call<Body<'listOrganizations', 200>>('GET', '/organizations', { key: owner.token });
    expect(list.body.data.map((o) => [o.organizationId, o.role])).toEqual([
      [firstOrganization(owner), 'owner'],
      [created.body.data.organizationId, 'owner'],
    ]);
    expect(list.body.meta.total).toBe(2);
    const me = await call<Body<'getMe', 200>>('GET', '/auth/me', { key: owner.token });
    expect(me.body.data.organizations).toEqual(list.body.data);
  });

  test('another user’s organization answers exactly as one that does not exist', async () => {
    const theirs = firstOrganization(stranger);
    const nowhere = 'org_0000000000000000';
    for (const [method, suffix, body] of [
      ['GET', '', undefined],
      ['PATCH', '', { name: 'mine now' }],
      ['GET', '/api-keys', undefined],
      ['POST', '/api-keys', { name: 'sneaky' }],
      ['GET', '/api-keys/key_0000000000000000', undefined],
      ['GET', '/members', undefined],
      ['POST', '/members', { email: owner.user.email }],
      ['DELETE', `/members/${stranger.user.userId}`, undefined],
    ] as const) {
      const [existing, missing] = await Promise.all(
        [theirs, nowhere].map((id) =>
          call(method, `/organizations/${id}${suffix}`, { key: owner.token, ...(body ? { body } : {}) }),
        ),
      );
      const a = expectError(existing as Reply<unknown>, 404, 'RESOURCE_NOT_FOUND');
      const b = expectError(missing as Reply<unknown>, 404, 'RESOURCE_NOT_FOUND');
      expect(a.message.replace(theirs, 'ID')).toBe(b.message.replace(nowhere, 'ID'));
    }
    const untouched = await call<Body<'getOrganization', 200>>('GET', `/organizations/${theirs}`, {
      key: stranger.token,
    });
    expect(untouched.body.data.name).toBe("Ada Lovelace's organization");
  });

  test('an owner renames the organization', async () => {
    const orgId = firstOrganization(owner);
    const renamed = await call<Body<'renameOrganization', 200>>('PATCH', `/organizations/${orgId}`, {
      key: owner.token,
      body: { name: 'Renamed Ltd' },
    });
    expect(renamed.body.data).toMatchObject({ organizationId: orgId, name: 'Renamed Ltd', role: 'owner' });
  });
});

describe('keys under a user token: one implementation with /v1/api-keys', () => {
  let session: Session;
  let orgId: string;
  beforeAll(async () => {
    session = await signUp();
    orgId = firstOrganization(session);
  });

  test('a key made either way is listed, read, renamed and revoked either way', async () => {
    const viaUser = await call<Body<'createOrganizationApiKey', 201>>('POST', `/organizations/${orgId}/api-keys`, {
      key: session.token,
      body: { name: 'via user', rateLimit: 50, expirationDays: 7, access: 'read_only' },
    });
    expect(viaUser.body.data.apiKey).toMatch(/^mr_[a-z0-9]{8}_[A-Za-z0-9]{38}$/);
    const full = await call<Body<'createOrganizationApiKey', 201>>('POST', `/organizations/${orgId}/api-keys`, {
      key: session.token,
      body: { name: 'full' },
    });
    const viaKey = await call<Body<'createApiKey', 201>>('POST', '/v1/api-keys', {
      key: full.body.data.apiKey,
      body: { name: 'via key' },
    });
    const fromUser = await call<Body<'listOrganizationApiKeys', 200>>('GET', `/organizations/${orgId}/api-keys`, {
      key: session.token,
    });
    const fromKey = await call<Body<'listApiKeys', 200>>('GET', '/v1/api-keys', { key: viaKey.body.data.apiKey });
    // The same objects either way; only lastUsed (and where from) moves, as the listing key itself was just used.
    const withoutLastUsed = (body: typeof fromKey.body) =>
      body.data.map(({ lastUsed: _, lastUsedFrom: _from, ...key }) => key);
    expect(withoutLastUsed(fromUser.body)).toEqual(withoutLastUsed(fromKey.body));
    expect(fromUser.body.meta).toEqual(fromKey.body.meta);
    expect(fromUser.body.data.map((k) => k.name)).toEqual(['via user', 'full', 'via key']);
    expect(fromUser.body.data[0]).toMatchObject({ rateLimit: 50, access: 'read_only', plan: 'free' });

    const one = await call<Body<'getOrganizationApiKey', 200>>(
      'GET',
      `/organizations/${orgId}/api-keys/${viaKey.body.data.keyId}`,
      { key: session.token },
    );
    expect(one.body.data.name).toBe('via key');
    const renamed = await call<Body<'renameOrganizationApiKey', 200>>(
      'PATCH',
      `/organizations/${orgId}/api-keys/${viaKey.body.data.keyId}`,
      { key: session.token, body: { name: 'renamed by a person' } },
    );
    expect(renamed.body.data.name).toBe('renamed by a person');
    expect(
      (await call<Body<'validateApiKey', 200>>('GET', '/v1/api-keys/validate', { key: viaKey.body.data.apiKey })).body
        .data.name,
    ).toBe('renamed by a person');

    const revoked = await call<Body<'revokeOrganizationApiKey', 200>>(
      'DELETE',
      `/organizations/${orgId}/api-keys/${viaKey.body.data.keyId}`,
      { key: session.token },
    );
    expect(revoked.body.data).toEqual({ keyId: viaKey.body.data.keyId, revoked: true });
    const refused = await call('GET', '/v1/api-keys/validate', { key: viaKey.body.data.apiKey });
    expect(expectError(refused, 401, 'UNAUTHORIZED').message).toBe('The API key has been revoked');
    expectError(
      await call('DELETE', `/organizations/${orgId}/api-keys/${viaKey.body.data.keyId}`, { key: session.token }),
      404,
      'RESOURCE_NOT_FOUND',
    );
  });

  test('a member rotates a key with a user token: the old key keeps working with Deprecation, the new one inherits it', async () => {
    const created = await call<Body<'createOrganizationApiKey', 201>>('POST', `/organizations/${orgId}/api-keys`, {
      key: session.token,
      body: { name: 'to roll', rateLimit: 40, access: 'read_only', expirationDays: 30 },
    });
    const path = `/organizations/${orgId}/api-keys/${created.body.data.keyId}/rotate`;
    const rotated = await call<Body<'rotateOrganizationApiKey', 201>>('POST', path, {
      key: session.token,
      body: { gracePeriodMinutes: 30 },
    });
    expect(rotated.status, rotated.text).toBe(201);
    expect(rotated.body.data).toMatchObject({
      name: 'to roll',
      rateLimit: 40,
      access: 'read_only',
      organizationId: orgId,
    });
    expect(rotated.body.data.apiKey).not.toBe(created.body.data.apiKey);
    expect(rotated.body.meta.warning).toBe('This API key will only be shown once. Please store it securely.');
    const old = await call('GET', '/v1/api-keys/validate', { key: created.body.data.apiKey });
    expect(old.status).toBe(200);
    expect(old.headers.get('deprecation')).toMatch(/^@\d+$/);
    // Sunset is an HTTP date, to the second.
    const graceEnds = Date.parse(rotated.body.data.previousKey.expirationTs ?? '');
    expect(Date.parse(old.headers.get('sunset') ?? '')).toBe(Math.floor(graceEnds / 1000) * 1000);
    const current = await call('GET', '/v1/api-keys/validate', { key: rotated.body.data.apiKey });
    expect(current.status).toBe(200);
    expect(current.headers.get('deprecation')).toBeNull();
    expectError(await call('POST', path, { key: session.token }), 409, 'KEY_ALREADY_ROTATED');
  });

  test('a key of another organization of the same user is 404 under this one', async () => {
    const other = await call<Body<'createOrganization', 201>>('POST', '/organizations', {
      key: session.token,
      body: { name: 'Other' },
    });
    const key = await call<Body<'createOrganizationApiKey', 201>>(
      'POST',
      `/organizations/${other.body.data.organizationId}/api-keys`,
      { key: session.token, body: { name: 'elsewhere' } },
    );
    const reply = await call('GET', `/organizations/${orgId}/api-keys/${key.body.data.keyId}`, { key: session.token });
    expect(expectError(reply, 404, 'RESOURCE_NOT_FOUND').message).toBe(
      `No API key ${key.body.data.keyId} in this organization`,
    );
  });
});

describe('members and roles', () => {
  let owner: Session;
  let member: Session;
  let orgId: string;
  beforeAll(async () => {
    [owner, member] = await Promise.all([signUp(), signUp()]);
    orgId = firstOrganization(owner);
  });

  test('an owner adds someone who signed up, by email; the new member sees the organization', async () => {
    const added = await call<Body<'addMember', 201>>('POST', `/organizations/${orgId}/members`, {
      key: owner.token,
      body: { email: member.user.email.toUpperCase() },
    });
    expect(added.status).toBe(201);
    expect(added.body.data).toMatchObject({ userId: member.user.userId, email: member.user.email, role: 'member' });
    const seen = await call<Body<'listOrganizations', 200>>('GET', '/organizations', { key: member.token });
    expect(seen.body.data).toContainEqual(expect.objectContaining({ organizationId: orgId, role: 'member' }));
    const members = await call<Body<'listMembers', 200>>('GET', `/organizations/${orgId}/members`, {
      key: member.token,
    });
    expect(members.body.data.map((m) => [m.userId, m.role])).toEqual([
      [owner.user.userId, 'owner'],
      [member.user.userId, 'member'],
    ]);
    expect(members.body.meta.total).toBe(2);
  });

  test('adding someone twice is 409; an email without an account is 404', async () => {
    const twice = await call('POST', `/organizations/${orgId}/members`, {
      key: owner.token,
      body: { email: member.user.email },
    });
    expectError(twice, 409, 'DUPLICATE_RESOURCE');
    const nobody = newEmail('nobody');
    const missing = await call('POST', `/organizations/${orgId}/members`, {
      key: owner.token,
      body: { email: nobody },
    });
    expect(expectError(missing, 404, 'RESOURCE_NOT_FOUND').message).toBe(
      `No account with email ${nobody}: ask them to sign up first`,
    );
  });

  test('a member manages keys but not the organization or its members', async () => {
    const key = await call('POST', `/organizations/${orgId}/api-keys`, { key: member.token, body: { name: 'mine' } });
    expect(key.status).toBe(201);
    for (const [method, path, body] of [
      ['PATCH', `/organizations/${orgId}`, { name: 'taken over' }],
      ['POST', `/organizations/${orgId}/members`, { email: owner.user.email }],
      ['PATCH', `/organizations/${orgId}/members/${member.user.userId}`, { role: 'owner' }],
    ] as const) {
      const reply = await call(method, path, { key: member.token, body });
      expect(expectError(reply, 403, 'FORBIDDEN').message).toBe(
        'Only an owner of this organization can do this; your role is member',
      );
    }
    const removeOwner = await call('DELETE', `/organizations/${orgId}/members/${owner.user.userId}`, {
      key: member.token,
    });
    expect(expectError(removeOwner, 403, 'FORBIDDEN').message).toBe(
      'Only an owner can remove another member; you may remove yourself',
    );
  });

  test('the last owner can be neither demoted nor removed; with a second owner both work', async () => {
    const demote = await call('PATCH', `/organizations/${orgId}/members/${owner.user.userId}`, {
      key: owner.token,
      body: { role: 'member' },
    });
    expectError(demote, 409, 'LAST_OWNER');
    expectError(
      await call('DELETE', `/organizations/${orgId}/members/${owner.user.userId}`, { key: owner.token }),
      409,
      'LAST_OWNER',
    );
    const promoted = await call<Body<'updateMember', 200>>(
      'PATCH',
      `/organizations/${orgId}/members/${member.user.userId}`,
      { key: owner.token, body: { role: 'owner' } },
    );
    expect(promoted.body.data.role).toBe('owner');
    const left = await call<Body<'removeMember', 200>>(
      'DELETE',
      `/organizations/${orgId}/members/${owner.user.userId}`,
      { key: owner.token },
    );
    expect(left.body.data).toEqual({ userId: owner.user.userId, removed: true });
    // Gone: the organization is no longer among the former owner's.
    expectError(await call('GET', `/organizations/${orgId}`, { key: owner.token }), 404, 'RESOURCE_NOT_FOUND');
    expectError(
      await call('PATCH', `/organizations/${orgId}/members/${owner.user.userId}`, {
        key: member.token,
        body: { role: 'owner' },
      }),
      404,
      'RESOURCE_NOT_FOUND',
    );
  });

  test('a member may leave on their own', async () => {
    const [boss, helper] = await Promise.all([signUp(), signUp()]);
    const id = firstOrganization(boss);
    await call('POST', `/organizations/${id}/members`, { key: boss.token, body: { email: helper.user.email } });
    const left = await call('DELETE', `/organizations/${id}/members/${helper.user.userId}`, { key: helper.token });
    expect(left.status).toBe(200);
    expectError(await call('GET', `/organizations/${id}`, { key: helper.token }), 404, 'RESOURCE_NOT_FOUND');
  });
});
