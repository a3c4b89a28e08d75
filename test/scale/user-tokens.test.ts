import { beforeAll, describe, expect, it } from 'vitest';
import { LOWER_ALNUM, randomString } from '../../src/lib/ids.ts';
import type { ServerHandle } from '../../src/server/index.ts';
import { api, note } from './helpers/api.ts';
import { type Cluster, scaleSuite } from './helpers/cluster.ts';

const suite = scaleSuite();
const PASSWORD = 'correct horse battery staple';

const newEmail = () => `scale-${randomString(10, LOWER_ALNUM)}@example.com`;

describe('user tokens on two instances sharing one PostgreSQL schema and one Redis', () => {
  let cluster: Cluster;
  let a: ServerHandle;
  let b: ServerHandle;

  beforeAll(async () => {
    cluster = await suite.startCluster({ instances: 2 });
    [a, b] = cluster.servers as [ServerHandle, ServerHandle];
  });

  it("refuses a token logged out on one instance on the other instance's very next request, 10 times each way", async () => {
    const email = newEmail();
    const signedUp = await api(a, '/auth/signup', { method: 'POST', body: { email, password: PASSWORD } });
    expect(signedUp.status).toBe(201);
    const stale: string[] = [];
    for (let round = 0; round < 20; round++) {
      const [issuer, other, direction] = round % 2 === 0 ? [a, b, 'A->B'] : [b, a, 'B->A'];
      const login = await api(other, '/auth/login', { method: 'POST', body: { email, password: PASSWORD } });
      expect(login.status).toBe(200);
      const token = login.body.data.token as string;
      // The other instance looks the token up once and caches it (for 10 minutes: keyCacheTtlMs).
      expect((await api(other, '/auth/me', { key: token })).status).toBe(200);
      const out = await api(issuer, '/auth/logout', { key: token, method: 'POST' });
      expect(out.status).toBe(200);
      const next = await api(other, '/auth/me', { key: token });
      if (
        next.status !== 401 ||
        next.body.error?.message !== 'The user token has been revoked (logged out): log in again'
      ) {
        stale.push(`round ${round} ${direction}: ${next.status}`);
      }
    }
    expect(stale).toEqual([]);
  });

  it('a key created with a user token on A works on B, and revoked under the organization on B it fails on A', async () => {
    const signedUp = await api(a, '/auth/signup', { method: 'POST', body: { email: newEmail(), password: PASSWORD } });
    const token = signedUp.body.data.token as string;
    const organizationId = signedUp.body.data.organizations[0].organizationId as string;
    const created = await api(a, `/organizations/${organizationId}/api-keys`, {
      key: token,
      method: 'POST',
      body: { name: 'made by a person' },
    });
    expect(created.status).toBe(201);
    const { apiKey, keyId } = created.body.data as { apiKey: string; keyId: string };
    expect((await api(b, '/v1/api-keys/validate', { key: apiKey })).body.data.organizationId).toBe(organizationId);
    expect((await api(a, '/v1/api-keys/validate', { key: apiKey })).status).toBe(200);

    const revoked = await api(b, `/organizations/${organizationId}/api-keys/${keyId}`, {
      key: token,
      method: 'DELETE',
    });
    expect(revoked.status).toBe(200);
    const next = await api(a, '/v1/api-keys/validate', { key: apiKey });
    expect(next.status).toBe(401);
    expect(next.body.error?.message).toBe('The API key has been revoked');
  });

  it('counts failed log-ins of one account from one address across both instances: the 6th is refused on either', async () => {
    const email = newEmail();
    await api(a, '/auth/signup', { method: 'POST', body: { email, password: PASSWORD } });
    const remaining: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await api(i % 2 === 0 ? a : b, '/auth/login', {
        method: 'POST',
        body: { email, password: `wrong guess ${i}` },
      });
      expect(res.status).toBe(401);
      remaining.push(Number(res.headers.get('x-ratelimit-remaining')));
    }
    note(`account-address window remaining after each failed log-in, alternating instances: ${remaining.join(' ')}`);
    expect(remaining).toEqual([4, 3, 2, 1, 0]);
    for (const server of [a, b]) {
      const locked = await api(server, '/auth/login', { method: 'POST', body: { email, password: PASSWORD } });
      expect(locked.status).toBe(429);
      expect(locked.headers.get('ratelimit')).toMatch(/^"account-address";r=0;/);
    }
  });

  it('a session ended on one instance, or by a password change there, is refused on the other at once', async () => {
    const email = newEmail();
    const signedUp = await api(a, '/auth/signup', { method: 'POST', body: { email, password: PASSWORD } });
    const current = signedUp.body.data.token as string;
    const logIn = async () =>
      (await api(b, '/auth/login', { method: 'POST', body: { email, password: PASSWORD } })).body.data;
    const ended = await logIn();
    const others = [await logIn(), await logIn()];
    // B looks each token up once and caches it.
    for (const token of [ended.token, ...others.map((o) => o.token)]) {
      expect((await api(b, '/auth/me', { key: token })).status).toBe(200);
    }
    const end = await api(a, `/auth/sessions/${ended.sessionId}`, { key: current, method: 'DELETE' });
    expect(end.status).toBe(200);
    expect((await api(b, '/auth/me', { key: ended.token })).status).toBe(401);

    const changed = await api(a, '/auth/password', {
      key: current,
      method: 'POST',
      body: { currentPassword: PASSWORD, newPassword: 'another long passphrase' },
    });
    expect(changed.body.data).toEqual({ passwordChanged: true, revokedCount: 2 });
    for (const other of others) {
      const next = await api(b, '/auth/me', { key: other.token });
      expect(next.body.error?.message).toBe('The user token has been revoked (logged out): log in again');
    }
    expect((await api(b, '/auth/me', { key: current })).status).toBe(200);
    const sessions = await api(b, '/auth/sessions', { key: current });
    expect(sessions.body.data.map((s: { current: boolean }) => s.current)).toEqual([true]);
  });
});
