import { createHmac, randomBytes } from 'node:crypto';

// Standard Webhooks (standardwebhooks.com) signing: `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
// under the bytes of a `whsec_<base64>` secret; several signatures, space-separated, while a rotation's two secrets
// both sign. The receiver's side is `verifyWebhook` in the client (src/client/webhooks.ts).

/** The prefix of every webhook signing secret. */
export const SECRET_PREFIX = 'whsec_';

/** A new signing secret: `whsec_` + 32 random bytes in base64 (what Standard Webhooks libraries accept). */
export function generateWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}

/** The key bytes of a `whsec_` secret. */
function secretBytes(secret: string): Buffer {
  return Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
}

/** `v1,<signature>` of one secret. */
export function signPayload(secret: string, id: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secretBytes(secret)).update(`${id}.${timestamp}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/** The three Standard Webhooks headers of one delivery attempt, signed with every given secret. */
export function webhookHeaders(
  secrets: readonly string[],
  id: string,
  timestamp: number,
  body: string,
): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((secret) => signPayload(secret, id, timestamp, body)).join(' '),
  };
}
