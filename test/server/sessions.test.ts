import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MAX_SESSIONS } from '../../src/keys/issue.ts';
import { fromNewAddress, newEmail, PASSWORD, type Session, signUp } from './helpers/accounts.ts';
import { type CallOptions, expectError, type Reply } from './helpers/call.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import type { Body, Envelope } from './helpers/spec.ts';

// Sessions you can see and end, and a password change that keeps yours and ends the others.

const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const LOGGED_OUT = 'The user token has been revoked (logged out): log in again';
const COMMON = 'is too common: it is on the list of passwords attackers try first; choose another';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ trustProxy: true, lastUsedFlushMs: 60_000 });
});
afterAll(async () => {
  await server?.close();
});

type SessionList = Body<'listSessions', 200>;

/** A request from `address` (a new one unless given). */
function call<T = Envelope>(method: string, path: string, options: CallOptions = {}): Promise<Reply<T>> {
  return server.call<T>(method, path, { ...options, headers: { ...fromNewAddress(), ...options.headers } });
}

/** A log-in of `email` from `headers`' address and user agent: the new session. */
async function logIn(email: string, headers: Record<string, string> = {}, password = PASSWORD) {
  const reply = await call<Body<'logIn', 200>>('POST', '/auth/login', { headers, body: { email, password } });
  expect(reply.status, reply.text).toBe(200);
  return reply.body.data;
}

const listSessions = (token: string, headers: Record<string, string> = {}) =>
  call<SessionList>('GET', '/auth/sessions', { key: token, headers });

describe('listing sessions', () => {
  test('each session shows where it was made and last used, and which one is calling', async () => {
    const home = { 'x-forwarded-for': '203.0.113.10', 'user-agent': FIREFOX };
    const phone = { 'x-forwarded-for': '198.51.100.20', 'user-agent': 'MailroomPhone/2.1 (iOS 18)' };
    const session = await signUp(server, { fromNewAddress: true });
    const laptop = await logIn(session.user.email, home);
    const mobile = await logIn(session.user.email, phone);
    // The laptop is used from a café: its last use (not its creation) moves there.
    const cafe = { 'x-forwarded-for': '192.0.2.30', 'user-agent': `${FIREFOX} (café)` };
    expect((await call('GET', '/auth/me', { key: laptop.token, headers: cafe })).status).toBe(200);

    const list = await listSessions(mobile.token, phone);
    expect(list.status, list.text).toBe(200);
    expect(list.body.meta.total).toBe(3);
    const byId = new Map(list.body.data.map((s) => [s.sessionId, s]));
    expect([...byId.keys()]).toEqual([mobile.sessionId, laptop.sessionId, session.sessionId]);
    expect(byId.get(mobile.sessionId)).toMatchObject({
      current: true,
      createdFrom: { address: '198.51.100.20', userAgent: 'MailroomPhone/2.1 (iOS 18)' },
      lastUsedFrom: { address: '198.51.100.20', userAgent: 'MailroomPhone/2.1 (iOS 18)' },
      expiresAt: mobile.expiresAt,
    });
    expect(byId.get(laptop.sessionId)).toMatchObject({
      current: false,
      createdFrom: { address: '203.0.113.10', userAgent: FIREFOX },
      lastUsedFrom: { address: '192.0.2.30', userAgent: `${FIREFOX} (café)` },
    });
    expect(byId.get(session.sessionId)).toMatchObject({ current: false, lastUsedAt: null, lastUsedFrom: null });
    // No token, and nothing that would let anyone rebuild one, is ever listed.
    expect(list.text).not.toContain('mru_');
    expect(list.text).not.toContain(laptop.token.split('_')[1]);
  });

  test('last use is written in batches, one statement a flush, and survives into the store', async () => {
    const session = await signUp(server, { fromNewAddress: true });
    const address = { 'x-forwarded-for': '192.0.2.77', 'user-agent': 'curl/8.5.0' };
    for (let i = 0; i < 5; i++) {
      await call('GET', '/auth/me', { key: session.token, headers: address });
    }
    const [before] = await server.handle.store.listUserSessions(session.user.userId, server.now());
    expect(before?.lastUsedAt, 'nothing written per request').toBeNull();
    await server.handle.context.sessionUse.flush();
    const [after] = await server.handle.store.listUserSessions(session.user.userId, server.now());
    expect(after?.lastUsedFrom).toEqual({ address: '192.0.2.77', userAgent: 'curl/8.5.0' });
  });

  test('a user agent with control characters or past 256 characters is stored cleaned and cut', async () => {
    const session = await signUp(server, { fromNewAddress: true });
    const agent = `Agent\t${'x'.repeat(300)}`;
    const list = await listSessions(session.token, { 'user-agent': agent });
    const current = list.body.data.find((s) => s.current);
    expect(current?.lastUsedFrom?.userAgent).toBe(`Agent${'x'.repeat(251)}`);
  });
});

