import type { webhooks } from '../../generated/schema.d.ts';
import type { HeaderSource } from './rate-limit-headers.ts';

// The receiver's side of Mailroom's webhooks (Standard Webhooks): check `webhook-signature` against your endpoint's
// secrets, refuse a `webhook-timestamp` too far from now, and get the event, typed by the spec's `webhooks` section.
// Web Crypto only (no Node built-ins), so it runs in Node, Deno, Bun, workers and browsers alike; the HMAC comparison
// is Web Crypto's `verify`, which compares in constant time.

/** The body of an event Mailroom sends: `{ type, timestamp, data }`, one member per event of the spec's `webhooks`. */
export type WebhookEvent = {
  [Name in keyof webhooks]: NonNullable<webhooks[Name]['post']> extends {
    requestBody: { content: { 'application/json': infer Body } };
  }
    ? Body
    : never;
}[keyof webhooks];

/** One event type: `api_key.revoked`, `usage.anomaly`, … */
export type WebhookEventType = WebhookEvent['type'];

/** How far `webhook-timestamp` may be from now: 5 minutes, as Standard Webhooks recommends. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/** Why a delivery was refused; answer it with a 4xx (Mailroom retries anything but a 2xx, and stops at 410). */
export class WebhookVerificationError extends Error {
  override name = 'WebhookVerificationError';
}

/** Options of {@link verifyWebhook}. */
export interface VerifyWebhookOptions {
  /** Default 300 s. */
  toleranceSeconds?: number;
  /** The time to check the timestamp against (default now). */
  now?: Date;
}

function headerOf(headers: HeaderSource, name: string): string | undefined {
  if (headers instanceof Headers) {
    return headers.get(name) ?? undefined;
  }
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name && typeof value === 'string') {
      return value;
    }
  }
  return undefined;
}

function base64Bytes(text: string): Uint8Array<ArrayBuffer> | undefined {
  try {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes;
  } catch {
    return undefined;
  }
}

/**
 * Verifies a delivery and returns its event: `body` exactly as received (the raw text or bytes, not re-serialized
 * JSON), its headers, and the endpoint's secret (`whsec_…`) or several (while you roll a rotated one out). Throws
 * WebhookVerificationError when a header is missing, the timestamp is more than 5 minutes off, or no signature
 * matches any secret. Drop a `webhook-id` you have processed already: a delivery is at least once.
 */
export async function verifyWebhook(
  body: string | Uint8Array,
  headers: HeaderSource,
  secrets: string | readonly string[],
  options: VerifyWebhookOptions = {},
): Promise<WebhookEvent> {
  const id = headerOf(headers, 'webhook-id');
  const timestamp = headerOf(headers, 'webhook-timestamp');
  const signatures = headerOf(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures) {
    throw new WebhookVerificationError('missing webhook-id, webhook-timestamp or webhook-signature');
  }
  if (!/^\d+$/.test(timestamp)) {
    throw new WebhookVerificationError('webhook-timestamp is not a Unix time in seconds');
  }
  const now = (options.now ?? new Date()).getTime() / 1000;
  if (Math.abs(now - Number(timestamp)) > (options.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS)) {
    throw new WebhookVerificationError('webhook-timestamp is too far from now (a replay, or a clock off)');
  }
  const text = typeof body === 'string' ? body : new TextDecoder().decode(body);
  const signed = new TextEncoder().encode(`${id}.${timestamp}.${text}`);
  const offered = signatures
    .split(' ')
    .filter((entry) => entry.startsWith('v1,'))
    .map((entry) => base64Bytes(entry.slice(3)))
    .filter((bytes) => bytes !== undefined);
  for (const secret of typeof secrets === 'string' ? [secrets] : secrets) {
    const raw = base64Bytes(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret);
    if (!raw) {
      throw new WebhookVerificationError('a secret is not whsec_ followed by base64');
    }
    const key = await crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
    for (const signature of offered) {
      if (await crypto.subtle.verify('HMAC', key, signature, signed)) {
        return JSON.parse(text) as WebhookEvent;
      }
    }
  }
  throw new WebhookVerificationError('no signature matches the secrets');
}
