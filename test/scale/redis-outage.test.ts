import { beforeAll, describe, expect, it } from 'vitest';
import type { ServerHandle } from '../../src/server/index.ts';
import { type ApiResponse, api, missingRateLimitHeaders, note, pollUntil } from './helpers/api.ts';
import { type Cluster, type OutagePolicy, scaleSuite, TINY_LIMIT } from './helpers/cluster.ts';
import type { Relay } from './helpers/relay.ts';

const suite = scaleSuite();

// Guards, not measurements: a request that hangs fails the test instead of passing slowly.
const OUTAGE_TEST_TIMEOUT_MS = 20_000;
const RECOVERY_TEST_TIMEOUT_MS = 30_000;

const count = (responses: ApiResponse[], status: number) => responses.filter((r) => r.status === status).length;
const statuses = (responses: ApiResponse[]) => [...new Set(responses.map((r) => r.status))].sort();
const slowest = (responses: ApiResponse[]) => Math.max(...responses.map((r) => r.ms));

/**
 * `n` GET /v1/contacts with `key` over `servers`, started 5 ms apart, taking Redis away (`relay.stop()`) when the
 * `stopAfter`-th answer arrives: requests before, during and after the moment of the outage.
 */
async function burstAcrossOutage(servers: ServerHandle[], key: string, relay: Relay, n = 40, stopAfter = 10) {
  let answered = 0;
  let stopping: Promise<void> | undefined;
  const responses = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      await new Promise((resolveDelay) => setTimeout(resolveDelay, i * 5));
      const res = await api(servers[i % servers.length] as ServerHandle, '/v1/contacts', { key });
      if (++answered === stopAfter) {
        stopping = relay.stop();
      }
      return res;
    }),
  );
  await (stopping ?? relay.stop());
  return responses;
}

/** `n` concurrent GET /v1/contacts with `key`, alternating over `servers`. */
function burst(servers: ServerHandle[], key: string, n: number): Promise<ApiResponse[]> {
  return Promise.all(
    Array.from({ length: n }, (_, i) => api(servers[i % servers.length] as ServerHandle, '/v1/contacts', { key })),
  );
}

function expectServiceUnavailable(res: ApiResponse): void {
  expect(res.status).toBe(503);
  expect(res.body).toMatchObject({
    success: false,
    error: { code: 'SERVICE_UNAVAILABLE', message: expect.stringMatching(/rate-limit store/) },
    meta: { requestId: expect.any(String) },
  });
}

async function healthOf(server: ServerHandle, key: string): Promise<ApiResponse> {
  return api(server, '/v1/health', { key });
}

/** Polls /v1/health on every instance until Redis is 'up' there again; returns the time it took. */
async function waitForRedis(servers: ServerHandle[], key: string): Promise<number> {
  return pollUntil(
    'Redis reported up again on every instance',
    async () => {
      for (const server of servers) {
        const res = await healthOf(server, key);
        if (res.status !== 200 || res.body.data.stores.rateLimiter.status !== 'up') {
          return false;
        }
      }
      return true;
    },
    15_000,
  );
}

/**
 * Shared by both policies: takes Redis away, lets every instance see the outage, brings it back, and proves that the
 * instances count in Redis, together, again: 3L concurrent requests of a fresh tiny organization admit exactly L.
 */
async function expectSharedLimitsAfterRecovery(
  cluster: Cluster,
  relay: Relay,
  policy: OutagePolicy,
  admin: string,
): Promise<void> {
  const { servers } = cluster;
  const key = await cluster.newKey('tiny');
  await relay.stop();
  try {
    const during = await burst(servers, key.plaintext, servers.length);
    expect(statuses(during)).toEqual([policy === 'fail-open' ? 200 : 503]);
  } finally {
    await relay.resume();
  }
  const recoveredInMs = await waitForRedis(servers, admin);
  note(`${policy}: Redis reported up on both instances ${recoveredInMs} ms after the relay returned`);

  const fresh = await cluster.newKey('tiny');
  const after = await burst(servers, fresh.plaintext, 3 * TINY_LIMIT);
  expect({ admitted: count(after, 200), refused: count(after, 429) }).toEqual({
    admitted: TINY_LIMIT,
    refused: 2 * TINY_LIMIT,
  });
}

