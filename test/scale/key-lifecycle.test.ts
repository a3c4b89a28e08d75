import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ServerHandle } from '../../src/server/index.ts';
import { api, note } from './helpers/api.ts';
import { type Cluster, scaleSuite, withAdmin } from './helpers/cluster.ts';

const suite = scaleSuite();
const MINUTE_MS = 60_000;

// Every instance reads this clock, which moves only when a test moves it: the grace period ends on both instances at
// the same moment, however slowly the machine runs the requests in between.
const START_MS = Date.now();
let offsetMs = 0;
const clock = () => new Date(START_MS + offsetMs);

describe('key rotation and idempotent creates on two instances sharing PostgreSQL and Redis', () => {
  let cluster: Cluster;
  let a: ServerHandle;
  let b: ServerHandle;

  beforeAll(async () => {
    cluster = await suite.startCluster({ instances: 2, clock });
    [a, b] = cluster.servers as [ServerHandle, ServerHandle];
  });

  it('keeps both keys working on both instances during the grace period, then refuses the old one on both', async () => {
    const admin = await cluster.newKey('roomy', 'admin');
    const created = await api(a, '/v1/api-keys', {
      key: admin.plaintext,
      method: 'POST',
      body: { name: 'Rotated across instances', rateLimit: 500, expirationDays: 90 },
    });
    expect(created.status).toBe(201);
    const old = created.body.data as { apiKey: string; keyId: string };
    // B caches the old key (for 10 minutes) before the rotation.
    expect((await api(b, '/v1/api-keys/validate', { key: old.apiKey })).status).toBe(200);

    const rotated = await api(a, `/v1/api-keys/${old.keyId}/rotate`, {
      key: admin.plaintext,
      method: 'POST',
      body: { gracePeriodMinutes: 5 },
    });
    expect(rotated.status).toBe(201);
    const fresh = rotated.body.data as { apiKey: string; keyId: string; previousKey: { expirationTs: string } };
    const sunset = new Date(fresh.previousKey.expirationTs).toUTCString();

    // Inherited fields, as each instance reads them.
    for (const server of [a, b]) {
      const [oldView, newView] = await Promise.all(
        [old.keyId, fresh.keyId].map(async (keyId) => {
          const res = await api(server, `/v1/api-keys/${keyId}`, { key: admin.plaintext });
          const { name, access, rateLimit, plan, organizationId } = res.body.data;
          return { name, access, rateLimit, plan, organizationId };
        }),
      );
      expect(newView).toEqual(oldView);
      expect(newView).toEqual({
        name: 'Rotated across instances',
        access: 'full',
        rateLimit: 500,
        plan: 'roomy',
        organizationId: admin.organizationId,
      });
    }

    offsetMs += 5 * MINUTE_MS - 1000;
    for (const server of [a, b]) {
      const during = await api(server, '/v1/api-keys/validate', { key: old.apiKey });
      expect(during.status).toBe(200);
      // B no longer serves its cached copy: it sees the rotation too.
      expect(during.headers.get('sunset')).toBe(sunset);
      expect(during.headers.get('deprecation')).toMatch(/^@\d+$/);
      const renewed = await api(server, '/v1/api-keys/validate', { key: fresh.apiKey });
      expect(renewed.status).toBe(200);
      expect(renewed.headers.get('sunset')).toBeNull();
    }

    offsetMs += 1000;
    for (const server of [a, b]) {
      const after = await api(server, '/v1/api-keys/validate', { key: old.apiKey });
      expect(after.status).toBe(401);
      expect(after.body.error).toEqual({
        code: 'UNAUTHORIZED',
        message: `The API key expired at ${fresh.previousKey.expirationTs}`,
      });
      expect((await api(server, '/v1/api-keys/validate', { key: fresh.apiKey })).status).toBe(200);
    }
  });

  it('turns 20 concurrent identical creates with one Idempotency-Key over both instances into exactly one key', async () => {
    const caller = await cluster.newKey('roomy', 'caller');
    const idempotencyKey = randomUUID();
    const name = `Concurrent ${idempotencyKey.slice(0, 8)}`;
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        api(i % 2 === 0 ? a : b, '/v1/api-keys', {
          key: caller.plaintext,
          method: 'POST',
          body: { name },
          headers: { 'Idempotency-Key': idempotencyKey },
        }),
      ),
    );

    const statuses = answers.map((r) => r.status);
    const originals = answers.filter((r) => r.status === 201 && r.headers.get('idempotent-replayed') === null);
    const replays = answers.filter((r) => r.status === 201 && r.headers.get('idempotent-replayed') === 'true');
    const inUse = answers.filter((r) => r.status === 409);
    note(
      `20 concurrent creates, one Idempotency-Key: ${originals.length} created, ${replays.length} replayed, ${inUse.length} 409`,
    );
    expect(originals).toHaveLength(1);
    expect(replays.length + inUse.length, JSON.stringify(statuses)).toBe(19);
    for (const replay of replays) {
      expect(replay.body).toEqual(originals[0]?.body);
    }
    for (const busy of inUse) {
      expect(busy.body.error.code).toBe('IDEMPOTENCY_KEY_IN_USE');
      expect(busy.headers.get('retry-after')).toBe('1');
    }
    const list = await api(b, '/v1/api-keys', { key: caller.plaintext });
    expect(list.body.data.filter((k: { name: string }) => k.name === name)).toHaveLength(1);

    // Every retry after the first finished, on either instance, is the replay.
    for (const server of [a, b]) {
      const late = await api(server, '/v1/api-keys', {
        key: caller.plaintext,
        method: 'POST',
        body: { name },
        headers: { 'Idempotency-Key': idempotencyKey },
      });
      expect(late.status).toBe(201);
      expect(late.headers.get('idempotent-replayed')).toBe('true');
      expect(late.body).toEqual(originals[0]?.body);
    }
  });

  it('does not store a 503: once the database answers again, the retry with the same key creates', async () => {
    const caller = await cluster.newKey('roomy', 'outage');
    const idempotencyKey = randomUUID();
    const email = `held-${idempotencyKey.slice(0, 8)}@example.com`;
    const create = (server: ServerHandle) =>
      api(server, '/v1/contacts', {
        key: caller.plaintext,
        method: 'POST',
        body: { email },
        headers: { 'Idempotency-Key': idempotencyKey },
      });

    // Hold the contacts table: the request claims its key, then its INSERT outlives the 2-second statement timeout.
    const timedOut = await withAdmin(async (admin) => {
      await admin.query('BEGIN');
      await admin.query(`LOCK TABLE "${suite.schema}".contacts IN ACCESS EXCLUSIVE MODE`);
      try {
        return await create(a);
      } finally {
        await admin.query('ROLLBACK');
      }
    });
    expect(timedOut.status).toBe(503);
    expect(timedOut.body.error.code).toBe('SERVICE_UNAVAILABLE');

    const retry = await create(b);
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    const again = await create(a);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(retry.body);
  });
});
