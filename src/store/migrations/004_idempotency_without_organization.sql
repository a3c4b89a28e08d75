-- Mailroom schema, version 4: idempotency keys outside an organization. Depends on 003 only.
-- migrate.ts wraps this file in a transaction; do not add BEGIN/COMMIT here.

-- Sign-up (no credential at all) and creating an organization (a user token, no organization yet) take an
-- Idempotency-Key too. Their entries have no organization: organization_id is NULL (anonymous for a sign-up, the
-- principal `user:<userId>` for a new organization). The scope stays unique, NULL counting as one organization of
-- its own, so the primary key becomes a unique index over COALESCE(organization_id, ''). Everything else (24-hour
-- expiry and its purge, the sealed responses, the lease) is unchanged.
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ALTER COLUMN organization_id DROP NOT NULL;
CREATE UNIQUE INDEX idempotency_keys_scope_idx ON idempotency_keys ((COALESCE(organization_id, '')), principal, key_hash);
