import type { components } from '../../../generated/schema.d.ts';
import type { MailroomAccountClient } from '../api.ts';

/** A webhook endpoint as listed (its secret is never in it). */
export type Endpoint = components['schemas']['WebhookEndpoint'];

/** One event's delivery to an endpoint. */
export type Delivery = components['schemas']['WebhookDelivery'];

/** An event type an endpoint subscribes to, or `*` for all. */
export type EventType = components['schemas']['WebhookEventType'];

/**
 * What the webhooks pages pass around: the signed-in user's client and the organization whose endpoints they manage,
 * through the `/organizations/{organizationId}/webhook-endpoints` twins of the `/v1` operations (any member may).
 */
export interface WebhooksApi {
  client: MailroomAccountClient;
  organizationId: string;
}

/**
 * Each subscribable event with what it says, in the order offered. A record, so an event type the spec adds
 * (WebhookEventType.yaml) fails the type check here until it is described.
 */
const EVENTS: Record<Exclude<EventType, '*'>, string> = {
  'api_key.created': 'A key was created.',
  'api_key.rotated': 'A key was rotated (the old one is in its grace period).',
  'api_key.revoked': 'A key was revoked.',
  'api_key.expiring': 'A key expires in 7 days (sent once).',
  'api_key.expired': 'A key expired.',
  'api_key.leaked': 'A key was found in public (GitHub secret scanning) and revoked.',
  'usage.anomaly': 'Unusual activity: a burst of refused requests with a key.',
};

/** The subscribable events, with their descriptions. */
export const EVENT_TYPES = Object.entries(EVENTS) as [Exclude<EventType, '*'>, string][];