describe('Redis outage with the fail-open policy', () => {
  let cluster: Cluster;
  let relay: Relay;
  let a: ServerHandle;
  let b: ServerHandle;
  let admin: string;

  beforeAll(async () => {
    cluster = await suite.startCluster({ instances: 2, outagePolicy: 'fail-open', relayRedis: true });
    relay = cluster.redisRelay as Relay;
    [a, b] = cluster.servers as [ServerHandle, ServerHandle];
    admin = (await cluster.newKey('roomy', 'admin')).plaintext;
  });

  it(
    'keeps answering every request of a burst during which Redis goes away',
    async () => {
      const key = await cluster.newKey('roomy');
      try {
        const responses = await burstAcrossOutage([a, b], key.plaintext, relay);
        expect(statuses(responses)).toEqual([200]);
        note(`fail-open: burst of 40 across the outage, slowest ${slowest(responses)} ms`);
      } finally {
        await relay.resume();
        await waitForRedis([a, b], admin);
      }
    },
    OUTAGE_TEST_TIMEOUT_MS,
  );

  it(
    'limits each instance in memory to the plan while Redis is unreachable, and reports degraded',
    async () => {
      const key = await cluster.newKey('tiny');
      await relay.stop();
      try {
        for (const server of [a, b]) {
          const health = await healthOf(server, admin);
          expect(health.status).toBe(200);
          expect(health.body.data).toMatchObject({
            status: 'degraded',
            stores: {
              database: { kind: 'postgres', status: 'up' },
              rateLimiter: { kind: 'redis', status: 'degraded' },
            },
          });
        }
        // Per instance: each admits L of the organization's requests on its own, then refuses.
        for (const server of [a, b]) {
          const responses = await burst([server], key.plaintext, TINY_LIMIT + 5);
          expect({ admitted: count(responses, 200), refused: count(responses, 429) }).toEqual({
            admitted: TINY_LIMIT,
            refused: 5,
          });
          for (const refused of responses.filter((r) => r.status === 429)) {
            expect(refused.body.error.code).toBe('RATE_LIMITED');
            expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
          }
          note(
            `fail-open, Redis refused: ${TINY_LIMIT + 5} requests on one instance, slowest ${slowest(responses)} ms`,
          );
        }
      } finally {
        await relay.resume();
      }
    },
    OUTAGE_TEST_TIMEOUT_MS,
  );

  it(
    'counts in Redis again, shared by both instances, once Redis returns, without a restart',
    async () => {
      await expectSharedLimitsAfterRecovery(cluster, relay, 'fail-open', admin);
    },
    RECOVERY_TEST_TIMEOUT_MS,
  );

  it(
    'serves from memory too when Redis stops answering instead of refusing connections',
    async () => {
      const key = await cluster.newKey('tiny');
      await relay.blackhole();
      try {
        const health = await healthOf(a, admin);
        expect(health.status).toBe(200);
        expect(health.body.data.stores.rateLimiter).toEqual({ kind: 'redis', status: 'degraded' });
        const responses = await burst([a], key.plaintext, TINY_LIMIT + 1);
        expect({ admitted: count(responses, 200), refused: count(responses, 429) }).toEqual({
          admitted: TINY_LIMIT,
          refused: 1,
        });
        note(`fail-open, Redis silent: ${TINY_LIMIT + 1} requests, slowest ${slowest(responses)} ms`);
      } finally {
        await relay.resume();
      }
      const recoveredInMs = await waitForRedis([a, b], admin);
      note(`fail-open: Redis up again ${recoveredInMs} ms after the partition healed`);
    },
    RECOVERY_TEST_TIMEOUT_MS,
  );
});

