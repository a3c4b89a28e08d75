import { maskApiKey } from '../keys/api-key.ts';
import type { ApiKeyRecord } from '../store/sql-api-keys.ts';

// The events Mailroom sends to webhook endpoints, as the spec's top-level `webhooks` section documents them. Each is
// `{ type, timestamp, data }`; no payload ever carries a secret: a key is named by its id and its masked prefix.

/** Every event type an endpoint can subscribe to (`ping` is sent only by `POST …/test`, to that endpoint). */
export const EVENT_TYPES = [
  'api_key.created',
  'api_key.rotated',
  'api_key.revoked',
  'api_key.expiring',
  'api_key.expired',
  'api_key.leaked',
  'usage.anomaly',
] as const;

/** One event type an endpoint can subscribe to. */
export type EventType = (typeof EVENT_TYPES)[number];

/** What `enabledEvents` may hold: an event type, or `*` for all of them. */
export const ALL_EVENTS = '*';

/** An event not yet written: the organization it belongs to, its type and its data. */
export interface EventDraft {
  organizationId: string;
  type: EventType | 'ping';
  data: Record<string, unknown>;
  /** When it happened. */
  at: Date;
  /** Only this endpoint receives it (a test ping); otherwise every enabled endpoint subscribed to its type. */
  endpointId?: string;
}

/** What every api_key.* event says of the key: never the key or its hash. */
export function keyData(key: ApiKeyRecord): Record<string, unknown> {
  return {
    keyId: key.keyId,
    name: key.name,
    keyPrefix: maskApiKey(key.publicId),
    environment: key.environment,
    expirationTs: key.expiresAt ? key.expiresAt.toISOString() : null,
  };
}

/** The draft of an api_key.* event about `key`, with any more data. */
export function keyEvent(
  type: Exclude<EventType, 'usage.anomaly'>,
  key: ApiKeyRecord,
  at: Date,
  more: Record<string, unknown> = {},
): EventDraft {
  return { organizationId: key.organizationId, type, at, data: { ...keyData(key), ...more } };
}

/** The delivered body of an event: `{ type, timestamp, data }`. */
export function eventPayload(draft: Pick<EventDraft, 'type' | 'data' | 'at'>): Record<string, unknown> {
  return { type: draft.type, timestamp: draft.at.toISOString(), data: draft.data };
}
