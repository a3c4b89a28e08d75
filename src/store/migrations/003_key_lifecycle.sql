-- Mailroom schema, version 3: key rotation and stored idempotent outcomes. Depends on 001 only.
-- migrate.ts wraps this file in a transaction; do not add BEGIN/COMMIT here.

-- A rotated key keeps working until its (shortened) expires_at: the grace period. rotated_at says when it was
-- rotated (the Deprecation header) and replaced_by names its successor; a key is rotated at most once.
ALTER TABLE api_keys ADD COLUMN rotated_at timestamptz(3);
ALTER TABLE api_keys ADD COLUMN replaced_by text REFERENCES api_keys (key_id);

-- The outcome of a request sent with an Idempotency-Key, kept 24 hours, so a retry (on any instance) replays it.
-- Scoped to the organization and the caller's principal (an API key id today). The idempotency key itself is not
-- stored: key_hash is its HMAC under the server secret, and the response is AES-256-GCM encrypted under a key
-- derived from the idempotency key, so a stored response (a created key's secret included) can only be read by a
-- caller presenting the same idempotency key.
CREATE TABLE idempotency_keys (
  organization_id text NOT NULL REFERENCES organizations (organization_id) ON DELETE CASCADE,
  principal text NOT NULL,
  key_hash text NOT NULL CHECK (key_hash ~ '^[0-9a-f]{64}$'),
  -- HMAC of the request (method, path, canonical JSON body): a different request with the same key is refused.
  fingerprint text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
  -- in_flight until the first request's handler has answered; its owner token guards the completing write.
  state text NOT NULL CHECK (state IN ('in_flight', 'done')),
  owner text NOT NULL,
  -- An in_flight entry whose lease passed (its instance died mid-request) may be taken over by a retry.
  lease_expires_at timestamptz(3) NOT NULL,
  response_status integer CHECK (response_status BETWEEN 100 AND 599),
  -- iv (12 bytes) || GCM tag (16 bytes) || ciphertext of the response body.
  response_sealed bytea,
  created_at timestamptz(3) NOT NULL,
  expires_at timestamptz(3) NOT NULL,
  PRIMARY KEY (organization_id, principal, key_hash),
  CHECK (state = 'in_flight' OR (response_status IS NOT NULL AND response_sealed IS NOT NULL))
);

-- The periodic purge deletes by expiry.
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);