describe('Redis outage with the fail-closed policy', () => {
  let cluster: Cluster;
  let relay: Relay;
  let a: ServerHandle;
  let b: ServerHandle;
  let admin: string;

  beforeAll(async () => {
    cluster = await suite.startCluster({ instances: 2, outagePolicy: 'fail-closed', relayRedis: true });
    relay = cluster.redisRelay as Relay;
    [a, b] = cluster.servers as [ServerHandle, ServerHandle];
    admin = (await cluster.newKey('roomy', 'admin')).plaintext;
  });

  it(
    'answers every request of a burst during which Redis goes away, admitted or 503',
    async () => {
      const key = await cluster.newKey('roomy');
      try {
        const responses = await burstAcrossOutage([a, b], key.plaintext, relay);
        expect(responses.length).toBe(40);
        expect(responses.filter((r) => r.status !== 200 && r.status !== 503)).toEqual([]);
        for (const res of responses.filter((r) => r.status === 503)) {
          expectServiceUnavailable(res);
        }
        note(
          `fail-closed: burst of 40 across the outage: ${count(responses, 200)} x 200, ${count(responses, 503)} x 503, slowest ${slowest(responses)} ms`,
        );
      } finally {
        await relay.resume();
        await waitForRedis([a, b], admin);
      }
    },
    OUTAGE_TEST_TIMEOUT_MS,
  );

  it(
    'answers 503 SERVICE_UNAVAILABLE in the envelope while Redis is unreachable, and stays up',
    async () => {
      const key = await cluster.newKey('tiny');
      await relay.stop();
      try {
        for (const server of [a, b]) {
          const responses = await burst([server], key.plaintext, 3);
          for (const res of responses) {
            expectServiceUnavailable(res);
          }
          note(`fail-closed, Redis refused: 503 in at most ${slowest(responses)} ms`);
          expectServiceUnavailable(await healthOf(server, admin));
          // The process is up and says so.
          expect((await api(server, '/livez')).status).toBe(200);
        }
      } finally {
        await relay.resume();
      }
    },
    OUTAGE_TEST_TIMEOUT_MS,
  );

  it(
    'sends the rate-limit headers the spec requires with its 503',
    async () => {
      const key = await cluster.newKey('tiny');
      await relay.stop();
      try {
        const res = await api(a, '/v1/contacts', { key: key.plaintext });
        expectServiceUnavailable(res);
        // ServiceUnavailable.yaml marks X-RateLimit-*, RateLimit-Policy and RateLimit as required on every 503.
        expect(missingRateLimitHeaders(res)).toEqual([]);
        expect(res.headers.get('x-ratelimit-remaining')).toBe('0');
      } finally {
        await relay.resume();
      }
    },
    OUTAGE_TEST_TIMEOUT_MS,
  );

  it(
    'counts in Redis again, shared by both instances, once Redis returns, without a restart',
    async () => {
      await expectSharedLimitsAfterRecovery(cluster, relay, 'fail-closed', admin);
    },
    RECOVERY_TEST_TIMEOUT_MS,
  );

  it(
    'answers 503 within the command timeout when Redis stops answering instead of refusing connections',
    async () => {
      const key = await cluster.newKey('tiny');
      await relay.blackhole();
      try {
        const responses = await burst([a, b], key.plaintext, 4);
        for (const res of responses) {
          expectServiceUnavailable(res);
        }
        note(`fail-closed, Redis silent: 503 in at most ${slowest(responses)} ms`);
        expect((await healthOf(a, admin)).status).toBe(503);
      } finally {
        await relay.resume();
      }
      const recoveredInMs = await waitForRedis([a, b], admin);
      note(`fail-closed: Redis up again ${recoveredInMs} ms after the partition healed`);
    },
    RECOVERY_TEST_TIMEOUT_MS,
  );
});