describe('ending sessions', () => {
  let user: Session;
  beforeAll(async () => {
    user = await signUp(server, { fromNewAddress: true });
  });

  test('an ended session is refused at once and listed no more; the caller’s own keeps working', async () => {
    const other = await logIn(user.user.email);
    expect((await call('GET', '/auth/me', { key: other.token })).status).toBe(200);
    const ended = await call<Body<'endSession', 200>>('DELETE', `/auth/sessions/${other.sessionId}`, {
      key: user.token,
    });
    expect(ended.status, ended.text).toBe(200);
    expect(ended.body.data).toEqual({ sessionId: other.sessionId, revoked: true, current: false });
    expect(expectError(await call('GET', '/auth/me', { key: other.token }), 401, 'UNAUTHORIZED').message).toBe(
      LOGGED_OUT,
    );
    const ids = (await listSessions(user.token)).body.data.map((s) => s.sessionId);
    expect(ids).not.toContain(other.sessionId);
    expect(ids).toContain(user.sessionId);
  });

  test('an unknown session id, another user’s, and one already ended are all the same 404', async () => {
    const stranger = await signUp(server, { fromNewAddress: true });
    const mine = await logIn(user.user.email);
    await call('DELETE', `/auth/sessions/${mine.sessionId}`, { key: user.token });
    for (const sessionId of ['tok_0000000000000000', stranger.sessionId, mine.sessionId, 'not-a-session']) {
      const reply = await call('DELETE', `/auth/sessions/${sessionId}`, { key: user.token });
      expect(expectError(reply, 404, 'RESOURCE_NOT_FOUND').message).toBe(`No session ${sessionId} among yours`);
    }
    // The stranger's session was not touched.
    expect((await call('GET', '/auth/me', { key: stranger.token })).status).toBe(200);
  });

  test('ending the session you call with is a log-out', async () => {
    const own = await logIn(user.user.email);
    const reply = await call<Body<'endSession', 200>>('DELETE', `/auth/sessions/${own.sessionId}`, { key: own.token });
    expect(reply.body.data).toEqual({ sessionId: own.sessionId, revoked: true, current: true });
    expect(expectError(await call('GET', '/auth/me', { key: own.token }), 401, 'UNAUTHORIZED').message).toBe(
      LOGGED_OUT,
    );
    expect(expectError(await call('POST', '/auth/logout', { key: own.token }), 401, 'UNAUTHORIZED').message).toBe(
      LOGGED_OUT,
    );
  });

  test('ending the others keeps the caller’s session only', async () => {
    const person = await signUp(server, { fromNewAddress: true });
    const others = [await logIn(person.user.email), await logIn(person.user.email)];
    const reply = await call<Body<'endOtherSessions', 200>>('POST', '/auth/sessions/revoke-others', {
      key: person.token,
    });
    expect(reply.body.data).toEqual({ revokedCount: 2 });
    for (const other of others) {
      expectError(await call('GET', '/auth/me', { key: other.token }), 401, 'UNAUTHORIZED');
    }
    const list = await listSessions(person.token);
    expect(list.body.data.map((s) => s.sessionId)).toEqual([person.sessionId]);
    const again = await call<Body<'endOtherSessions', 200>>('POST', '/auth/sessions/revoke-others', {
      key: person.token,
    });
    expect(again.body.data).toEqual({ revokedCount: 0 });
  });

  test(`signing in past ${MAX_SESSIONS} sessions ends the oldest`, async () => {
    const person = await signUp(server, { fromNewAddress: true });
    for (let i = 1; i < MAX_SESSIONS; i++) {
      await logIn(person.user.email);
      server.advanceClock(1);
    }
    expect((await call('GET', '/auth/me', { key: person.token })).status).toBe(200);
    const newest = await logIn(person.user.email);
    expectError(await call('GET', '/auth/me', { key: person.token }), 401, 'UNAUTHORIZED');
    const list = await listSessions(newest.token);
    expect(list.body.meta.total).toBe(MAX_SESSIONS);
    expect(list.body.data[0]?.sessionId).toBe(newest.sessionId);
  });
});

