import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { verifyWebhook, type WebhookEvent } from '../../src/client/webhooks.ts';
import { expectError } from '../server/helpers/call.ts';
import { startTestServer, type TestKey, type TestServer } from '../server/helpers/server.ts';
import type { Body } from '../server/helpers/spec.ts';
import { waitFor } from '../server/helpers/wait.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';

// Deliveries from a real server to a real receiver: signed as Standard Webhooks says (checked with the client's own
// verifyWebhook), retried on a short schedule, stopped by 410, delayed by Retry-After, never following a redirect,
// and never held up by a receiver that hangs.

let server: TestServer;
let receiver: Receiver;
let owner: TestKey;

beforeAll(async () => {
  receiver = await startReceiver();
  server = await startTestServer({
    webhooks: { allowPrivate: true, pollMs: 50, retrySchedule: [0.2, 0.2], timeoutMs: 2000 },
  });
  owner = await server.newKey();
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

type Endpoint = Body<'createWebhookEndpoint', 201>['data'];
type Delivery = Body<'listWebhookDeliveries', 200>['data'][number];

/** Registers `path` of the receiver for `key`'s organization. */
async function register(path: string, body: Record<string, unknown> = {}, key: TestKey = owner): Promise<Endpoint> {
  const reply = await server.call<Body<'createWebhookEndpoint', 201>>('POST', '/v1/webhook-endpoints', {
    key: key.plaintext,
    body: { url: `${receiver.url}${path}`, ...body },
  });
  expect(reply.status, reply.text).toBe(201);
  return reply.body.data;
}

/** The endpoint's deliveries, newest first. */
async function deliveries(endpoint: Endpoint, key: TestKey = owner): Promise<Delivery[]> {
  const reply = await server.call<Body<'listWebhookDeliveries', 200>>(
    'GET',
    `/v1/webhook-endpoints/${endpoint.endpointId}/deliveries`,
    { key: key.plaintext },
  );
  expect(reply.status, reply.text).toBe(200);
  return reply.body.data;
}

/** Waits until the endpoint has a delivery matching `done`. */
function deliveryWhere(endpoint: Endpoint, done: (d: Delivery) => boolean, what: string, key: TestKey = owner) {
  return waitFor(async () => (await deliveries(endpoint, key)).find(done), what);
}

describe('delivering events', () => {
  test('a key created, rotated and revoked reaches the endpoint, signed so that verifyWebhook accepts it', async () => {
    const key = await server.newKey();
    const endpoint = await register('/lifecycle', {}, key);
    const created = await server.call<Body<'createApiKey', 201>>('POST', '/v1/api-keys', {
      key: key.plaintext,
      body: { name: 'announced' },
    });
    const { keyId, apiKey: plaintext } = created.body.data;
    const rotated = await server.call<Body<'rotateApiKey', 201>>('POST', `/v1/api-keys/${keyId}/rotate`, {
      key: key.plaintext,
      body: { gracePeriodMinutes: 60 },
    });
    expect(rotated.status, rotated.text).toBe(201);
    const successor = rotated.body.data;
    expect((await server.call('DELETE', `/v1/api-keys/${successor.keyId}`, { key: key.plaintext })).status).toBe(200);

    // At least once: a receiver drops a webhook-id it has seen (an attempt that outlived this server's 2 s timeout
    // under load is sent again).
    const distinct = () => [
      ...new Map(receiver.at('/lifecycle').map((r) => [r.headers['webhook-id'], r] as const)).values(),
    ];
    await waitFor(() => (distinct().length >= 3 ? true : undefined), 'three deliveries');
    const events: WebhookEvent[] = [];
    for (const delivery of distinct()) {
      const event = await verifyWebhook(delivery.body, delivery.headers as Record<string, string>, endpoint.secret);
      expect(delivery.headers['webhook-id']).toMatch(/^evt_[a-z0-9]{16}$/);
      expect(delivery.headers['content-type']).toBe('application/json');
      // No secret in any payload: not the key, not its secret part, not the endpoint's signing secret.
      expect(delivery.body).not.toContain(plaintext);
      expect(delivery.body).not.toContain(successor.apiKey);
      expect(delivery.body).not.toContain(plaintext.split('_')[2]);
      expect(delivery.body).not.toContain(endpoint.secret.slice(6));
      events.push(event);
    }
    expect(events.map((e) => e.type)).toEqual(['api_key.created', 'api_key.rotated', 'api_key.revoked']);
    expect(events[0]?.data).toMatchObject({ keyId, keyPrefix: created.body.data.keyPrefix, name: 'announced' });
    expect(events[1]?.data).toMatchObject({
      keyId,
      replacedBy: { keyId: successor.keyId, keyPrefix: successor.keyPrefix },
    });
    expect(events[2]?.data).toMatchObject({ keyId: successor.keyId });
    // A signature under another secret, or a body changed by a byte, is refused.
    const first = receiver.at('/lifecycle')[0];
    if (!first) {
      throw new Error('no delivery');
    }
    const headers = first.headers as Record<string, string>;
    await expect(
      verifyWebhook(first.body, headers, 'whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY='),
    ).rejects.toThrow(/no signature matches/);
    await expect(verifyWebhook(`${first.body} `, headers, endpoint.secret)).rejects.toThrow(/no signature matches/);
    await expect(
      verifyWebhook(first.body, headers, endpoint.secret, { now: new Date(Date.now() + 301_000) }),
    ).rejects.toThrow(/too far from now/);
    // The log shows each of the three delivered (once the worker has recorded the answers).
    await waitFor(async () => {
      const log = await deliveries(endpoint, key);
      return log.length === 3 && log.every((d) => d.status === 'succeeded') ? true : undefined;
    }, 'three succeeded deliveries in the log');
  });

  test('after a secret rotation both secrets sign, space-separated, and either one verifies', async () => {
    const key = await server.newKey();
    const endpoint = await register('/rotation', { enabledEvents: ['api_key.created'] }, key);
    const rotated = await server.call<Body<'rotateWebhookSecret', 200>>(
      'POST',
      `/v1/webhook-endpoints/${endpoint.endpointId}/rotate-secret`,
      { key: key.plaintext },
    );
    expect(rotated.status, rotated.text).toBe(200);
    const { secret: next, previousSecretExpiresAt } = rotated.body.data;
    expect(next).not.toBe(endpoint.secret);
    expect(Date.parse(previousSecretExpiresAt) - server.now().getTime()).toBeGreaterThan(86_000_000);
    await server.call('POST', '/v1/api-keys', { key: key.plaintext, body: { name: 'after rotation' } });
    const delivery = await waitFor(() => receiver.at('/rotation')[0], 'a delivery after the rotation');
    const headers = delivery.headers as Record<string, string>;
    expect(headers['webhook-signature']?.split(' ')).toHaveLength(2);
    expect((await verifyWebhook(delivery.body, headers, next)).type).toBe('api_key.created');
    expect((await verifyWebhook(delivery.body, headers, endpoint.secret)).type).toBe('api_key.created');
    expect((await verifyWebhook(delivery.body, headers, [endpoint.secret, next])).type).toBe('api_key.created');
  });

  test('a failing receiver is retried on the schedule until it answers 2xx, with the same webhook-id', async () => {
    const key = await server.newKey();
    const endpoint = await register('/flaky', { enabledEvents: ['api_key.created'] }, key);
    receiver.answer('/flaky', { status: 500 }, { status: 502 });
    await server.call('POST', '/v1/api-keys', { key: key.plaintext, body: { name: 'retried' } });
    const done = await deliveryWhere(endpoint, (d) => d.status === 'succeeded', 'a success after two failures', key);
    expect(done).toMatchObject({ attempts: 3, lastResponseStatus: 200, nextAttemptAt: null });
    const ids = new Set(receiver.at('/flaky').map((r) => r.headers['webhook-id']));
    expect(receiver.at('/flaky')).toHaveLength(3);
    expect(ids.size).toBe(1);
  });

  test('a delivery fails for good once the schedule is spent, and a retry sends it again', async () => {
    const key = await server.newKey();
    const endpoint = await register('/down', { enabledEvents: ['api_key.created'] }, key);
    receiver.answer('/down', { status: 500 }, { status: 500 }, { status: 500 });
    await server.call('POST', '/v1/api-keys', { key: key.plaintext, body: { name: 'given up' } });
    const failed = await deliveryWhere(endpoint, (d) => d.status === 'failed', 'a failed delivery', key);
    expect(failed).toMatchObject({ attempts: 3, lastResponseStatus: 500, nextAttemptAt: null });
    const retried = await server.call<Body<'retryWebhookDelivery', 202>>(
      'POST',
      `/v1/webhook-endpoints/${endpoint.endpointId}/deliveries/${failed.deliveryId}/retry`,
      { key: key.plaintext },
    );
    expect(retried.status, retried.text).toBe(202);
    expect(retried.body.data.status).toBe('pending');
    const again = await deliveryWhere(endpoint, (d) => d.status === 'succeeded', 'the retried delivery', key);
    expect(again.attempts).toBe(4);
    const missing = await server.call(
      'POST',
      `/v1/webhook-endpoints/${endpoint.endpointId}/deliveries/dlv_0000000000000000/retry`,
      { key: key.plaintext },
    );
    expectError(missing, 404, 'RESOURCE_NOT_FOUND');
  });

  test('a 410 Gone disables the endpoint and nothing more is queued for it', async () => {
    const key = await server.newKey();
    const endpoint = await register('/gone', { enabledEvents: ['api_key.created'] }, key);
    receiver.answer('/gone', { status: 410 });
    await server.call('POST', '/v1/api-keys', { key: key.plaintext, body: { name: 'gone' } });
    const failed = await deliveryWhere(endpoint, (d) => d.status === 'failed', 'the 410', key);
    expect(failed).toMatchObject({ attempts: 1, lastResponseStatus: 410 });
    const now = await server.call<Body<'getWebhookEndpoint', 200>>(
      'GET',
      `/v1/webhook-endpoints/${endpoint.endpointId}`,
      { key: key.plaintext },
    );
    expect(now.body.data).toMatchObject({ disabled: true, disabledReason: 'the receiver answered 410 Gone' });
    await server.call('POST', '/v1/api-keys', { key: key.plaintext, body: { name: 'not sent' } });
    expect(await deliveries(endpoint, key)).toHaveLength(1);
    // Enabling it again clears the reason, and events flow again.
    const enabled = await server.call<Body<'updateWebhookEndpoint', 200>>(
      'PATCH',
      `/v1/webhook-endpoints/${endpoint.endpointId}`,
      { key: key.plaintext, body: { disabled: false } },
    );
    expect(enabled.body.data).toMatchObject({ disabled: false, disabledReason: null });
  });

  test('a 429 or 503 with Retry-After is retried no sooner than it asks', async () => {
    const key = await server.newKey();
    const endpoint = await register('/busy', { enabledEvents: ['api_key.created'] }, key);
    receiver.answer('/busy', { status: 429, headers: { 'Retry-After': '3600' } });
    const before = server.now().getTime();
    await server.call('POST', '/v1/api-keys', { key: key.plaintext, body: { name: 'busy' } });
    const waiting = await deliveryWhere(endpoint, (d) => d.lastResponseStatus !== null, 'the 429', key);
    expect(waiting).toMatchObject({ status: 'pending', attempts: 1, lastResponseStatus: 429 });
    expect(Date.parse(waiting.nextAttemptAt ?? '') - before).toBeGreaterThanOrEqual(3_600_000);
  });

  test('a redirect is not followed: it is a failed attempt, and its target receives nothing', async () => {
    const key = await server.newKey();
    const endpoint = await register('/moved', { enabledEvents: ['api_key.created'] }, key);
    receiver.answer('/moved', { status: 302, headers: { Location: `${receiver.url}/target` } });
    await server.call('POST', '/v1/api-keys', { key: key.plaintext, body: { name: 'moved' } });
    const attempt = await deliveryWhere(endpoint, (d) => d.lastResponseStatus === 302, 'the redirect', key);
    expect(attempt.lastError).toBe('redirects are not followed');
    expect(receiver.at('/target')).toHaveLength(0);
  });

  test('a receiver that hangs does not hold up another endpoint, and its attempt times out', async () => {
    const key = await server.newKey();
    const hanging = await register('/hangs', { enabledEvents: ['api_key.created'] }, key);
    const prompt = await register('/prompt', { enabledEvents: ['api_key.created'] }, key);
    receiver.answer('/hangs', 'hang', 'hang', 'hang');
    await server.call('POST', '/v1/api-keys', { key: key.plaintext, body: { name: 'one event, two endpoints' } });
    await deliveryWhere(prompt, (d) => d.status === 'succeeded', 'the prompt endpoint', key);
    // The hanging one is still on its first attempt (or has just timed out): never a success.
    const timedOut = await deliveryWhere(hanging, (d) => d.lastError !== null, 'the timeout', key);
    expect(timedOut.lastError).toBe('no answer within 2 s');
    expect(timedOut.status).not.toBe('succeeded');
  });

  test('a test ping reaches the endpoint, disabled or not, and nothing else reaches a disabled one', async () => {
    const key = await server.newKey();
    const endpoint = await register('/ping', { enabledEvents: ['api_key.created'], disabled: true }, key);
    await server.call('POST', '/v1/api-keys', { key: key.plaintext, body: { name: 'not for a disabled endpoint' } });
    expect(await deliveries(endpoint, key)).toEqual([]);
    const queued = await server.call<Body<'testWebhookEndpoint', 202>>(
      'POST',
      `/v1/webhook-endpoints/${endpoint.endpointId}/test`,
      { key: key.plaintext },
    );
    expect(queued.status, queued.text).toBe(202);
    expect(queued.body.data).toMatchObject({ eventType: 'ping', status: 'pending', attempts: 0 });
    const delivery = await waitFor(() => receiver.at('/ping')[0], 'the ping');
    const event = await verifyWebhook(delivery.body, delivery.headers as Record<string, string>, endpoint.secret);
    expect(event).toMatchObject({ type: 'ping', data: { endpointId: endpoint.endpointId } });
  });
});
