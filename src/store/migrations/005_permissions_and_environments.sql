-- Mailroom schema, version 5: per-key permissions (resource:action) and environments. Depends on 001.
-- migrate.ts wraps this file in a transaction; do not add BEGIN/COMMIT here.

-- What a key may do, as the spec's Permission strings. `access` was its shorthand: every key keeps exactly what its
-- access allowed (full: every permission; read_only: every :read one), and access is derived from the set from now on.
ALTER TABLE api_keys ADD COLUMN permissions text[];
UPDATE api_keys SET permissions = CASE access
  WHEN 'read_only' THEN ARRAY['api_keys:read', 'contacts:read']
  ELSE ARRAY['api_keys:read', 'api_keys:write', 'contacts:read', 'contacts:write']
END;
ALTER TABLE api_keys ALTER COLUMN permissions SET NOT NULL;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_permissions_check CHECK (cardinality(permissions) > 0);
ALTER TABLE api_keys DROP COLUMN access;

-- Where the key is used. Existing keys were production keys.
ALTER TABLE api_keys ADD COLUMN environment text NOT NULL DEFAULT 'production'
  CHECK (environment IN ('development', 'staging', 'production'));
