import { describe, expect, it } from 'vitest';
import type { ServerHandle } from '../../src/server/index.ts';
import { type ApiResponse, api, missingRateLimitHeaders, note, pollUntil, slowest } from './helpers/api.ts';
import { type OutagePolicy, scaleSuite, TINY_LIMIT } from './helpers/cluster.ts';
import { duringOutage, type RelayedPair, relayedPair } from './helpers/outage.ts';
import type { Relay } from './helpers/relay.ts';

const suite = scaleSuite();

// Guards, not measurements: a request that hangs fails the test instead of passing slowly.
const OUTAGE_TEST_TIMEOUT_MS = 20_000;
const RECOVERY_TEST_TIMEOUT_MS = 30_000;

const count = (responses: ApiResponse[], status: number) => responses.filter((r) => r.status === status).length;
const statuses = (responses: ApiResponse[]) => [...new Set(responses.map((r) => r.status))].sort();

/** Two instances with the outage `policy` and a relay in front of Redis (registers the describe block's beforeAll). */
const redisPair = (policy: OutagePolicy) =>
  relayedPair(suite, { outagePolicy: policy, relayRedis: true }, (cluster) => cluster.redisRelay);

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

/** A burst of a roomy key across the moment Redis goes away on both instances; then Redis back and seen up on both. */
async function burstThroughOutage(pair: RelayedPair): Promise<ApiResponse[]> {
  const key = await pair.cluster.newKey('roomy');
  try {
    return await burstAcrossOutage([pair.a, pair.b], key.plaintext, pair.relay);
  } finally {
    await pair.relay.resume();
    await waitForRedis([pair.a, pair.b], pair.admin);
  }
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

/** Runs `work` while Redis is silent (a partition), then waits until both instances see it up again. */
async function duringPartition(pair: RelayedPair, policy: OutagePolicy, work: () => Promise<void>): Promise<void> {
  await duringOutage(pair.relay, 'blackhole', work);
  const recoveredInMs = await waitForRedis([pair.a, pair.b], pair.admin);
  note(`${policy}: Redis up again ${recoveredInMs} ms after the partition healed`);
}

/**
 * Shared by both policies: takes Redis away, lets every instance see the outage, brings it back, and proves that the
 * instances count in Redis, together, again: 3L concurrent requests of a fresh tiny organization admit exactly L.
 */
async function expectSharedLimitsAfterRecovery(pair: RelayedPair, policy: OutagePolicy): Promise<void> {
  const { cluster } = pair;
  const { servers } = cluster;
  const key = await cluster.newKey('tiny');
  await duringOutage(pair.relay, 'stop', async () => {
    const during = await burst(servers, key.plaintext, servers.length);
    expect(statuses(during)).toEqual([policy === 'fail-open' ? 200 : 503]);
  });
  const recoveredInMs = await waitForRedis(servers, pair.admin);
  note(`${policy}: Redis reported up on both instances ${recoveredInMs} ms after the relay returned`);

  const fresh = await cluster.newKey('tiny');
  const after = await burst(servers, fresh.plaintext, 3 * TINY_LIMIT);
  expect({ admitted: count(after, 200), refused: count(after, 429) }).toEqual({
    admitted: TINY_LIMIT,
    refused: 2 * TINY_LIMIT,
  });
}

describe('Redis outage with the fail-open policy', () => {
  const pair = redisPair('fail-open');

  it(
    'keeps answering every request of a burst during which Redis goes away',
    async () => {
      const responses = await burstThroughOutage(pair);
      expect(statuses(responses)).toEqual([200]);
      note(`fail-open: burst of 40 across the outage, slowest ${slowest(responses)} ms`);
    },
    OUTAGE_TEST_TIMEOUT_MS,
  );

  it(
    'limits each instance in memory to the plan while Redis is unreachable, and reports degraded',
    async () => {
      const { a, b, admin } = pair;
      const key = await pair.cluster.newKey('tiny');
      await duringOutage(pair.relay, 'stop', async () => {
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
      });
    },
    OUTAGE_TEST_TIMEOUT_MS,
  );

  it(
    'counts in Redis again, shared by both instances, once Redis returns, without a restart',
    async () => {
      await expectSharedLimitsAfterRecovery(pair, 'fail-open');
    },
    RECOVERY_TEST_TIMEOUT_MS,
  );

  it(
    'serves from memory too when Redis stops answering instead of refusing connections',
    async () => {
      const key = await pair.cluster.newKey('tiny');
      await duringPartition(pair, 'fail-open', async () => {
        const health = await healthOf(pair.a, pair.admin);
        expect(health.status).toBe(200);
        expect(health.body.data.stores.rateLimiter).toEqual({ kind: 'redis', status: 'degraded' });
        const responses = await burst([pair.a], key.plaintext, TINY_LIMIT + 1);
        expect({ admitted: count(responses, 200), refused: count(responses, 429) }).toEqual({
          admitted: TINY_LIMIT,
          refused: 1,
        });
        note(`fail-open, Redis silent: ${TINY_LIMIT + 1} requests, slowest ${slowest(responses)} ms`);
      });
    },
    RECOVERY_TEST_TIMEOUT_MS,
  );
});

describe('Redis outage with the fail-closed policy', () => {
  const pair = redisPair('fail-closed');

  it(
    'answers every request of a burst during which Redis goes away, admitted or 503',
    async () => {
      const responses = await burstThroughOutage(pair);
      expect(responses.length).toBe(40);
      expect(responses.filter((r) => r.status !== 200 && r.status !== 503)).toEqual([]);
      for (const res of responses.filter((r) => r.status === 503)) {
        expectServiceUnavailable(res);
      }
      note(
        `fail-closed: burst of 40 across the outage: ${count(responses, 200)} x 200, ${count(responses, 503)} x 503, slowest ${slowest(responses)} ms`,
      );
    },
    OUTAGE_TEST_TIMEOUT_MS,
  );

  it(
    'answers 503 SERVICE_UNAVAILABLE in the envelope while Redis is unreachable, and stays up',
    async () => {
      const key = await pair.cluster.newKey('tiny');
      await duringOutage(pair.relay, 'stop', async () => {
        for (const server of [pair.a, pair.b]) {
          const responses = await burst([server], key.plaintext, 3);
          for (const res of responses) {
            expectServiceUnavailable(res);
          }
          note(`fail-closed, Redis refused: 503 in at most ${slowest(responses)} ms`);
          expectServiceUnavailable(await healthOf(server, pair.admin));
          // The process is up and says so.
          expect((await api(server, '/livez')).status).toBe(200);
        }
      });
    },
    OUTAGE_TEST_TIMEOUT_MS,
  );

  it(
    'sends the rate-limit headers the spec requires with its 503',
    async () => {
      const key = await pair.cluster.newKey('tiny');
      await duringOutage(pair.relay, 'stop', async () => {
        const res = await api(pair.a, '/v1/contacts', { key: key.plaintext });
        expectServiceUnavailable(res);
        // ServiceUnavailable.yaml marks X-RateLimit-*, RateLimit-Policy and RateLimit as required on every 503.
        expect(missingRateLimitHeaders(res)).toEqual([]);
        expect(res.headers.get('x-ratelimit-remaining')).toBe('0');
      });
    },
    OUTAGE_TEST_TIMEOUT_MS,
  );

  it(
    'counts in Redis again, shared by both instances, once Redis returns, without a restart',
    async () => {
      await expectSharedLimitsAfterRecovery(pair, 'fail-closed');
    },
    RECOVERY_TEST_TIMEOUT_MS,
  );

  it(
    'answers 503 within the command timeout when Redis stops answering instead of refusing connections',
    async () => {
      const key = await pair.cluster.newKey('tiny');
      await duringPartition(pair, 'fail-closed', async () => {
        const responses = await burst([pair.a, pair.b], key.plaintext, 4);
        for (const res of responses) {
          expectServiceUnavailable(res);
        }
        note(`fail-closed, Redis silent: 503 in at most ${slowest(responses)} ms`);
        expect((await healthOf(pair.a, pair.admin)).status).toBe(503);
      });
    },
    RECOVERY_TEST_TIMEOUT_MS,
  );
});
