import { newId } from '../lib/ids.ts';
import type { EventDraft } from '../webhooks/events.ts';
import { eventPayload } from '../webhooks/events.ts';
import type { Db, Queryable } from './db.ts';
import { toDate, toDateOrNull } from './rows.ts';

/** A webhook endpoint as stored: its secrets only sealed (src/webhooks/seal.ts). */
export interface WebhookEndpointRecord {
  endpointId: string;
  organizationId: string;
  url: string;
  description: string | null;
  /** Event types, or `*` for every one. */
  enabledEvents: string[];
  disabled: boolean;
  /** Why the server disabled it (the receiver answered 410), or null. */
  disabledReason: string | null;
  secretSealed: Uint8Array;
  previousSecretSealed: Uint8Array | null;
  previousSecretExpiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** Fields of a new endpoint. */
export type NewWebhookEndpoint = Omit<
  WebhookEndpointRecord,
  'disabledReason' | 'previousSecretSealed' | 'previousSecretExpiresAt' | 'updatedAt'
>;

/** What a PATCH may change. */
export interface WebhookEndpointPatch {
  url?: string;
  description?: string | null;
  enabledEvents?: string[];
  disabled?: boolean;
}

/** The state of one delivery (one event to one endpoint). */
export interface WebhookDeliveryRecord {
  deliveryId: string;
  eventId: string;
  endpointId: string;
  eventType: string;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  nextAttemptAt: Date | null;
  lastAttemptAt: Date | null;
  lastResponseStatus: number | null;
  lastError: string | null;
  createdAt: Date;
}

/** A delivery a worker has claimed: what it sends and where, with the endpoint's sealed secrets. */
export interface ClaimedDelivery {
  deliveryId: string;
  eventId: string;
  eventType: string;
  endpointId: string;
  /** Attempts made so far, this one included. */
  attempts: number;
  /** The exact body to send (and sign). */
  payload: string;
  url: string;
  disabled: boolean;
  secretSealed: Uint8Array;
  previousSecretSealed: Uint8Array | null;
  previousSecretExpiresAt: Date | null;
}

/** The outcome of one attempt. */
export interface AttemptOutcome {
  status: 'pending' | 'succeeded' | 'failed';
  nextAttemptAt: Date | null;
  at: Date;
  responseStatus: number | null;
  error: string | null;
}

/** Webhook endpoints, the event outbox and its deliveries. */
export interface WebhookStore {
  insertWebhookEndpoint(endpoint: NewWebhookEndpoint): Promise<WebhookEndpointRecord>;
  /** The organization's endpoints, oldest first. */
  listWebhookEndpoints(organizationId: string): Promise<WebhookEndpointRecord[]>;
  getWebhookEndpoint(organizationId: string, endpointId: string): Promise<WebhookEndpointRecord | null>;
  /** Applies `patch`; re-enabling clears disabledReason. Null when missing or of another organization. */
  updateWebhookEndpoint(
    organizationId: string,
    endpointId: string,
    patch: WebhookEndpointPatch,
    at: Date,
  ): Promise<WebhookEndpointRecord | null>;
  /** Deletes an endpoint and its deliveries; false when missing. */
  deleteWebhookEndpoint(organizationId: string, endpointId: string): Promise<boolean>;
  /** Makes `sealed` the secret; the current one keeps signing until `previousExpiresAt`. */
  rotateWebhookSecret(
    organizationId: string,
    endpointId: string,
    sealed: Uint8Array,
    previousExpiresAt: Date,
    at: Date,
  ): Promise<WebhookEndpointRecord | null>;
  /** Disables an endpoint on the server's own account (the receiver answered 410 Gone). */
  disableWebhookEndpoint(endpointId: string, reason: string, at: Date): Promise<void>;
  /** Writes events to the outbox, and a delivery for every endpoint that wants each, in one transaction. */
  enqueueWebhookEvents(drafts: EventDraft[]): Promise<WebhookDeliveryRecord[]>;
  /**
   * Claims up to `limit` due deliveries for `leaseMs` (FOR UPDATE SKIP LOCKED: several workers, on several
   * instances, never claim the same row), counting the attempt.
   */
  claimWebhookDeliveries(now: Date, leaseMs: number, limit: number): Promise<ClaimedDelivery[]>;
  /** Records an attempt's outcome and releases the lease. */
  recordWebhookAttempt(deliveryId: string, outcome: AttemptOutcome): Promise<void>;
  /** Gives a claimed delivery back without counting the attempt (the worker is stopping). */
  releaseWebhookDelivery(deliveryId: string): Promise<void>;
  /** The endpoint's deliveries, newest first (at most `limit`); null when the endpoint is not the organization's. */
  listWebhookDeliveries(
    organizationId: string,
    endpointId: string,
    limit: number,
  ): Promise<WebhookDeliveryRecord[] | null>;
  /** Makes a delivery due now (pending again); null when it is not one of that endpoint's. */
  retryWebhookDelivery(
    organizationId: string,
    endpointId: string,
    deliveryId: string,
    at: Date,
  ): Promise<WebhookDeliveryRecord | null>;
}

interface EndpointRow {
  endpoint_id: string;
  organization_id: string;
  url: string;
  description: string | null;
  enabled_events: string[];
  disabled: boolean;
  disabled_reason: string | null;
  secret_sealed: Uint8Array;
  previous_secret_sealed: Uint8Array | null;
  previous_secret_expires_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const ENDPOINT_COLUMNS =
  'endpoint_id, organization_id, url, description, enabled_events, disabled, disabled_reason, secret_sealed, previous_secret_sealed, previous_secret_expires_at, created_at, updated_at';

function toEndpoint(row: EndpointRow): WebhookEndpointRecord {
  return {
    endpointId: row.endpoint_id,
    organizationId: row.organization_id,
    url: row.url,
    description: row.description,
    enabledEvents: row.enabled_events,
    disabled: row.disabled,
    disabledReason: row.disabled_reason,
    secretSealed: row.secret_sealed,
    previousSecretSealed: row.previous_secret_sealed,
    previousSecretExpiresAt: toDateOrNull(row.previous_secret_expires_at),
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

interface DeliveryRow {
  delivery_id: string;
  event_id: string;
  endpoint_id: string;
  event_type: string;
  status: WebhookDeliveryRecord['status'];
  attempts: number;
  next_attempt_at: Date | null;
  last_attempt_at: Date | null;
  last_response_status: number | null;
  last_error: string | null;
  created_at: Date;
}

const DELIVERY_COLUMNS =
  'd.delivery_id, d.event_id, d.endpoint_id, e.type AS event_type, d.status, d.attempts, d.next_attempt_at, d.last_attempt_at, d.last_response_status, d.last_error, d.created_at';

function toDelivery(row: DeliveryRow): WebhookDeliveryRecord {
  return {
    deliveryId: row.delivery_id,
    eventId: row.event_id,
    endpointId: row.endpoint_id,
    eventType: row.event_type,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: toDateOrNull(row.next_attempt_at),
    lastAttemptAt: toDateOrNull(row.last_attempt_at),
    lastResponseStatus: row.last_response_status,
    lastError: row.last_error,
    createdAt: toDate(row.created_at),
  };
}

/**
 * Writes `drafts` to the outbox in the caller's transaction: the event, and a pending delivery, due at once, for every
 * enabled endpoint of its organization subscribed to its type (or only the draft's endpoint, enabled or not: a test
 * ping). This is
 * what makes an event durable exactly when the change that causes it is: the key stores call it inside their own
 * transaction, so a change that fails writes no event, and one that commits cannot lose its event.
 */
export async function writeWebhookEvents(
  q: Queryable,
  drafts: readonly EventDraft[],
): Promise<WebhookDeliveryRecord[]> {
  const deliveries: WebhookDeliveryRecord[] = [];
  for (const draft of drafts) {
    const eventId = newId('evt');
    await q.query(
      'INSERT INTO webhook_events (event_id, organization_id, type, payload, created_at) VALUES ($1, $2, $3, $4, $5)',
      [eventId, draft.organizationId, draft.type, JSON.stringify(eventPayload(draft)), draft.at],
    );
    const { rows } = await q.query<DeliveryRow>(
      `INSERT INTO webhook_deliveries AS d (delivery_id, event_id, endpoint_id, status, next_attempt_at, created_at)
       SELECT 'dlv_' || substr(replace(gen_random_uuid()::text, '-', ''), 1, 16), $1, endpoint_id, 'pending', $4, $4
       FROM webhook_endpoints
       WHERE organization_id = $2
         AND ($5::text IS NOT NULL OR (NOT disabled AND ($3 = ANY (enabled_events) OR '*' = ANY (enabled_events))))
         AND ($5::text IS NULL OR endpoint_id = $5::text)
       RETURNING d.delivery_id, d.event_id, d.endpoint_id, $3 AS event_type, d.status, d.attempts, d.next_attempt_at,
         d.last_attempt_at, d.last_response_status, d.last_error, d.created_at`,
      [eventId, draft.organizationId, draft.type, draft.at, draft.endpointId ?? null],
    );
    deliveries.push(...rows.map(toDelivery));
  }
  return deliveries;
}

/** The webhook statements, run on `db`: the endpoints, and the outbox with its deliveries. */
export function webhookStatements(db: Db): WebhookStore {
  return { ...endpointStatements(db), ...deliveryStatements(db) };
}

type DeliveryStatementNames =
  | 'enqueueWebhookEvents'
  | 'claimWebhookDeliveries'
  | 'recordWebhookAttempt'
  | 'releaseWebhookDelivery'
  | 'listWebhookDeliveries'
  | 'retryWebhookDelivery';

/** Where events go: an organization's endpoints and their sealed secrets. */
function endpointStatements(db: Db): Omit<WebhookStore, DeliveryStatementNames> {
  return {
    async insertWebhookEndpoint(endpoint) {
      const { rows } = await db.query<EndpointRow>(
        `INSERT INTO webhook_endpoints
           (endpoint_id, organization_id, url, description, enabled_events, disabled, secret_sealed, created_at,
            updated_at)
         VALUES ($1, $2, $3, $4, $5::text[], $6, $7, $8, $8)
         RETURNING ${ENDPOINT_COLUMNS}`,
        [
          endpoint.endpointId,
          endpoint.organizationId,
          endpoint.url,
          endpoint.description,
          endpoint.enabledEvents,
          endpoint.disabled,
          endpoint.secretSealed,
          endpoint.createdAt,
        ],
      );
      return toEndpoint(rows[0] as EndpointRow);
    },

    async listWebhookEndpoints(organizationId) {
      const { rows } = await db.query<EndpointRow>(
        `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE organization_id = $1 ORDER BY created_at, endpoint_id`,
        [organizationId],
      );
      return rows.map(toEndpoint);
    },

    async getWebhookEndpoint(organizationId, endpointId) {
      const { rows } = await db.query<EndpointRow>(
        `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE organization_id = $1 AND endpoint_id = $2`,
        [organizationId, endpointId],
      );
      return rows[0] ? toEndpoint(rows[0]) : null;
    },

    async updateWebhookEndpoint(organizationId, endpointId, patch, at) {
      const { rows } = await db.query<EndpointRow>(
        `UPDATE webhook_endpoints SET
           url = coalesce($3, url),
           description = CASE WHEN $4::boolean THEN $5::text ELSE description END,
           enabled_events = coalesce($6::text[], enabled_events),
           disabled = coalesce($7::boolean, disabled),
           disabled_reason = CASE WHEN $7::boolean IS NOT NULL THEN NULL ELSE disabled_reason END,
           updated_at = $8
         WHERE organization_id = $1 AND endpoint_id = $2
         RETURNING ${ENDPOINT_COLUMNS}`,
        [
          organizationId,
          endpointId,
          patch.url ?? null,
          patch.description !== undefined,
          patch.description ?? null,
          patch.enabledEvents ?? null,
          patch.disabled ?? null,
          at,
        ],
      );
      return rows[0] ? toEndpoint(rows[0]) : null;
    },

    async deleteWebhookEndpoint(organizationId, endpointId) {
      const { rows } = await db.query<{ endpoint_id: string }>(
        'DELETE FROM webhook_endpoints WHERE organization_id = $1 AND endpoint_id = $2 RETURNING endpoint_id',
        [organizationId, endpointId],
      );
      return rows.length > 0;
    },

    async rotateWebhookSecret(organizationId, endpointId, sealed, previousExpiresAt, at) {
      const { rows } = await db.query<EndpointRow>(
        `UPDATE webhook_endpoints SET previous_secret_sealed = secret_sealed, previous_secret_expires_at = $4,
           secret_sealed = $3, updated_at = $5
         WHERE organization_id = $1 AND endpoint_id = $2
         RETURNING ${ENDPOINT_COLUMNS}`,
        [organizationId, endpointId, sealed, previousExpiresAt, at],
      );
      return rows[0] ? toEndpoint(rows[0]) : null;
    },

    async disableWebhookEndpoint(endpointId, reason, at) {
      await db.query(
        'UPDATE webhook_endpoints SET disabled = true, disabled_reason = $2, updated_at = $3 WHERE endpoint_id = $1',
        [endpointId, reason, at],
      );
    },
  };
}

/** The outbox: events written with the changes that cause them, and each endpoint's delivery of them. */
function deliveryStatements(db: Db): Pick<WebhookStore, DeliveryStatementNames> {
  return {
    async enqueueWebhookEvents(drafts) {
      return drafts.length === 0 ? [] : db.transaction((tx) => writeWebhookEvents(tx, drafts));
    },

    async claimWebhookDeliveries(now, leaseMs, limit) {
      const { rows } = await db.query<{
        delivery_id: string;
        event_id: string;
        event_type: string;
        endpoint_id: string;
        attempts: number;
        payload: string;
        url: string;
        disabled: boolean;
        secret_sealed: Uint8Array;
        previous_secret_sealed: Uint8Array | null;
        previous_secret_expires_at: Date | null;
      }>(
        `WITH due AS (
           SELECT delivery_id FROM webhook_deliveries
           WHERE status = 'pending' AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)
           ORDER BY next_attempt_at, delivery_id
           LIMIT $3
           FOR UPDATE SKIP LOCKED
         )
         UPDATE webhook_deliveries d SET lease_until = $2, attempts = d.attempts + 1
         FROM due, webhook_events e, webhook_endpoints w
         WHERE d.delivery_id = due.delivery_id AND e.event_id = d.event_id AND w.endpoint_id = d.endpoint_id
         RETURNING d.delivery_id, d.event_id, e.type AS event_type, d.endpoint_id, d.attempts, e.payload, w.url,
           w.disabled, w.secret_sealed,
           w.previous_secret_sealed, w.previous_secret_expires_at`,
        [now, new Date(now.getTime() + leaseMs), limit],
      );
      return rows.map((row) => ({
        deliveryId: row.delivery_id,
        eventId: row.event_id,
        eventType: row.event_type,
        endpointId: row.endpoint_id,
        attempts: row.attempts,
        payload: row.payload,
        url: row.url,
        disabled: row.disabled,
        secretSealed: row.secret_sealed,
        previousSecretSealed: row.previous_secret_sealed,
        previousSecretExpiresAt: toDateOrNull(row.previous_secret_expires_at),
      }));
    },

    async recordWebhookAttempt(deliveryId, outcome) {
      await db.query(
        `UPDATE webhook_deliveries SET status = $2, next_attempt_at = $3, lease_until = NULL, last_attempt_at = $4,
           last_response_status = $5, last_error = $6
         WHERE delivery_id = $1`,
        [
          deliveryId,
          outcome.status,
          outcome.nextAttemptAt,
          outcome.at,
          outcome.responseStatus,
          outcome.error?.slice(0, 500) ?? null,
        ],
      );
    },

    async releaseWebhookDelivery(deliveryId) {
      await db.query(
        'UPDATE webhook_deliveries SET lease_until = NULL, attempts = greatest(attempts - 1, 0) WHERE delivery_id = $1',
        [deliveryId],
      );
    },

    async listWebhookDeliveries(organizationId, endpointId, limit) {
      const { rows: owned } = await db.query(
        'SELECT 1 FROM webhook_endpoints WHERE organization_id = $1 AND endpoint_id = $2',
        [organizationId, endpointId],
      );
      if (owned.length === 0) {
        return null;
      }
      const { rows } = await db.query<DeliveryRow>(
        `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_events e USING (event_id)
         WHERE d.endpoint_id = $1 ORDER BY d.created_at DESC, d.delivery_id DESC LIMIT $2`,
        [endpointId, limit],
      );
      return rows.map(toDelivery);
    },

    async retryWebhookDelivery(organizationId, endpointId, deliveryId, at) {
      const { rows } = await db.query<DeliveryRow>(
        `WITH retried AS (
           UPDATE webhook_deliveries d SET status = 'pending', next_attempt_at = $4, lease_until = NULL
           FROM webhook_endpoints w
           WHERE w.endpoint_id = d.endpoint_id AND w.organization_id = $1 AND d.endpoint_id = $2 AND d.delivery_id = $3
           RETURNING d.*
         )
         SELECT ${DELIVERY_COLUMNS} FROM retried d JOIN webhook_events e USING (event_id)`,
        [organizationId, endpointId, deliveryId, at],
      );
      return rows[0] ? toDelivery(rows[0]) : null;
    },
  };
}
