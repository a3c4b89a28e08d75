import { describe, expect, it } from 'vitest';
import type { ServerHandle } from '../../src/server/index.ts';
import { type ApiResponse, api, missingRateLimitHeaders, note, pollUntil, slowest } from './helpers/api.ts';
import { scaleSuite } from './helpers/cluster.ts';
import { duringOutage, relayedPair } from './helpers/outage.ts';
import type { Relay } from './helpers/relay.ts';

const suite = scaleSuite();

// Guards, not measurements: the store's default query/connect timeout is 2 s; a hung request fails the test.
const OUTAGE_TEST_TIMEOUT_MS = 25_000;

function expectDatabaseUnavailable(res: ApiResponse): void {
  expect(res.status).toBe(503);
  expect(res.body).toMatchObject({
    success: false,
    error: { code: 'SERVICE_UNAVAILABLE', message: expect.stringMatching(/database/) },
    meta: { requestId: expect.any(String) },
  });
  // Required on every /v1 503 by the spec; here the limiter (Redis) is up, so they are known.
  expect(missingRateLimitHeaders(res)).toEqual([]);
}

/** Polls until GET /v1/contacts succeeds on every instance again; returns the time it took. */
function waitForDatabase(servers: ServerHandle[], key: string): Promise<number> {
  return pollUntil(
    'the database answering again on every instance',
    async () => {
      for (const server of servers) {
        if ((await api(server, '/v1/contacts', { key })).status !== 200) {
          return false;
        }
      }
      return true;
    },
    15_000,
  );
}

describe('PostgreSQL outage', () => {
  const pair = relayedPair(suite, { relayPostgres: true }, (cluster) => cluster.pgRelay);

  /** A key both instances have already looked up (cached), and one created but never presented (not cached). */
  async function keys(): Promise<{ known: string; unseen: string }> {
    const known = (await pair.cluster.newKey('roomy', 'known')).plaintext;
    const unseen = (await pair.cluster.newKey('roomy', 'unseen')).plaintext;
    for (const server of [pair.a, pair.b]) {
      expect((await api(server, '/v1/contacts', { key: known })).status).toBe(200);
    }
    return { known, unseen };
  }

  it(
    'answers 503 in the envelope to requests that need the database, stays up, and recovers by itself',
    async () => {
      const { a, b } = pair;
      const { known, unseen } = await keys();
      await duringOutage(pair.relay, 'stop', async () => {
        for (const server of [a, b]) {
          // A cached key still authenticates, but listing contacts needs a query.
          const list = await api(server, '/v1/contacts', { key: known });
          expectDatabaseUnavailable(list);
          // A key never seen by this instance needs a lookup to authenticate at all.
          const lookup = await api(server, '/v1/contacts', { key: unseen });
          expectDatabaseUnavailable(lookup);
          // The health check says so too.
          expectDatabaseUnavailable(await api(server, '/v1/health', { key: known }));
          // What needs no query still works: the process is up.
          expect((await api(server, '/livez')).status).toBe(200);
          expect((await api(server, '/v1/api-keys/validate', { key: known })).status).toBe(200);
          note(`PostgreSQL refused: 503 in ${list.ms} ms (cached key), ${lookup.ms} ms (key lookup)`);
        }
      });
      const recoveredInMs = await waitForDatabase([a, b], known);
      note(`PostgreSQL refused: requests succeed again ${recoveredInMs} ms after the relay returned`);
      for (const server of [a, b]) {
        expect((await api(server, '/v1/contacts', { key: unseen })).status).toBe(200);
        const health = await api(server, '/v1/health', { key: known });
        expect(health.status).toBe(200);
        expect(health.body.data.stores.database).toEqual({ kind: 'postgres', status: 'up' });
      }
    },
    OUTAGE_TEST_TIMEOUT_MS,
  );

  it(
    'answers 503 within the store timeout when PostgreSQL stops answering, and recovers by itself',
    async () => {
      const { a, b } = pair;
      const { known, unseen } = await keys();
      await duringOutage(pair.relay, 'blackhole', async () => {
        // More concurrent requests than the pool has connections (10): waiting for a connection is bounded too.
        const responses = await Promise.all([
          ...Array.from({ length: 12 }, (_, i) => api(i % 2 === 0 ? a : b, '/v1/contacts', { key: known })),
          api(a, '/v1/contacts', { key: unseen }),
          api(b, '/v1/health', { key: known }),
        ]);
        for (const res of responses) {
          expectDatabaseUnavailable(res);
        }
        expect((await api(a, '/livez')).status).toBe(200);
        note(`PostgreSQL silent: 14 concurrent requests all 503, slowest ${slowest(responses)} ms`);
      });
      const recoveredInMs = await waitForDatabase([a, b], known);
      note(`PostgreSQL silent: requests succeed again ${recoveredInMs} ms after the partition healed`);
      expect((await api(b, '/v1/contacts', { key: unseen })).status).toBe(200);
    },
    OUTAGE_TEST_TIMEOUT_MS,
  );
});

describe('an instance cut off from PostgreSQL while a key is revoked elsewhere', () => {
  it(
    'refuses the revoked key once it is connected again, without waiting for the cache TTL',
    async () => {
      // A talks to PostgreSQL directly, B through a relay: only B loses the database (and its LISTEN connection).
      const cluster = await suite.startCluster({ instances: 2, relayPostgres: [1] });
      const [a, b] = cluster.servers as [ServerHandle, ServerHandle];
      const relay = cluster.pgRelay as Relay;
      const admin = await cluster.newKey('roomy', 'admin');
      const target = await cluster.newKey('roomy', 'target', admin.organization);
      expect((await api(b, '/v1/api-keys/validate', { key: target.plaintext })).status).toBe(200);

      await duringOutage(relay, 'stop', async () => {
        // Revoked through A; the NOTIFY never reaches B, whose LISTEN connection is down.
        const revoked = await api(a, `/v1/api-keys/${target.keyId}`, { key: admin.plaintext, method: 'DELETE' });
        expect(revoked.status).toBe(200);
        expect((await api(a, '/v1/api-keys/validate', { key: target.plaintext })).status).toBe(401);
      });
      // Back online, B must drop what it may have missed (keyCacheTtlMs is 10 minutes).
      const refusedAfterMs = await pollUntil(
        'B refusing the key revoked while it was cut off',
        async () => (await api(b, '/v1/api-keys/validate', { key: target.plaintext })).status === 401,
        15_000,
      );
      note(`B refused the key revoked during its outage ${refusedAfterMs} ms after reconnecting`);
      expect((await api(b, '/v1/api-keys/validate', { key: admin.plaintext })).status).toBe(200);
    },
    OUTAGE_TEST_TIMEOUT_MS,
  );
});
