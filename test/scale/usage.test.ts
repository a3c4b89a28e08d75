import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { LOWER_ALNUM, randomString } from '../../src/lib/ids.ts';
import type { ServerHandle } from '../../src/server/index.ts';
import { api, note } from './helpers/api.ts';
import { type Cluster, scaleSuite } from './helpers/cluster.ts';

const suite = scaleSuite();

// Counts are exact once flushed: N requests with a key, spread over two instances sharing PostgreSQL (and Redis, which
// decides which of them are 429s), show N in the key's usage and N entries in the log on either instance, and that
// still holds after an instance stops cleanly with records not yet written and a new one starts in its place.

/** The key's budget of requests a minute (its own limit, shared by both instances through Redis). */
const KEY_LIMIT = 10;
/** Requests sent to each instance. */
const PER_INSTANCE = 60;

interface Counts {
  total: number;
  status2xx: number;
  status4xx: number;
  status5xx: number;
  status429: number;
}

/** `count` requests with `key` to `server`, 10 at a time, each with a request id of its own; returns the ids. */
async function send(server: ServerHandle, key: string, count: number, tag: string): Promise<string[]> {
  const ids: string[] = [];
  for (let sent = 0; sent < count; sent += 10) {
    const batch = Array.from({ length: Math.min(10, count - sent) }, () => `${tag}-${randomUUID()}`);
    const replies = await Promise.all(
      batch.map((id) => api(server, '/v1/contacts?limit=1', { key, headers: { 'x-request-id': id } })),
    );
    for (const reply of replies) {
      expect([200, 429]).toContain(reply.status);
    }
    ids.push(...batch);
  }
  return ids;
}

/** The key's usage as `server` answers it. */
async function usageOf(server: ServerHandle, reader: string, keyId: string): Promise<Counts> {
  const reply = await api(server, `/v1/api-keys/${keyId}/usage?granularity=day`, { key: reader });
  expect(reply.status).toBe(200);
  return reply.body.data.totals as Counts;
}

/** Every request id of the key's log as `server` pages it, newest first. */
async function logOf(server: ServerHandle, reader: string, keyId: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const query = `keyId=${keyId}&limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = await api(server, `/v1/request-logs?${query}`, { key: reader });
    expect(page.status).toBe(200);
    ids.push(...(page.body.data as { requestId: string }[]).map((entry) => entry.requestId));
    cursor = page.body.meta.nextCursor as string | null;
  } while (cursor);
  return ids;
}

describe('usage counts on two instances sharing PostgreSQL, and across a restart', () => {
  let cluster: Cluster;
  let a: ServerHandle;
  let b: ServerHandle;

  beforeAll(async () => {
    // Only close() and an explicit flush write: a restart then proves that a clean stop loses nothing.
    cluster = await suite.startCluster({ instances: 2, usage: { flushMs: 3_600_000 } });
    [a, b] = cluster.servers as [ServerHandle, ServerHandle];
  });

  it('N requests over both instances show N in the usage and N log entries on either, the 429s exact', async () => {
    const organization = `org-usage-${randomString(10, LOWER_ALNUM)}`;
    const counted = await a.createApiKey({ name: 'counted', plan: 'roomy', organization, rateLimit: KEY_LIMIT });
    const reader = await a.createApiKey({ name: 'reader', plan: 'roomy', organization });
    const [fromA, fromB] = await Promise.all([
      send(a, counted.plaintext, PER_INSTANCE, 'a'),
      send(b, counted.plaintext, PER_INSTANCE, 'b'),
    ]);
    const sent = [...fromA, ...fromB];
    expect(a.context.usage.buffered() + b.context.usage.buffered()).toBeGreaterThanOrEqual(sent.length);
    await Promise.all([a.context.usage.flush(), b.context.usage.flush()]);

    const expected: Counts = {
      total: sent.length,
      status2xx: KEY_LIMIT,
      status4xx: sent.length - KEY_LIMIT,
      status5xx: 0,
      status429: sent.length - KEY_LIMIT,
    };
    for (const server of [a, b]) {
      expect(await usageOf(server, reader.plaintext, counted.keyId)).toEqual(expected);
      const logged = await logOf(server, reader.plaintext, counted.keyId);
      expect(logged).toHaveLength(sent.length);
      expect(new Set(logged)).toEqual(new Set(sent));
    }
    note(`usage: ${sent.length} requests over 2 instances → ${KEY_LIMIT} × 2xx and ${sent.length - KEY_LIMIT} × 429`);
  });

  it('a clean stop writes what it buffered: the instance that replaces it counts every request', async () => {
    const organization = `org-restart-${randomString(10, LOWER_ALNUM)}`;
    const counted = await a.createApiKey({ name: 'counted', plan: 'roomy', organization });
    const reader = await a.createApiKey({ name: 'reader', plan: 'roomy', organization });
    const viaA = await send(a, counted.plaintext, 20, 'before');
    const viaB = await send(b, counted.plaintext, 30, 'stopping');
    await a.context.usage.flush();
    // B's records are only in its memory: nothing but its close() writes them.
    expect(b.context.usage.buffered()).toBeGreaterThanOrEqual(30);
    await b.close();

    const [c] = (await suite.startCluster({ instances: 1, usage: { flushMs: 3_600_000 } })).servers as [ServerHandle];
    const viaC = await send(c, counted.plaintext, 10, 'after');
    await c.context.usage.flush();
    const sent = [...viaA, ...viaB, ...viaC];
    for (const server of [a, c]) {
      expect(await usageOf(server, reader.plaintext, counted.keyId)).toEqual({
        total: sent.length,
        status2xx: sent.length,
        status4xx: 0,
        status5xx: 0,
        status429: 0,
      });
      expect(new Set(await logOf(server, reader.plaintext, counted.keyId))).toEqual(new Set(sent));
    }
  });
});
