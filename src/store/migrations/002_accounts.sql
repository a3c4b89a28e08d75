-- Mailroom schema, version 2: accounts. Users sign up with an email and a password, log in for user tokens, and
-- belong to organizations with a role. migrate.ts wraps this file in a transaction; do not add BEGIN/COMMIT here.

CREATE TABLE users (
  user_id text PRIMARY KEY,
  -- Stored as given; uniqueness and log-in ignore case (users_email_key below).
  email text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
  name text CHECK (char_length(name) BETWEEN 1 AND 100),
  -- A PHC-style scrypt string ($scrypt$ln=…,r=…,p=…$salt$hash): this check makes storing a plain password impossible
  -- by mistake.
  password_hash text NOT NULL CHECK (password_hash ~ '^\$scrypt\$ln=[0-9]+,r=[0-9]+,p=[0-9]+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$'),
  created_at timestamptz(3) NOT NULL
);

-- The store maps a violation of this index to DuplicateUserError by its name.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE user_tokens (
  token_id text PRIMARY KEY,
  user_id text NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  -- The lookup handle embedded in the token text, as for API keys.
  public_id text NOT NULL,
  -- A lowercase hex HMAC-SHA256 of the token text, never the token.
  token_hash text NOT NULL CHECK (token_hash ~ '^[0-9a-f]{64}$'),
  created_at timestamptz(3) NOT NULL,
  expires_at timestamptz(3) NOT NULL,
  revoked_at timestamptz(3)
);

CREATE UNIQUE INDEX user_tokens_public_id_key ON user_tokens (public_id);

CREATE TABLE memberships (
  organization_id text NOT NULL REFERENCES organizations (organization_id) ON DELETE CASCADE,
  user_id text NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('owner', 'member')),
  created_at timestamptz(3) NOT NULL,
  CONSTRAINT memberships_pkey PRIMARY KEY (organization_id, user_id)
);

-- "My organizations", oldest membership first.
CREATE INDEX memberships_user_idx ON memberships (user_id, created_at, organization_id);

-- Organizations made by users are named freely (two users may both call theirs "Acme"); only the ones the operator
-- makes by name (the CLI's --org, the server handle) keep a unique name, which is how those are found again.
ALTER TABLE organizations ADD COLUMN created_by text REFERENCES users (user_id);
ALTER TABLE organizations DROP CONSTRAINT organizations_name_key;
CREATE UNIQUE INDEX organizations_name_key ON organizations (name) WHERE created_by IS NULL;
