import { beforeAll, describe, expect, it } from 'vitest';
import type { ServerHandle } from '../../src/server/index.ts';
import { api, note } from './helpers/api.ts';
import { type Cluster, scaleSuite, TINY_LIMIT } from './helpers/cluster.ts';
import type { Relay } from './helpers/relay.ts';

const suite = scaleSuite();

describe('two instances sharing one PostgreSQL schema and one Redis', () => {
  let cluster: Cluster;
  let a: ServerHandle;
  let b: ServerHandle;

  beforeAll(async () => {
    cluster = await suite.startCluster({ instances: 2 });
    [a, b] = cluster.servers as [ServerHandle, ServerHandle];
  });

  it('reports PostgreSQL and Redis, both up, in /v1/health', async () => {
    const { plaintext, organizationId } = await cluster.newKey('roomy');
    for (const server of [a, b]) {
      const res = await api(server, '/v1/health', { key: plaintext });
      expect(res.status).toBe(200);
      expect(res.body.data).toMatchObject({
        status: 'ok',
        organizationId,
        stores: { database: { kind: 'postgres', status: 'up' }, rateLimiter: { kind: 'redis', status: 'up' } },
      });
    }
  });

  it('admits exactly L of 3L concurrent requests spread over both instances', async () => {
    // Each instance builds a path's request validator on its first request there: done before the burst, so no
    // instance stalls on it mid-burst past the Redis command timeout (500 ms), where fail-open would answer from its
    // own insurance count instead of the shared one.
    const warm = await cluster.newKey('roomy', 'warm-up');
    for (const instance of [a, b]) {
      expect((await api(instance, '/v1/contacts', { key: warm.plaintext })).status).toBe(200);
    }
    const onA = await cluster.newKey('tiny', 'key used on A');
    // Same organization, another key: the plan's pool is per organization, not per key or instance.
    const onB = await cluster.newKey('tiny', 'key used on B', onA.organization);
    expect(onB.organizationId).toBe(onA.organizationId);

    const responses = await Promise.all(
      Array.from({ length: 3 * TINY_LIMIT }, (_, i) =>
        i % 2 === 0 ? api(a, '/v1/contacts', { key: onA.plaintext }) : api(b, '/v1/contacts', { key: onB.plaintext }),
      ),
    );

    const admitted = responses.filter((r) => r.status === 200);
    const refused = responses.filter((r) => r.status === 429);
    const admittedBy = (parity: number) => responses.filter((r, i) => i % 2 === parity && r.status === 200).length;
    note(
      `${responses.length} requests over 2 instances, L=${TINY_LIMIT}: ${admitted.length} admitted (A ${admittedBy(0)}, B ${admittedBy(1)}), ${refused.length} refused`,
    );
    expect({ admitted: admitted.length, refused: refused.length }).toEqual({
      admitted: TINY_LIMIT,
      refused: 2 * TINY_LIMIT,
    });
    // Each admitted request took its own unit of one shared counter: remaining counts down L-1 ... 0 exactly once.
    const remaining = admitted.map((r) => Number(r.headers.get('x-ratelimit-remaining'))).sort((x, y) => x - y);
    expect(remaining).toEqual(Array.from({ length: TINY_LIMIT }, (_, i) => i));
    for (const r of refused) {
      expect(r.body).toMatchObject({ success: false, error: { code: 'RATE_LIMITED' } });
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(r.headers.get('x-ratelimit-remaining')).toBe('0');
    }
  });

  it("refuses a key revoked through instance A on instance B's very next request", async () => {
    const admin = await cluster.newKey('roomy', 'admin');
    const created = await api(a, '/v1/api-keys', { key: admin.plaintext, method: 'POST', body: { name: 'doomed' } });
    expect(created.status).toBe(201);
    const { apiKey, keyId } = created.body.data as { apiKey: string; keyId: string };

    // B looks the key up once and caches it (for 10 minutes: keyCacheTtlMs).
    expect((await api(b, '/v1/api-keys/validate', { key: apiKey })).status).toBe(200);
    expect((await api(b, '/v1/api-keys/validate', { key: apiKey })).status).toBe(200);

    const revoked = await api(a, `/v1/api-keys/${keyId}`, { key: admin.plaintext, method: 'DELETE' });
    expect(revoked.status).toBe(200);

    const next = await api(b, '/v1/api-keys/validate', { key: apiKey });
    expect(next.status).toBe(401);
    expect(next.body).toMatchObject({
      success: false,
      error: { code: 'UNAUTHORIZED', message: 'The API key has been revoked' },
    });
  });

  it("refuses a revoked key on the other instance's very next request every time, 50 revocations in both directions", async () => {
    const admin = await cluster.newKey('roomy', 'admin');
    const stale: string[] = [];
    for (let round = 0; round < 50; round++) {
      const { plaintext, keyId } = await cluster.newKey('roomy', `round ${round}`, admin.organization);
      const [revoker, other, direction] = round % 2 === 0 ? [a, b, 'A->B'] : [b, a, 'B->A'];
      expect((await api(other, '/v1/api-keys/validate', { key: plaintext })).status).toBe(200);
      const revoked = await api(revoker, `/v1/api-keys/${keyId}`, { key: admin.plaintext, method: 'DELETE' });
      expect(revoked.status).toBe(200);
      const next = await api(other, '/v1/api-keys/validate', { key: plaintext });
      if (next.status !== 401) {
        stale.push(`round ${round} ${direction}: ${next.status}`);
      }
    }
    expect(stale).toEqual([]);
  });

  it('shows a key renamed through instance A on instance B at once, cached record included', async () => {
    const admin = await cluster.newKey('roomy', 'admin');
    const target = await cluster.newKey('roomy', 'old name', admin.organization);
    // B caches the key record by using it; validate answers from that cached record.
    const before = await api(b, '/v1/api-keys/validate', { key: target.plaintext });
    expect(before.body.data.name).toBe('old name');

    const renamed = await api(a, `/v1/api-keys/${target.keyId}`, {
      key: admin.plaintext,
      method: 'PATCH',
      body: { name: 'new name' },
    });
    expect(renamed.status).toBe(200);

    const fetched = await api(b, `/v1/api-keys/${target.keyId}`, { key: admin.plaintext });
    expect(fetched.status).toBe(200);
    expect(fetched.body.data.name).toBe('new name');
    const validated = await api(b, '/v1/api-keys/validate', { key: target.plaintext });
    expect(validated.status).toBe(200);
    expect(validated.body.data.name).toBe('new name');
  });
});

describe('an instance with a slow link to PostgreSQL', () => {
  it('refuses a key revoked through the other instance on its very next request', async () => {
    // A talks to PostgreSQL directly, B through a relay: a slow link delays B's NOTIFY, not B's cached-key requests.
    const cluster = await suite.startCluster({ instances: 2, relayPostgres: [1] });
    const [a, b] = cluster.servers as [ServerHandle, ServerHandle];
    const relay = cluster.pgRelay as Relay;
    const admin = await cluster.newKey('roomy', 'admin');
    const target = await cluster.newKey('roomy', 'doomed', admin.organization);
    expect((await api(b, '/v1/api-keys/validate', { key: target.plaintext })).status).toBe(200);

    relay.setLatency(300);
    try {
      const revoked = await api(a, `/v1/api-keys/${target.keyId}`, { key: admin.plaintext, method: 'DELETE' });
      expect(revoked.status).toBe(200);

      const next = await api(b, '/v1/api-keys/validate', { key: target.plaintext });
      expect(next.status).toBe(401);
      expect(next.body.error?.message).toBe('The API key has been revoked');
    } finally {
      relay.setLatency(0);
    }
  });
});
