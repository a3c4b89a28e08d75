-- Mailroom schema, version 1. Plain PostgreSQL that runs unchanged on PGlite and PostgreSQL 15.
-- migrate.ts wraps this file in a transaction; do not add BEGIN/COMMIT here.
-- Timestamps are timestamptz(3): JavaScript Dates carry milliseconds, so storing exactly that precision keeps
-- values read back equal to the values written, which keyset pagination on created_at relies on.

CREATE TABLE organizations (
  organization_id text PRIMARY KEY,
  name text NOT NULL,
  plan text NOT NULL DEFAULT 'free',
  created_at timestamptz(3) NOT NULL,
  CONSTRAINT organizations_name_key UNIQUE (name)
);

CREATE TABLE api_keys (
  key_id text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations (organization_id) ON DELETE CASCADE,
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
  public_id text NOT NULL,
  -- A lowercase hex SHA-256 digest: this check makes storing a plaintext key impossible by mistake.
  key_hash text NOT NULL CHECK (key_hash ~ '^[0-9a-f]{64}$'),
  access text NOT NULL CHECK (access IN ('full', 'read_only')),
  rate_limit integer CHECK (rate_limit > 0),
  created_at timestamptz(3) NOT NULL,
  expires_at timestamptz(3),
  last_used_at timestamptz(3),
  revoked_at timestamptz(3)
);

-- Authentication looks keys up by the public id embedded in the key text.
CREATE UNIQUE INDEX api_keys_public_id_key ON api_keys (public_id);
-- Serves both "keys of an organization" and its oldest-first ordering.
CREATE INDEX api_keys_organization_id_idx ON api_keys (organization_id, created_at, key_id);

CREATE TABLE contacts (
  contact_id text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations (organization_id) ON DELETE CASCADE,
  email text NOT NULL,
  first_name text,
  last_name text,
  subscribed boolean NOT NULL DEFAULT true,
  created_at timestamptz(3) NOT NULL,
  updated_at timestamptz(3) NOT NULL
);

-- Emails are unique per organization regardless of case; the store maps a violation of this index to
-- DuplicateEmailError by its name.
CREATE UNIQUE INDEX contacts_organization_email_key ON contacts (organization_id, lower(email));
-- Keyset pagination: WHERE organization_id = $1 AND (created_at, contact_id) > ($2, $3) ORDER BY created_at, contact_id.
CREATE INDEX contacts_organization_created_idx ON contacts (organization_id, created_at, contact_id);
