-- Mailroom schema, version 8: sessions. Depends on 002 only (005-007 belong to other changes and may land in any
-- order). migrate.ts wraps this file in a transaction; do not add BEGIN/COMMIT here.

-- A user token is a session: where it was made (the client address and user agent of the sign-up, log-in or password
-- change that issued it) and where it was last used, written in batches (src/server/session-use.ts). Tokens issued
-- before this migration have none of it (NULL). The server cuts both to the lengths checked here.
ALTER TABLE user_tokens
  ADD COLUMN created_address text CHECK (char_length(created_address) <= 64),
  ADD COLUMN created_user_agent text CHECK (char_length(created_user_agent) <= 256),
  ADD COLUMN last_used_at timestamptz(3),
  ADD COLUMN last_used_address text CHECK (char_length(last_used_address) <= 64),
  ADD COLUMN last_used_user_agent text CHECK (char_length(last_used_user_agent) <= 256);

-- "My sessions", newest first; and "did this address sign in to this account lately" (the log-in throttle).
CREATE INDEX user_tokens_user_idx ON user_tokens (user_id, created_at DESC);

-- When the password last changed (NULL: never since sign-up). Sign-ins before it no longer vouch for an address.
ALTER TABLE users ADD COLUMN password_changed_at timestamptz(3);
