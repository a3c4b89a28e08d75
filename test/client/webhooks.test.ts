import { describe, expect, expectTypeOf, test } from 'vitest';
import {
  verifyWebhook,
  type WebhookEvent,
  type WebhookEventType,
  WebhookVerificationError,
} from '../../src/client/index.ts';
import { generateWebhookSecret, webhookHeaders } from '../../src/webhooks/signature.ts';

// The receiver's check against the server's own signing (src/webhooks/signature.ts): what it accepts, what it refuses
// and why, and the event type it returns.

const secret = generateWebhookSecret();
const body = JSON.stringify({
  type: 'api_key.revoked',
  timestamp: '2026-11-20T09:00:00.000Z',
  data: {
    keyId: 'key_4f7a2c9d1e0b3a68',
    name: 'CI',
    keyPrefix: 'mr_a1b2c3d4_****',
    environment: 'production',
    expirationTs: null,
  },
});
const now = Math.floor(Date.now() / 1000);
const signed = (secrets: string[] = [secret], at = now, id = 'evt_5e2b7d9f1a3c8e60') =>
  webhookHeaders(secrets, id, at, body);

describe('verifyWebhook', () => {
  test.each([
    ['a plain header record', () => signed(), secret],
    ['a Headers object', () => new Headers(signed()), secret],
    [
      'upper-case header names',
      () => Object.fromEntries(Object.entries(signed()).map(([k, v]) => [k.toUpperCase(), v])),
      secret,
    ],
    ['the secret without its whsec_ prefix', () => signed(), secret.slice('whsec_'.length)],
    ['one of several secrets', () => signed(), [generateWebhookSecret(), secret]],
    ['two signatures, one of them ours', () => signed([generateWebhookSecret(), secret]), secret],
    ['a timestamp 4 minutes old', () => signed([secret], now - 240), secret],
  ])('accepts %s', async (_what, headers, secrets) => {
    const event = await verifyWebhook(body, headers(), secrets);
    expect(event).toEqual(JSON.parse(body));
  });

  test('accepts the body as bytes', async () => {
    expect((await verifyWebhook(new TextEncoder().encode(body), signed(), secret)).type).toBe('api_key.revoked');
  });

  test.each([
    ['another secret', () => signed([generateWebhookSecret()]), body, /no signature matches/],
    ['a changed body', () => signed(), body.replace('CI', 'Cl'), /no signature matches/],
    ['a changed id', () => ({ ...signed(), 'webhook-id': 'evt_0000000000000000' }), body, /no signature matches/],
    ['a timestamp 6 minutes old', () => signed([secret], now - 360), body, /too far from now/],
    ['a timestamp 6 minutes ahead', () => signed([secret], now + 360), body, /too far from now/],
    ['a timestamp that is not a number', () => ({ ...signed(), 'webhook-timestamp': '12e3' }), body, /Unix time/],
    ['no signature header', () => ({ ...signed(), 'webhook-signature': '' }), body, /missing/],
    [
      'only a v2 signature',
      () => ({ ...signed(), 'webhook-signature': signed()['webhook-signature']?.replace('v1,', 'v2,') ?? '' }),
      body,
      /no signature matches/,
    ],
  ])('refuses %s', async (_what, headers, sent, reason) => {
    const refused = verifyWebhook(sent, headers(), secret);
    await expect(refused).rejects.toBeInstanceOf(WebhookVerificationError);
    await expect(refused).rejects.toThrow(reason);
  });

  test('the event is the union of the spec’s webhooks, narrowed by type', () => {
    expectTypeOf<WebhookEventType>().toEqualTypeOf<
      | 'api_key.created'
      | 'api_key.rotated'
      | 'api_key.revoked'
      | 'api_key.expiring'
      | 'api_key.expired'
      | 'api_key.leaked'
      | 'usage.anomaly'
      | 'ping'
    >();
    const read = (event: WebhookEvent) => (event.type === 'api_key.leaked' ? event.data.url : undefined);
    expectTypeOf(read).returns.toEqualTypeOf<string | undefined>();
  });
});
