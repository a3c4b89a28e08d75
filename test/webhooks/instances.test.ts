import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LOWER_ALNUM, randomString } from '../../src/lib/ids.ts';
import type { ServerOptions } from '../../src/server/index.ts';
import { PG_URL, withAdmin } from '../helpers/postgres.ts';
import { startTestServer, type TestServer } from '../server/helpers/server.ts';
import type { Body } from '../server/helpers/spec.ts';
import { waitFor } from '../server/helpers/wait.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';

// Several instances on one PostgreSQL database: each event is delivered once in the normal case (the workers claim
// rows with FOR UPDATE SKIP LOCKED), and events written while no worker runs are delivered after a restart.

const SCHEMA = `mailroom_test_${randomString(8, LOWER_ALNUM)}_webhook_instances`;
let receiver: Receiver;
const servers: TestServer[] = [];

function startInstance(webhooks: ServerOptions['webhooks'] = {}): Promise<TestServer> {
  return startTestServer({
    store: { kind: 'postgres', url: PG_URL, schema: SCHEMA },
    webhooks: { allowPrivate: true, pollMs: 20, retrySchedule: [0.2, 0.2], ...webhooks },
  }).then((server) => {
    servers.push(server);
    return server;
  });
}

beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(async () => {
  for (const server of servers) {
    await server.close();
  }
  await receiver?.close();
  await withAdmin((admin) => admin.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`));
});

describe('several instances', () => {
  test('two instances polling one database deliver each event once', async () => {
    const [a, b] = [await startInstance(), await startInstance()];
    if (!a || !b) {
      throw new Error('no instances');
    }
    const key = await a.newKey();
    const registered = await a.call<Body<'createWebhookEndpoint', 201>>('POST', '/v1/webhook-endpoints', {
      key: key.plaintext,
      body: { url: `${receiver.url}/shared`, enabledEvents: ['api_key.created'] },
    });
    expect(registered.status, registered.text).toBe(201);
    // Events written through both instances, each nudging its own worker while the other polls.
    for (let i = 0; i < 20; i++) {
      const via = i % 2 === 0 ? a : b;
      const created = await via.call('POST', '/v1/api-keys', { key: key.plaintext, body: { name: `key ${i}` } });
      expect(created.status).toBe(201);
    }
    await waitFor(() => (receiver.at('/shared').length >= 20 ? true : undefined), '20 deliveries', 15_000);
    // Both workers keep polling a while longer: nothing is sent twice.
    await new Promise((done) => setTimeout(done, 500));
    const ids = receiver.at('/shared').map((r) => r.headers['webhook-id']);
    expect(ids).toHaveLength(20);
    expect(new Set(ids).size).toBe(20);
    const log = await a.call<Body<'listWebhookDeliveries', 200>>(
      'GET',
      `/v1/webhook-endpoints/${registered.body.data.endpointId}/deliveries`,
      { key: key.plaintext },
    );
    expect(log.body.data.every((d) => d.status === 'succeeded' && d.attempts === 1)).toBe(true);
  });

  test('events written while no worker runs are delivered once an instance with one starts', async () => {
    // No worker of the first test may send it meanwhile.
    await Promise.all(servers.map((server) => server.close()));
    const writer = await startInstance({ deliver: false });
    const key = await writer.newKey();
    const registered = await writer.call('POST', '/v1/webhook-endpoints', {
      key: key.plaintext,
      body: { url: `${receiver.url}/later`, enabledEvents: ['api_key.revoked'] },
    });
    expect(registered.status).toBe(201);
    const doomed = await writer.newKey({ organization: key.organization });
    expect((await writer.call('DELETE', `/v1/api-keys/${doomed.keyId}`, { key: key.plaintext })).status).toBe(200);
    await writer.close();
    expect(receiver.at('/later')).toHaveLength(0);

    await startInstance();
    const delivered = await waitFor(() => receiver.at('/later')[0], 'the delivery after the restart', 10_000);
    expect(JSON.parse(delivered.body)).toMatchObject({ type: 'api_key.revoked', data: { keyId: doomed.keyId } });
  });
});
