-- Mailroom schema, version 8: webhook endpoints, the event outbox and its deliveries. Depends on 001 and 005 only
-- (006 and 007 belong to other changes and may land in any order). migrate.ts wraps this file in a transaction; do not
-- add BEGIN/COMMIT here.

-- Every key keeps its shorthand, so none behaves differently: a `full` key (it held every permission) gets both new
-- ones, a `read_only` key (every :read one) gets webhooks:read; any other (restricted) set is left as it is.
UPDATE api_keys SET permissions = permissions || ARRAY['webhooks:read', 'webhooks:write']
WHERE permissions @> ARRAY['api_keys:read', 'api_keys:write', 'contacts:read', 'contacts:write']
  AND cardinality(permissions) = 4;
UPDATE api_keys SET permissions = permissions || ARRAY['webhooks:read']
WHERE permissions @> ARRAY['api_keys:read', 'contacts:read'] AND cardinality(permissions) = 2;

-- Where an organization wants its events. The signing secret (`whsec_…`) is needed to sign, so it is stored sealed
-- (AES-256-GCM under a key derived from the server secret: iv || tag || ciphertext), never readable. During a
-- rotation the previous secret signs too, until previous_secret_expires_at.
CREATE TABLE webhook_endpoints (
  endpoint_id text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations (organization_id) ON DELETE CASCADE,
  url text NOT NULL CHECK (char_length(url) <= 2048),
  description text CHECK (char_length(description) <= 500),
  -- Event types, or '*' for every type.
  enabled_events text[] NOT NULL CHECK (cardinality(enabled_events) > 0),
  disabled boolean NOT NULL DEFAULT false,
  -- Why the server disabled it (a 410 from the receiver), or NULL.
  disabled_reason text,
  secret_sealed bytea NOT NULL,
  previous_secret_sealed bytea,
  previous_secret_expires_at timestamptz(3),
  created_at timestamptz(3) NOT NULL,
  updated_at timestamptz(3) NOT NULL
);
CREATE INDEX webhook_endpoints_organization_idx ON webhook_endpoints (organization_id, created_at);

-- The outbox: one row per event, written in the same transaction as the change that causes it. Payload = the event
-- exactly as it is delivered ({type, timestamp, data}); it never holds a secret.
CREATE TABLE webhook_events (
  event_id text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations (organization_id) ON DELETE CASCADE,
  type text NOT NULL,
  -- text, not jsonb: the bytes signed and sent are exactly the bytes written, on every attempt.
  payload text NOT NULL,
  created_at timestamptz(3) NOT NULL
);

-- One row per (event, endpoint) that should receive it, fanned out in the same transaction as the event. The workers
-- of every instance claim due rows with FOR UPDATE SKIP LOCKED and lease them while they send, so a row is sent by one
-- worker at a time, and a worker that dies mid-send leaves a lease that runs out (delivery survives a restart).
CREATE TABLE webhook_deliveries (
  delivery_id text PRIMARY KEY,
  event_id text NOT NULL REFERENCES webhook_events (event_id) ON DELETE CASCADE,
  endpoint_id text NOT NULL REFERENCES webhook_endpoints (endpoint_id) ON DELETE CASCADE,
  status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz(3),
  lease_until timestamptz(3),
  last_attempt_at timestamptz(3),
  last_response_status integer,
  last_error text CHECK (char_length(last_error) <= 500),
  created_at timestamptz(3) NOT NULL
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at DESC);

-- The expiry scan sends api_key.expiring once (7 days before) and api_key.expired once: when each was sent.
ALTER TABLE api_keys
  ADD COLUMN expiring_notified_at timestamptz(3),
  ADD COLUMN expired_notified_at timestamptz(3);
-- Keys that expired before this migration are not announced now, years late.
UPDATE api_keys SET expired_notified_at = expires_at WHERE expires_at <= now();
