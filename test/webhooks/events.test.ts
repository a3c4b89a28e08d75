import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { completeApiKey } from '../../src/keys/api-key.ts';
import { startTestServer, type TestKey, type TestServer } from '../server/helpers/server.ts';
import type { Body } from '../server/helpers/spec.ts';
import { waitFor } from '../server/helpers/wait.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';

// The events no request asks for: api_key.expiring (once, 7 days ahead) and api_key.expired (once), from the worker's
// expiry scan on the server's clock; and usage.anomaly, a burst of refusals on one key past the configured threshold.

let server: TestServer;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
  server = await startTestServer({
    webhooks: {
      allowPrivate: true,
      pollMs: 20,
      expiryScanMs: 0,
      anomaly: { threshold: 5, windowSeconds: 60 },
    },
  });
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

/** A full key of a new organization whose endpoint at `path` receives `events`. */
async function subscribed(path: string, events: string[]): Promise<TestKey> {
  const key = await server.newKey();
  const reply = await server.call('POST', '/v1/webhook-endpoints', {
    key: key.plaintext,
    body: { url: `${receiver.url}${path}`, enabledEvents: events },
  });
  expect(reply.status, reply.text).toBe(201);
  return key;
}

const typesAt = (path: string) => receiver.at(path).map((r) => (JSON.parse(r.body) as { type: string }).type);
const settle = () => new Promise((done) => setTimeout(done, 300));

describe('expiry events', () => {
  test('a key expiring within 7 days is announced once, and its expiry once', async () => {
    const owner = await subscribed('/expiry', ['api_key.expiring', 'api_key.expired']);
    const expiring = await server.newKey({ organization: owner.organization, expiresInDays: 10 });
    await settle();
    expect(typesAt('/expiry')).toEqual([]);
    server.advanceClock(4 * 86_400_000);
    await waitFor(() => (typesAt('/expiry').length > 0 ? true : undefined), 'api_key.expiring');
    await settle();
    expect(typesAt('/expiry')).toEqual(['api_key.expiring']);
    const notice = JSON.parse(receiver.at('/expiry')[0]?.body ?? '{}');
    expect(notice.data).toMatchObject({ keyId: expiring.keyId });
    expect(Date.parse(notice.data.expirationTs) - Date.parse(notice.timestamp)).toBeLessThanOrEqual(7 * 86_400_000);

    server.advanceClock(7 * 86_400_000);
    await waitFor(() => (typesAt('/expiry').length > 1 ? true : undefined), 'api_key.expired');
    await settle();
    expect(typesAt('/expiry')).toEqual(['api_key.expiring', 'api_key.expired']);
    expect(JSON.parse(receiver.at('/expiry')[1]?.body ?? '{}').data).toMatchObject({ keyId: expiring.keyId });
  });
});

describe('usage.anomaly', () => {
  test('fires once when a key gathers the threshold of refusals within the window', async () => {
    const owner = await subscribed('/anomaly', ['usage.anomaly']);
    const reader = await server.newKey({ organization: owner.organization, permissions: ['contacts:read'] });
    const refuse = () => server.call('POST', '/v1/contacts', { key: reader.plaintext, body: { email: 'a@b.example' } });
    for (let i = 0; i < 4; i++) {
      expect((await refuse()).status).toBe(403);
    }
    // Answers that are not refusals don't count.
    expect((await server.call('GET', '/v1/contacts', { key: reader.plaintext })).status).toBe(200);
    await settle();
    expect(typesAt('/anomaly')).toEqual([]);
    for (let i = 0; i < 6; i++) {
      expect((await refuse()).status).toBe(403);
    }
    await waitFor(() => receiver.at('/anomaly')[0], 'usage.anomaly');
    await settle();
    expect(typesAt('/anomaly')).toEqual(['usage.anomaly']);
    const event = JSON.parse(receiver.at('/anomaly')[0]?.body ?? '{}');
    expect(event.data).toEqual({
      kind: 'refusal_burst',
      keyId: reader.keyId,
      keyPrefix: expect.stringMatching(/^mr_[a-z0-9]{8}_\*{4}$/),
      refusals: { '401': 0, '403': 5, '429': 0 },
      threshold: 5,
      windowSeconds: 60,
    });
  });

  test('counts 401s of a known key id (revoked, or a wrong secret), and a new window fires again', async () => {
    const owner = await subscribed('/guessing', ['usage.anomaly']);
    const victim = await server.newKey({ organization: owner.organization });
    // The victim's id with another secret, and a checksum that holds: what someone guessing at a leaked id sends.
    const wrongSecret = completeApiKey(`mr_${victim.plaintext.split('_')[1]}_${'A'.repeat(32)}`) ?? '';
    for (let i = 0; i < 5; i++) {
      expect((await server.call('GET', '/v1/health', { key: wrongSecret })).status).toBe(401);
    }
    await waitFor(() => receiver.at('/guessing')[0], 'usage.anomaly from 401s');
    expect((await server.call('DELETE', `/v1/api-keys/${victim.keyId}`, { key: owner.plaintext })).status).toBe(200);
    server.advanceClock(61_000);
    for (let i = 0; i < 5; i++) {
      expect((await server.call('GET', '/v1/health', { key: victim.plaintext })).status).toBe(401);
    }
    await waitFor(() => receiver.at('/guessing')[1], 'usage.anomaly in the next window');
    const second = JSON.parse(receiver.at('/guessing')[1]?.body ?? '{}');
    expect(second.data).toMatchObject({ keyId: victim.keyId, refusals: { '401': 5, '403': 0, '429': 0 } });
  });
});

test('429s of a rate-limited key count too', async () => {
  // An organization on the `tiny` plan (3 requests a minute), with its own endpoint.
  const limited = await server.newKey({ plan: 'tiny' });
  const registered = await server.call<Body<'createWebhookEndpoint', 201>>('POST', '/v1/webhook-endpoints', {
    key: limited.plaintext,
    body: { url: `${receiver.url}/limited`, enabledEvents: ['usage.anomaly'] },
  });
  expect(registered.status).toBe(201);
  for (let i = 0; i < 8; i++) {
    await server.call('GET', '/v1/health', { key: limited.plaintext });
  }
  await waitFor(() => receiver.at('/limited')[0], 'usage.anomaly from 429s');
  const event = JSON.parse(receiver.at('/limited')[0]?.body ?? '{}');
  expect(event.data).toMatchObject({ keyId: limited.keyId, refusals: { '429': 5 } });
});
