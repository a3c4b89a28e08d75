import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseSecretScanningKeys } from '../../src/webhooks/secret-scanning.ts';
import { type Receiver, startReceiver } from '../webhooks/helpers/receiver.ts';
import { expectError } from './helpers/call.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import type { Body } from './helpers/spec.ts';
import { waitFor } from './helpers/wait.ts';

// GitHub's secret-scanning partner endpoint with a real ECDSA P-256 key pair made here: GitHub's side signs with the
// private key, the server knows the public one (as MAILROOM_SECRET_SCANNING_PUBLIC_KEYS configures it).

const KEY_ID = 'bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c';
let privateKey: KeyObject;
let server: TestServer;
let receiver: Receiver;

beforeAll(async () => {
  const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  privateKey = pair.privateKey;
  const published = JSON.stringify([
    { key_identifier: KEY_ID, key: pair.publicKey.export({ type: 'spki', format: 'pem' }), is_current: true },
  ]);
  receiver = await startReceiver();
  server = await startTestServer({
    webhooks: { allowPrivate: true, pollMs: 50, secretScanningKeys: parseSecretScanningKeys(published) },
  });
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

/** Sends `raw` as GitHub does: signed with `signer` (default the configured key), under `identifier`. */
function report(raw: string, options: { signer?: KeyObject; identifier?: string; signature?: string } = {}) {
  const signature =
    options.signature ?? sign('sha256', Buffer.from(raw), { key: options.signer ?? privateKey, dsaEncoding: 'der' });
  return server.call<Body<'reportLeakedKeys', 200>>('POST', '/secret-scanning/github', {
    raw,
    headers: {
      'Github-Public-Key-Identifier': options.identifier ?? KEY_ID,
      'Github-Public-Key-Signature': typeof signature === 'string' ? signature : signature.toString('base64'),
    },
  });
}

describe('a leaked-key report', () => {
  test('revokes each live key at once, tells its webhooks, and answers feedback labels', async () => {
    const leaked = await server.newKey();
    const registered = await server.call<Body<'createWebhookEndpoint', 201>>('POST', '/v1/webhook-endpoints', {
      key: leaked.plaintext,
      body: { url: `${receiver.url}/leaks`, enabledEvents: ['api_key.leaked'] },
    });
    expect(registered.status, registered.text).toBe(201);
    const mistyped = `${leaked.plaintext.slice(0, -1)}${leaked.plaintext.endsWith('A') ? 'B' : 'A'}`;
    const body = JSON.stringify([
      {
        token: leaked.plaintext,
        type: 'mailroom_api_key',
        url: 'https://github.com/o/r/blob/1/x.js',
        source: 'content',
      },
      { token: mistyped, type: 'mailroom_api_key', url: 'https://github.com/o/r/blob/1/y.js', source: 'content' },
      { token: 'mr_00000000_not-even-a-key', type: 'mailroom_api_key', url: '', source: 'gist' },
    ]);
    const reply = await report(body);
    expect(reply.status, reply.text).toBe(200);
    expect(reply.body).toEqual([
      { token_raw: leaked.plaintext, token_type: 'mailroom_api_key', label: 'true_positive' },
      { token_raw: mistyped, token_type: 'mailroom_api_key', label: 'false_positive' },
      { token_raw: 'mr_00000000_not-even-a-key', token_type: 'mailroom_api_key', label: 'false_positive' },
    ]);
    expectError(await server.call('GET', '/v1/health', { key: leaked.plaintext }), 401, 'UNAUTHORIZED');
    const delivery = await waitFor(() => receiver.at('/leaks')[0], 'the api_key.leaked delivery');
    expect(JSON.parse(delivery.body)).toMatchObject({
      type: 'api_key.leaked',
      data: { keyId: leaked.keyId, revoked: true, url: 'https://github.com/o/r/blob/1/x.js', source: 'content' },
    });
    expect(delivery.body).not.toContain(leaked.plaintext.split('_')[2]);

    // The same report again: harmless (the key stays revoked, no second event).
    const again = await report(body);
    expect(again.status).toBe(200);
    expect(again.body[0]?.label).toBe('true_positive');
    await new Promise((done) => setTimeout(done, 300));
    expect(receiver.at('/leaks')).toHaveLength(1);
  });

  test('is refused with 401, and revokes nothing, when unsigned, signed by another key or under an unknown id', async () => {
    const live = await server.newKey();
    const body = JSON.stringify([{ token: live.plaintext, type: 'mailroom_api_key', url: '', source: 'content' }]);
    const stranger = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    const unsigned = await server.call('POST', '/secret-scanning/github', { raw: body });
    expectError(unsigned, 401, 'UNAUTHORIZED');
    expectError(await report(body, { signer: stranger }), 401, 'UNAUTHORIZED');
    expectError(await report(body, { identifier: 'f'.repeat(64) }), 401, 'UNAUTHORIZED');
    expectError(await report(body, { signature: 'bm90IGEgc2lnbmF0dXJl' }), 401, 'UNAUTHORIZED');
    // A signature over another body does not cover this one.
    const other = sign('sha256', Buffer.from('[]'), { key: privateKey, dsaEncoding: 'der' }).toString('base64');
    expectError(await report(body, { signature: other }), 401, 'UNAUTHORIZED');
    expect((await server.call('GET', '/v1/health', { key: live.plaintext })).status).toBe(200);
  });

  test('is refused, and revokes nothing, when malformed, oversized or over 1,000 tokens', async () => {
    const live = await server.newKey();
    const entry = { token: live.plaintext, type: 'mailroom_api_key', url: '', source: 'content' };
    expectError(await report('[{"token": '), 400, 'BAD_REQUEST');
    expectError(await report(JSON.stringify({ token: live.plaintext })), 422, 'VALIDATION_ERROR');
    expectError(await report(JSON.stringify([])), 422, 'VALIDATION_ERROR');
    const many = JSON.stringify([entry, ...Array.from({ length: 1000 }, () => ({ token: 'x', type: 't' }))]);
    expectError(await report(many), 422, 'VALIDATION_ERROR');
    const huge = JSON.stringify([{ ...entry, url: 'x'.repeat(110 * 1024) }]);
    expectError(await report(huge), 413, 'PAYLOAD_TOO_LARGE');
    expect((await server.call('GET', '/v1/health', { key: live.plaintext })).status).toBe(200);
  });
});
