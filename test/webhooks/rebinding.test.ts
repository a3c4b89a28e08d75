import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../server/helpers/server.ts';
import type { Body } from '../server/helpers/spec.ts';
import { waitFor } from '../server/helpers/wait.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';

// DNS rebinding: a name that resolved to a public address when its endpoint was saved, and to 127.0.0.1 when a
// delivery connects, is refused at the connection (the delivery resolves once and connects only to what it checked),
// and nothing reaches the local address. The connection resolves through the server's resolver and nothing else: with
// --allow-private-webhooks a name only that resolver knows (receiver.test → 127.0.0.1) is delivered to, which the
// system resolver behind a plain fetch could not have done.

type Delivery = Body<'listWebhookDeliveries', 200>['data'][number];

/** A TCP server on 127.0.0.1 that counts the connections it gets (a delivery that got through would be one). */
async function countingListener(): Promise<{ server: Server; port: number; connections: () => number }> {
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { server, port: (server.address() as AddressInfo).port, connections: () => connections };
}

describe('a name re-pointed at a private address after it was saved', () => {
  let server: TestServer;
  let listener: Awaited<ReturnType<typeof countingListener>>;
  /** What rebind.example.com resolves to now: public while the endpoint is saved, loopback afterwards. */
  let answer = ['93.184.215.14'];
  const lookups: string[] = [];

  beforeAll(async () => {
    listener = await countingListener();
    server = await startTestServer({
      webhooks: {
        pollMs: 50,
        retrySchedule: [],
        timeoutMs: 2000,
        resolve: async (host) => {
          lookups.push(host);
          if (host !== 'rebind.example.com') {
            throw new Error(`ENOTFOUND ${host}`);
          }
          return answer;
        },
      },
    });
  });
  afterAll(async () => {
    await server?.close();
    await new Promise((done) => listener?.server.close(done));
  });

  test('is refused where the delivery connects, and nothing reaches 127.0.0.1', async () => {
    const key = await server.newKey();
    const created = await server.call<Body<'createWebhookEndpoint', 201>>('POST', '/v1/webhook-endpoints', {
      key: key.plaintext,
      body: { url: `https://rebind.example.com:${listener.port}/hook` },
    });
    expect(created.status, created.text).toBe(201);
    const { endpointId } = created.body.data;
    answer = ['127.0.0.1'];
    const sent = await server.call('POST', `/v1/webhook-endpoints/${endpointId}/test`, { key: key.plaintext });
    expect(sent.status, sent.text).toBe(202);
    const failed = await waitFor(async () => {
      const reply = await server.call<Body<'listWebhookDeliveries', 200>>(
        'GET',
        `/v1/webhook-endpoints/${endpointId}/deliveries`,
        { key: key.plaintext },
      );
      return reply.body.data.find((d: Delivery) => d.status === 'failed');
    }, 'the delivery to fail');
    expect(failed).toMatchObject({
      attempts: 1,
      lastResponseStatus: null,
      lastError:
        'refused: the URL must not point at a loopback, private or link-local address (rebind.example.com resolves to 127.0.0.1)',
    });
    expect(listener.connections()).toBe(0);
    // Resolved once on save and once by the connection: no second lookup before connecting to be answered otherwise.
    expect(lookups).toEqual(['rebind.example.com', 'rebind.example.com']);
  });
});

describe('with --allow-private-webhooks', () => {
  let server: TestServer;
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await startReceiver();
    server = await startTestServer({
      webhooks: {
        allowPrivate: true,
        pollMs: 50,
        timeoutMs: 2000,
        resolve: async (host) => {
          if (host !== 'receiver.test') {
            throw new Error(`ENOTFOUND ${host}`);
          }
          return ['127.0.0.1'];
        },
      },
    });
  });
  afterAll(async () => {
    await server?.close();
    await receiver?.close();
  });

  test("a name that only the server's resolver knows is delivered to the address it gave", async () => {
    const key = await server.newKey();
    const created = await server.call<Body<'createWebhookEndpoint', 201>>('POST', '/v1/webhook-endpoints', {
      key: key.plaintext,
      body: { url: `${receiver.url.replace('127.0.0.1', 'receiver.test')}/local` },
    });
    expect(created.status, created.text).toBe(201);
    const sent = await server.call('POST', `/v1/webhook-endpoints/${created.body.data.endpointId}/test`, {
      key: key.plaintext,
    });
    expect(sent.status, sent.text).toBe(202);
    const [ping] = await waitFor(() => (receiver.at('/local').length > 0 ? receiver.at('/local') : undefined), 'ping');
    expect(JSON.parse(ping?.body ?? '{}')).toMatchObject({ type: 'ping' });
  });
});
