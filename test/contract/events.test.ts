// The contract run's events phase on its own (src/contract/events.ts): against the reference server, every webhook
// delivery it causes verifies and matches the spec, and a fresh key's requests are counted; against a spec whose
// webhook schema differs from what the server sends, or a hop that drops a request-log entry, its case fails under
// the check class that caught it.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaseBook } from '../../src/contract/cases.ts';
import { RunClient } from '../../src/contract/client.ts';
import { runEventChecks } from '../../src/contract/events.ts';
import { Created } from '../../src/contract/fixtures.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../src/contract/receiver.ts';
import { BUNDLED_SPEC, type Json, readSpec } from '../../src/contract/spec.ts';
import { parseSecretScanningKeys } from '../../src/webhooks/secret-scanning.ts';
import { startTestServer, type TestServer } from '../server/helpers/server.ts';
import { type ResponseDrift, startDriftHop } from './helpers/drift-proxy.ts';

const KEY_ID = 'events-test-scanner';
const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const secretScanning = {
  keyIdentifier: KEY_ID,
  privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
};
let server: TestServer;
let receiver: WebhookReceiver;
let doc: Json;

beforeAll(async () => {
  server = await startTestServer({
    webhooks: {
      allowPrivate: true,
      pollMs: 50,
      expiryScanMs: 500,
      secretScanningKeys: parseSecretScanningKeys(
        JSON.stringify([{ key_identifier: KEY_ID, key: pair.publicKey.export({ type: 'spki', format: 'pem' }) }]),
      ),
    },
  });
  receiver = await startWebhookReceiver();
  doc = await readSpec(BUNDLED_SPEC);
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

/** The events phase against `target` (the server, or a hop in front of it), checked against `spec`. */
async function eventsPhase(spec: Json, drift?: ResponseDrift) {
  const hop = drift ? await startDriftHop(server.url, { drift, forwardedFor: '203.0.113.21' }) : undefined;
  const runId = Math.random().toString(36).slice(2, 8);
  const book = new CaseBook(new RunClient(hop?.url ?? server.url, runId));
  const apiKey = (await server.newKey({ name: 'events admin' })).plaintext;
  try {
    await runEventChecks({
      book,
      spec,
      apiKey,
      receiver,
      created: new Created(),
      runId,
      secretScanning,
      patienceMs: 3000,
    });
  } finally {
    await hop?.close();
  }
  return { book, runId };
}

const byName = (book: CaseBook, prefix: string) => book.results.find((c) => c.name.startsWith(prefix));

describe('the events phase', () => {
  it('passes against the reference server, having checked each event type it caused', async () => {
    const { book, runId } = await eventsPhase(doc);
    expect(book.results.map((c) => [c.name, c.outcome, c.messages.join('\n')])).toEqual([
      [expect.stringMatching(/^webhook-delivery: /), 'passed', ''],
      [expect.stringMatching(/^usage-count: /), 'passed', ''],
    ]);
    const types = receiver.deliveries
      .filter((d) => d.path === `/events/${runId}`)
      .map((d) => JSON.parse(d.body).type)
      .sort();
    expect(new Set(types)).toEqual(
      new Set([
        'api_key.created',
        'api_key.expiring',
        'api_key.leaked',
        'api_key.revoked',
        'api_key.rotated',
        'ping',
        'usage.anomaly',
      ]),
    );
  });

  it('fails webhook-delivery when a payload does not match the spec', async () => {
    const drifted = structuredClone(doc);
    // The spec now wants a field the server never sends in api_key.created's data.
    const media = drifted.webhooks['api_key.created'].post.requestBody.content['application/json'];
    media.schema = { allOf: [media.schema, { required: ['mandatoryExtra'] }] };
    const { book } = await eventsPhase(drifted);
    const failed = byName(book, 'webhook-delivery');
    expect(failed?.outcome).toBe('failed');
    expect(failed?.messages.join('\n')).toMatch(/\[webhook-delivery\] api_key\.created: the payload does not match/);
  });

  it('fails usage-count when the request log loses an entry', async () => {
    const dropOne: ResponseDrift = (response, request) => {
      const body = response.body as { data?: unknown[] };
      if (request.url.startsWith('/v1/request-logs') && Array.isArray(body?.data) && body.data.length > 0) {
        body.data = body.data.slice(1);
      }
    };
    const { book } = await eventsPhase(doc, dropOne);
    const failed = byName(book, 'usage-count');
    expect(failed?.outcome).toBe('failed');
    expect(failed?.messages.join('\n')).toMatch(
      /\[usage-count\] GET \/v1\/request-logs\?keyId=\S+ listed 3 entries for 4/,
    );
  });
});
