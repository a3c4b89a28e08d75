import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebhookEvent } from '../../src/client/webhooks.ts';
import { type RefusalCounter, redisRefusalCounter } from '../../src/webhooks/anomaly.ts';
import { type Receiver, startReceiver } from '../webhooks/helpers/receiver.ts';
import { api, pollUntil } from './helpers/api.ts';
import { type Cluster, REDIS_URL, scaleSuite } from './helpers/cluster.ts';

const suite = scaleSuite();

// usage.anomaly across instances: with Redis the refusals of one key are counted there, so two instances behind a
// balancer see their sum. Three 403s on each of two instances, with a threshold of 6, are one burst, fired once (no
// instance saw 6 on its own); more refusals in the same window fire nothing more. While Redis is unreachable the
// counter falls back to this process's memory (fail-open, as the rate limiter), and still fires.

const THRESHOLD = 6;
let receiver: Receiver;
let cluster: Cluster;

beforeAll(async () => {
  receiver = await startReceiver();
  cluster = await suite.startCluster({
    webhooks: { allowPrivate: true, pollMs: 50, anomaly: { threshold: THRESHOLD, windowSeconds: 60 } },
  });
});
afterAll(async () => {
  await receiver?.close();
});

/** The usage.anomaly events the receiver got at `path`. */
const anomaliesAt = (path: string) =>
  receiver
    .at(path)
    .map((delivery) => JSON.parse(delivery.body) as WebhookEvent)
    .filter((event) => event.type === 'usage.anomaly');

describe('usage.anomaly with two instances on one Redis', () => {
  it('counts the refusals of both instances together and fires once per window', async () => {
    const [a, b] = cluster.servers;
    if (!a || !b) {
      throw new Error('two instances expected');
    }
    const admin = await cluster.newKey('roomy', 'anomaly admin');
    const reader = await a.createApiKey({
      name: 'read only',
      plan: 'roomy',
      organization: admin.organization,
      access: 'read_only',
    });
    const endpoint = await api(a, '/v1/webhook-endpoints', {
      key: admin.plaintext,
      method: 'POST',
      body: { url: `${receiver.url}/anomaly`, enabledEvents: ['usage.anomaly'] },
    });
    expect(endpoint.status).toBe(201);

    // Each instance refuses three writes (403: the key is read-only); the sixth refusal, on whichever instance, fires.
    const refuse = (server: typeof a) =>
      api(server, '/v1/contacts', { key: reader.plaintext, method: 'POST', body: { email: 'x@example.com' } });
    for (const server of [a, b, a, b, a, b]) {
      expect((await refuse(server)).status).toBe(403);
    }
    await pollUntil('the usage.anomaly delivery', async () => anomaliesAt('/anomaly').length > 0);
    const [fired] = anomaliesAt('/anomaly');
    expect(fired?.data).toMatchObject({
      keyId: reader.keyId,
      refusals: { '401': 0, '403': THRESHOLD, '429': 0 },
      threshold: THRESHOLD,
    });

    // The same window: more refusals on both instances fire nothing more.
    for (const server of [a, b, a, b]) {
      expect((await refuse(server)).status).toBe(403);
    }
    // A ping after them is the marker: once it arrives, anything the refusals caused would have been queued before it.
    const ping = await api(a, `/v1/webhook-endpoints/${endpoint.body.data.endpointId}/test`, {
      key: admin.plaintext,
      method: 'POST',
    });
    expect(ping.status).toBe(202);
    await pollUntil('the ping', async () => receiver.at('/anomaly').some((d) => d.body.includes('"ping"')));
    expect(anomaliesAt('/anomaly')).toHaveLength(1);
  });
});

describe('usage.anomaly while Redis is unreachable', () => {
  let counter: RefusalCounter;
  afterAll(async () => {
    await counter?.close();
  });

  it('counts in memory instead (fail-open) and still fires at the threshold', async () => {
    const errors: string[] = [];
    // Nothing listens on port 1: every command fails at once (no offline queue).
    const unreachable = new URL(REDIS_URL);
    unreachable.port = '1';
    counter = redisRefusalCounter({ threshold: 3, windowSeconds: 60 }, () => new Date(), {
      url: unreachable.toString(),
      keyPrefix: 'mailroom-test:anomaly-outage',
      onError: (error) => errors.push(error.message),
    });
    const results = [];
    for (let i = 0; i < 4; i++) {
      results.push(await counter.add('key_outage', 429));
    }
    expect(results.map((r) => r.fire)).toEqual([false, false, true, false]);
    expect(results.at(-1)?.counts).toEqual({ 401: 0, 403: 0, 429: 4 });
    expect(errors.length).toBeGreaterThan(0);
  });
});