describe('changing the password', () => {
  const change = (token: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    call<Body<'changePassword', 200>>('POST', '/auth/password', { key: token, body, headers });

  test('keeps the calling session, ends the others, and only the new password logs in', async () => {
    const person = await signUp(server, { fromNewAddress: true });
    const other = await logIn(person.user.email);
    const reply = await change(person.token, { currentPassword: PASSWORD, newPassword: 'a much better passphrase' });
    expect(reply.status, reply.text).toBe(200);
    expect(reply.body.data).toEqual({ passwordChanged: true, revokedCount: 1 });
    expect((await call('GET', '/auth/me', { key: person.token })).status).toBe(200);
    expectError(await call('GET', '/auth/me', { key: other.token }), 401, 'UNAUTHORIZED');
    const old = await call('POST', '/auth/login', { body: { email: person.user.email, password: PASSWORD } });
    expectError(old, 401, 'UNAUTHORIZED');
    await logIn(person.user.email, {}, 'a much better passphrase');
  });

  test('a wrong current password is a 422 that counts as a failed log-in, and the sixth try is not made', async () => {
    const person = await signUp(server, { fromNewAddress: true });
    const address = fromNewAddress();
    const remaining: number[] = [];
    for (let i = 0; i < 5; i++) {
      const reply = await change(
        person.token,
        { currentPassword: `wrong ${i} guess`, newPassword: 'new pass phrase' },
        address,
      );
      expect(expectError(reply, 422, 'VALIDATION_ERROR').details).toEqual({
        currentPassword: ['is not your current password'],
      });
      remaining.push(reply.rate?.remaining ?? -1);
    }
    expect(remaining).toEqual([4, 3, 2, 1, 0]);
    const sixth = await change(person.token, { currentPassword: PASSWORD, newPassword: 'new pass phrase' }, address);
    expect(expectError(sixth, 429, 'RATE_LIMITED').message).toMatch(
      /^Too many failed log-ins for this account from this address/,
    );
    // The same counts as a log-in's: that email from that address is refused there too.
    const login = await call('POST', '/auth/login', {
      headers: address,
      body: { email: person.user.email, password: PASSWORD },
    });
    expectError(login, 429, 'RATE_LIMITED');
  });

  test('a new password equal to the current one, a common one or the email is 422 naming newPassword', async () => {
    const person = await signUp(server, { fromNewAddress: true });
    const cases: [string, string][] = [
      [PASSWORD, 'must differ from your current password'],
      ['Password123', COMMON],
      ['QWERTYUIOP', COMMON],
      [person.user.email.toUpperCase(), 'must not be your email address'],
    ];
    for (const [newPassword, message] of cases) {
      const reply = await change(person.token, { currentPassword: PASSWORD, newPassword });
      expect(expectError(reply, 422, 'VALIDATION_ERROR').details, newPassword).toEqual({ newPassword: [message] });
    }
    // Nothing changed: the password still logs in, and the session is the only one changed nothing.
    await logIn(person.user.email);
  });
});

describe('weak passwords at sign-up', () => {
  test.each([
    ['on the common-password list', 'basketball'],
    ['on the list in another case', 'Password123'],
    ['on the list in full-width letters (NFKC)', 'ｑｗｅｒｔｙｕｉｏｐ'],
  ])('a password %s is refused with 422 naming the field, and no account is made', async (_why, password) => {
    const email = newEmail('weak');
    const reply = await call('POST', '/auth/signup', { body: { email, password } });
    expect(expectError(reply, 422, 'VALIDATION_ERROR').details).toEqual({ password: [COMMON] });
    expect(await server.handle.store.findUserByEmail(email)).toBeNull();
  });

  test('a password that is the email, or its local part, is refused', async () => {
    const email = newEmail('longlocalpart');
    for (const password of [email, email.slice(0, email.indexOf('@'))]) {
      const reply = await call('POST', '/auth/signup', { body: { email, password } });
      expect(expectError(reply, 422, 'VALIDATION_ERROR').details).toEqual({
        password: ['must not be your email address'],
      });
    }
  });

  test('an uncommon password is accepted', async () => {
    const reply = await call('POST', '/auth/signup', {
      body: { email: newEmail(), password: 'basketball in the rain' },
    });
    expect(reply.status).toBe(201);
  });
});
