import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startWebhookReceiver, type WebhookReceiver } from '../../../src/contract/receiver.ts';
import { expectError } from '../helpers/call.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import type { Body } from '../helpers/spec.ts';

// The sandbox's clock (`POST /sandbox/clock`): moving it forward makes what takes time happen now — a key past its
// expiry is refused, and the expiry scan sends api_key.expiring and api_key.expired at once — and a reset returns it to
// the real time. Outside sandbox mode the path is unknown.

const DAY_S = 86_400;
let sandbox: TestServer;
let plain: TestServer;
let receiver: WebhookReceiver;

beforeAll(async () => {
  // The expiry scan's own interval is long here: only a clock jump can make it run during the test.
  sandbox = await startTestServer({
    sandbox: true,
    webhooks: { allowPrivate: true, pollMs: 50, expiryScanMs: 3_600_000 },
  });
  plain = await startTestServer();
  receiver = await startWebhookReceiver();
});
afterAll(async () => {
  await Promise.all([sandbox?.close(), plain?.close(), receiver?.close()]);
});

const advance = (key: string, body: unknown) =>
  sandbox.call<Body<'advanceSandboxClock', 200>>('POST', '/sandbox/clock', { key, body });
const typesFor = (path: string, keyId: string) =>
  receiver.deliveries
    .filter((d) => d.path === path && JSON.parse(d.body).data?.keyId === keyId)
    .map((d) => JSON.parse(d.body).type as string);

async function until(ready: () => boolean, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!ready() && Date.now() < deadline) {
    await new Promise((done) => setTimeout(done, 50));
  }
  return ready();
}

describe('the sandbox clock', () => {
  test('a day on, a key made to expire in a day is refused, and its expiring and expired events are sent', async () => {
    const admin = await sandbox.newKey({ name: 'clock admin' });
    const path = '/clock-events';
    const endpoint = await sandbox.call('POST', '/v1/webhook-endpoints', {
      key: admin.plaintext,
      body: { url: `${receiver.url}${path}`, enabledEvents: ['api_key.expiring', 'api_key.expired'] },
    });
    expect(endpoint.status).toBe(201);
    const made = await sandbox.call<Body<'createApiKey', 201>>('POST', '/v1/api-keys', {
      key: admin.plaintext,
      body: { name: 'expires in a day', expirationDays: 1 },
    });
    expect(made.status).toBe(201);
    const { keyId, apiKey } = made.body.data;
    expect((await sandbox.call('GET', '/v1/api-keys/validate', { key: apiKey })).status).toBe(200);

    // A minute on, far within the scan's interval: the jump itself makes the scan run, and it finds the key expiring.
    const minute = await advance(admin.plaintext, { advanceSeconds: 60 });
    expect(minute.status).toBe(200);
    expect(minute.body.data.offsetSeconds).toBe(60);
    expect(await until(() => typesFor(path, keyId).includes('api_key.expiring'))).toBe(true);
    expect((await sandbox.call('GET', '/v1/api-keys/validate', { key: apiKey })).status).toBe(200);

    const before = Date.now();
    const day = await advance(admin.plaintext, { advanceSeconds: DAY_S });
    expect(day.status).toBe(200);
    expect(day.body.data.offsetSeconds).toBe(DAY_S + 60);
    expect(Date.parse(day.body.data.now) - before).toBeGreaterThanOrEqual((DAY_S + 60) * 1000 - 1000);
    expectError(await sandbox.call('GET', '/v1/api-keys/validate', { key: apiKey }), 401, 'UNAUTHORIZED');
    expect(await until(() => typesFor(path, keyId).includes('api_key.expired'))).toBe(true);
    expect(typesFor(path, keyId)).toEqual(['api_key.expiring', 'api_key.expired']);

    // The reset returns the clock to the real time.
    const reset = await sandbox.call<Body<'resetSandbox', 200>>('POST', '/sandbox/reset', { key: admin.plaintext });
    expect(reset.status).toBe(200);
    expect(Math.abs(Date.parse(reset.body.data.resetAt) - Date.now())).toBeLessThan(60_000);
  });

  test('moves only forward, by whole seconds up to a year (422 naming advanceSeconds)', async () => {
    const admin = await sandbox.newKey({ name: 'clock bounds' });
    for (const advanceSeconds of [0, -5, 1.5, 31_536_001]) {
      const refused = expectError(await advance(admin.plaintext, { advanceSeconds }), 422, 'VALIDATION_ERROR');
      expect(JSON.stringify(refused.details)).toContain('advanceSeconds');
    }
    expectError(await advance(admin.plaintext, {}), 422, 'VALIDATION_ERROR');
  });

  test('is an unknown path outside sandbox mode', async () => {
    const key = await plain.newKey({ name: 'not a sandbox' });
    const response = await fetch(`${plain.url}/sandbox/clock`, {
      method: 'POST',
      headers: { 'X-API-Key': key.plaintext, 'Content-Type': 'application/json' },
      body: JSON.stringify({ advanceSeconds: 60 }),
    });
    expect(response.status).toBe(404);
    expect((await response.json()).error.code).toBe('RESOURCE_NOT_FOUND');
  });
});
