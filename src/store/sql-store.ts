import { randomUUID } from 'node:crypto';
import { newId } from '../lib/ids.ts';
import {
  isUniqueViolation,
  type OrganizationRow,
  single,
  sqlStateOf,
  toDate,
  toDateOrNull,
  toOrganization,
} from './rows.ts';
import { accountStatements } from './sql-accounts.ts';
import {
  type ApiKeyRecord,
  type ApiKeyWithPlan,
  type ContactRecord,
  type Db,
  DuplicateApiKeyError,
  DuplicateEmailError,
  type IdempotencyRecord,
  InvalidValueError,
  type KeyAccess,
  KeyLimitError,
  type NewApiKey,
  type Queryable,
  type Store,
} from './types.ts';

/** Channel on which key changes are broadcast to every server instance. */
export const KEY_CHANGES_CHANNEL = 'mailroom_key_changes';

/** Channel on which instances confirm they dropped a changed key. */
export const KEY_ACKS_CHANNEL = 'mailroom_key_acks';

/** `publicId` or `publicId:nonce` (a nonce asks every listener to acknowledge). */
function parseKeyChange(payload: string): { publicId: string; nonce?: string } {
  const colon = payload.indexOf(':');
  return colon === -1 ? { publicId: payload } : { publicId: payload.slice(0, colon), nonce: payload.slice(colon + 1) };
}

/**
 * Acknowledged key-change broadcasts for PostgreSQL. NOTIFY is delivered asynchronously, so an
 * instance could serve one more request with a key another instance has just revoked. The
 * revoking instance therefore counts the other listening connections (every server instance
 * holds one, named `<app>:listen`), sends `publicId:nonce`, and returns once each has
 * acknowledged — or after `timeoutMs`, since an unreachable instance drops its whole cache when
 * it reconnects anyway.
 */
function createAckWaiter(db: Db, instanceId: string, timeoutMs: number) {
  const waiting = new Map<string, { from: Set<string>; expected: number; done: () => void }>();
  let subscription: Promise<() => Promise<void>> | undefined;

  const subscribe = () => {
    subscription ??= db.listen(
      KEY_ACKS_CHANNEL,
      (payload) => {
        const [nonce, from] = payload.split(':');
        const wait = nonce ? waiting.get(nonce) : undefined;
        if (wait && from && from !== instanceId) {
          wait.from.add(from);
          if (wait.from.size >= wait.expected) {
            wait.done();
          }
        }
      },
      () => {},
    );
    return subscription;
  };

  return {
    async broadcast(publicId: string): Promise<void> {
      await subscribe();
      const [row] = (
        await db.query<{ listeners: string }>(
          `SELECT count(*) AS listeners FROM pg_stat_activity
           WHERE datname = current_database() AND application_name LIKE '%:listen' AND pid <> pg_backend_pid()`,
        )
      ).rows;
      // Our own LISTEN connection is among them and doesn't acknowledge to itself.
      const expected = Math.max(0, Number(row?.listeners ?? 0) - 1);
      const nonce = randomUUID();
      let timer: NodeJS.Timeout | undefined;
      const acknowledged = new Promise<void>((resolve) => {
        waiting.set(nonce, { from: new Set(), expected, done: resolve });
        timer = setTimeout(resolve, timeoutMs);
      });
      try {
        // pg_notify takes parameters, unlike the NOTIFY statement.
        await db.query('SELECT pg_notify($1, $2)', [KEY_CHANGES_CHANNEL, `${publicId}:${nonce}`]);
        if (expected > 0) {
          await acknowledged;
        }
      } finally {
        clearTimeout(timer);
        waiting.delete(nonce);
      }
    },
    async close(): Promise<void> {
      if (subscription) {
        const unsubscribe = await subscription.catch(() => undefined);
        await unsubscribe?.();
      }
    },
  };
}

/** Payload telling listeners to drop every cached key (notifications may have been missed). */
export const ALL_KEYS = '*';

interface KeyRow {
  key_id: string;
  organization_id: string;
  name: string;
  public_id: string;
  key_hash: string;
  access: KeyAccess;
  rate_limit: number | null;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
  rotated_at: Date | null;
  replaced_by: string | null;
}

interface KeyPlanRow extends KeyRow {
  plan: string;
}

interface ContactRow {
  contact_id: string;
  organization_id: string;
  email: string;
  first_name: string | null;
  last_name: string | null;
  subscribed: boolean;
  created_at: Date;
  updated_at: Date;
}

const ORGANIZATION_COLUMNS = 'organization_id, name, plan, created_at';
const KEY_COLUMNS =
  'k.key_id, k.organization_id, k.name, k.public_id, k.key_hash, k.access, k.rate_limit, k.created_at, k.expires_at, k.last_used_at, k.revoked_at, k.rotated_at, k.replaced_by';
const KEY_PLAN_COLUMNS = `${KEY_COLUMNS}, o.plan`;
const CONTACT_COLUMNS = 'contact_id, organization_id, email, first_name, last_name, subscribed, created_at, updated_at';

// Unique indexes whose violations are expected outcomes rather than bugs.
const CONTACT_EMAIL_INDEX = 'contacts_organization_email_key';
const KEY_UNIQUE_INDEXES = new Set(['api_keys_pkey', 'api_keys_public_id_key']);

function toKey(row: KeyRow): ApiKeyRecord {
  return {
    keyId: row.key_id,
    organizationId: row.organization_id,
    name: row.name,
    publicId: row.public_id,
    keyHash: row.key_hash,
    access: row.access,
    rateLimit: row.rate_limit,
    createdAt: toDate(row.created_at),
    expiresAt: toDateOrNull(row.expires_at),
    lastUsedAt: toDateOrNull(row.last_used_at),
    revokedAt: toDateOrNull(row.revoked_at),
    rotatedAt: toDateOrNull(row.rotated_at),
    replacedBy: row.replaced_by,
  };
}

interface IdempotencyRow {
  /** NULL for a scope without an organization (a sign-up, a new organization); '' in the record. */
  organization_id: string | null;
  principal: string;
  key_hash: string;
  fingerprint: string;
  state: 'in_flight' | 'done';
  owner: string;
  lease_expires_at: Date;
  response_status: number | null;
  response_sealed: Uint8Array | null;
  created_at: Date;
  expires_at: Date;
}

const IDEMPOTENCY_COLUMNS =
  'organization_id, principal, key_hash, fingerprint, state, owner, lease_expires_at, response_status, response_sealed, created_at, expires_at';

function toIdempotencyRecord(row: IdempotencyRow): IdempotencyRecord {
  return {
    organizationId: row.organization_id ?? '',
    principal: row.principal,
    keyHash: row.key_hash,
    fingerprint: row.fingerprint,
    state: row.state,
    owner: row.owner,
    leaseExpiresAt: toDate(row.lease_expires_at),
    responseStatus: row.response_status,
    responseSealed: row.response_sealed,
    createdAt: toDate(row.created_at),
    expiresAt: toDate(row.expires_at),
  };
}

function toKeyWithPlan(row: KeyPlanRow): ApiKeyWithPlan {
  return { ...toKey(row), plan: row.plan };
}

function toContact(row: ContactRow): ContactRecord {
  return {
    contactId: row.contact_id,
    organizationId: row.organization_id,
    email: row.email,
    firstName: row.first_name,
    lastName: row.last_name,
    subscribed: row.subscribed,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

const EMAIL_INDEXES: ReadonlySet<string> = new Set([CONTACT_EMAIL_INDEX]);

async function mapDuplicateEmail<T>(work: Promise<T>, email: string): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (isUniqueViolation(err, EMAIL_INDEXES)) {
      throw new DuplicateEmailError(email, { cause: err });
    }
    throw err;
  }
}

/**
 * The same database, with driver errors that mean "this value can't be stored" (SQLSTATE class 22, data exception)
 * turned into InvalidValueError where they arise, so nothing above the store reads SQLSTATEs.
 */
function withTypedErrors(db: Db): Db {
  const typed = (err: unknown): never => {
    const state = sqlStateOf(err);
    throw state.startsWith('22') ? new InvalidValueError(state, { cause: err }) : err;
  };
  return {
    kind: db.kind,
    query: <T>(sql: string, params?: unknown[]) => db.query<T>(sql, params).catch(typed),
    exec: (sql) => db.exec(sql).catch(typed),
    transaction: (fn, opts) => db.transaction(fn, opts).catch(typed),
    listen: (...args) => db.listen(...args),
    close: () => db.close(),
  };
}

/** Inserts a key row (the create and the rotation share this one statement). */
async function insertKeyRow(q: Queryable, key: NewApiKey): Promise<ApiKeyRecord> {
  const { rows } = await q.query<KeyRow>(
    `INSERT INTO api_keys AS k
       (key_id, organization_id, name, public_id, key_hash, access, rate_limit, created_at, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     RETURNING ${KEY_COLUMNS}`,
    [
      key.keyId,
      key.organizationId,
      key.name,
      key.publicId,
      key.keyHash,
      key.access,
      key.rateLimit,
      key.createdAt,
      key.expiresAt,
    ],
  );
  return toKey(single(rows));
}

/** The one Store implementation: every back-end runs exactly these statements through its `Db`. */
export function createSqlStore(driver: Db, options: { ackTimeoutMs?: number } = {}): Store {
  const db = withTypedErrors(driver);
  const instanceId = randomUUID();
  const acks = createAckWaiter(db, instanceId, options.ackTimeoutMs ?? 2000);
  return {
    kind: db.kind,
    ...accountStatements(db),

    async ensureOrganization(name, plan) {
      // One upsert so concurrent first requests cannot race; the no-op update makes RETURNING yield the row. Only
      // organizations made by name (not by a user) have unique names: see migrations/002_accounts.sql.
      const { rows } = await db.query<OrganizationRow>(
        `INSERT INTO organizations (organization_id, name, plan, created_at)
         VALUES ($1, $2, coalesce($3::text, 'free'), $4)
         ON CONFLICT (name) WHERE created_by IS NULL DO UPDATE SET plan = coalesce($3::text, organizations.plan)
         RETURNING ${ORGANIZATION_COLUMNS}`,
        [newId('org'), name, plan ?? null, new Date()],
      );
      return toOrganization(single(rows));
    },

    async getOrganization(organizationId) {
      const { rows } = await db.query<OrganizationRow>(
        `SELECT ${ORGANIZATION_COLUMNS} FROM organizations WHERE organization_id = $1`,
        [organizationId],
      );
      return rows[0] ? toOrganization(rows[0]) : null;
    },

    async insertApiKey(key, options = {}) {
      const insert = (q: Queryable) => insertKeyRow(q, key);
      const { maxActiveKeys } = options;
      try {
        if (maxActiveKeys === undefined) {
          return await insert(db);
        }
        return await db.transaction(async (tx) => {
          // Concurrent creates for one organization queue here, so the count and the insert are one step.
          await tx.query("SELECT pg_advisory_xact_lock(7262, hashtext('keys:' || $1))", [key.organizationId]);
          const { rows } = await tx.query<{ n: number }>(
            'SELECT count(*)::integer AS n FROM api_keys WHERE organization_id = $1 AND revoked_at IS NULL',
            [key.organizationId],
          );
          if (single(rows).n >= maxActiveKeys) {
            throw new KeyLimitError(maxActiveKeys);
          }
          return insert(tx);
        });
      } catch (err) {
        if (isUniqueViolation(err, KEY_UNIQUE_INDEXES)) {
          throw new DuplicateApiKeyError('an API key with this keyId or publicId already exists', { cause: err });
        }
        throw err;
      }
    },

    async findApiKeyByPublicId(publicId) {
      const { rows } = await db.query<KeyPlanRow>(
        `SELECT ${KEY_PLAN_COLUMNS} FROM api_keys k JOIN organizations o USING (organization_id)
         WHERE k.public_id = $1`,
        [publicId],
      );
      return rows[0] ? toKeyWithPlan(rows[0]) : null;
    },

    async getApiKey(organizationId, keyId) {
      const { rows } = await db.query<KeyPlanRow>(
        `SELECT ${KEY_PLAN_COLUMNS} FROM api_keys k JOIN organizations o USING (organization_id)
         WHERE k.organization_id = $1 AND k.key_id = $2 AND k.revoked_at IS NULL`,
        [organizationId, keyId],
      );
      return rows[0] ? toKeyWithPlan(rows[0]) : null;
    },

    async listApiKeys(organizationId) {
      const { rows } = await db.query<KeyPlanRow>(
        `SELECT ${KEY_PLAN_COLUMNS} FROM api_keys k JOIN organizations o USING (organization_id)
         WHERE k.organization_id = $1 AND k.revoked_at IS NULL
         ORDER BY k.created_at, k.key_id`,
        [organizationId],
      );
      return rows.map(toKeyWithPlan);
    },

    async listAllApiKeys() {
      const { rows } = await db.query<KeyPlanRow>(
        `SELECT ${KEY_PLAN_COLUMNS} FROM api_keys k JOIN organizations o USING (organization_id)
         WHERE k.revoked_at IS NULL
         ORDER BY k.created_at, k.key_id`,
      );
      return rows.map(toKeyWithPlan);
    },

    async renameApiKey(organizationId, keyId, name) {
      const { rows } = await db.query<KeyPlanRow>(
        `UPDATE api_keys k SET name = $3 FROM organizations o
         WHERE o.organization_id = k.organization_id AND k.organization_id = $1 AND k.key_id = $2
           AND k.revoked_at IS NULL
         RETURNING ${KEY_PLAN_COLUMNS}`,
        [organizationId, keyId, name],
      );
      return rows[0] ? toKeyWithPlan(rows[0]) : null;
    },

    async revokeApiKey(organizationId, keyId, at) {
      const { rows } = await db.query<KeyPlanRow>(
        `UPDATE api_keys k SET revoked_at = $3 FROM organizations o
         WHERE o.organization_id = k.organization_id AND ($1::text IS NULL OR k.organization_id = $1::text)
           AND k.key_id = $2 AND k.revoked_at IS NULL
         RETURNING ${KEY_PLAN_COLUMNS}`,
        [organizationId, keyId, at],
      );
      return rows[0] ? toKeyWithPlan(rows[0]) : null;
    },

    async rotateApiKey(organizationId, keyId, next, at, graceEndsAt) {
      try {
        return await db.transaction(async (tx) => {
          // Locks the old key, so two concurrent rotations of it are one rotation and one already_rotated.
          const { rows } = await tx.query<KeyPlanRow>(
            `SELECT ${KEY_PLAN_COLUMNS} FROM api_keys k JOIN organizations o USING (organization_id)
             WHERE ($1::text IS NULL OR k.organization_id = $1::text) AND k.key_id = $2 AND k.revoked_at IS NULL
             FOR UPDATE OF k`,
            [organizationId, keyId],
          );
          const found = rows[0];
          if (!found) {
            return { outcome: 'not_found' } as const;
          }
          const previous = toKeyWithPlan(found);
          if (previous.replacedBy !== null) {
            return { outcome: 'already_rotated', previous, successor: previous.replacedBy } as const;
          }
          if (previous.expiresAt !== null && previous.expiresAt.getTime() <= at.getTime()) {
            return { outcome: 'expired', previous } as const;
          }
          // The old key's expiry policy carries over: a key made to last N days is replaced by one lasting N days.
          const lifetimeMs = previous.expiresAt ? previous.expiresAt.getTime() - previous.createdAt.getTime() : null;
          const inserted = await insertKeyRow(tx, {
            keyId: next.keyId,
            organizationId: previous.organizationId,
            name: previous.name,
            publicId: next.publicId,
            keyHash: next.keyHash,
            access: previous.access,
            rateLimit: previous.rateLimit,
            createdAt: at,
            expiresAt: lifetimeMs === null ? null : new Date(at.getTime() + lifetimeMs),
          });
          // LEAST ignores NULL: a key that never expired now expires when the grace period ends.
          const updated = await tx.query<KeyPlanRow>(
            `UPDATE api_keys k SET rotated_at = $2, replaced_by = $3, expires_at = LEAST(k.expires_at, $4::timestamptz)
             FROM organizations o
             WHERE o.organization_id = k.organization_id AND k.key_id = $1
             RETURNING ${KEY_PLAN_COLUMNS}`,
            [previous.keyId, at, next.keyId, graceEndsAt],
          );
          return {
            outcome: 'rotated',
            previous: toKeyWithPlan(single(updated.rows)),
            current: { ...inserted, plan: previous.plan },
          } as const;
        });
      } catch (err) {
        if (isUniqueViolation(err, KEY_UNIQUE_INDEXES)) {
          throw new DuplicateApiKeyError('an API key with this keyId or publicId already exists', { cause: err });
        }
        throw err;
      }
    },

    async touchApiKeys(entries) {
      if (entries.length === 0) {
        return;
      }
      // Arrays of ISO strings bind the same way on both drivers; grouping first makes duplicate keyIds in one
      // batch harmless (UPDATE ... FROM would otherwise apply an arbitrary one of them).
      await db.query(
        `UPDATE api_keys k SET last_used_at = t.last_used_at
         FROM (
           SELECT key_id, max(last_used_at) AS last_used_at
           FROM unnest($1::text[], $2::timestamptz[]) AS u (key_id, last_used_at)
           GROUP BY key_id
         ) t
         WHERE k.key_id = t.key_id AND (k.last_used_at IS NULL OR k.last_used_at < t.last_used_at)`,
        [entries.map((e) => e.keyId), entries.map((e) => e.lastUsedAt.toISOString())],
      );
    },

    async countApiKeys() {
      const { rows } = await db.query<{ n: number }>('SELECT count(*)::integer AS n FROM api_keys');
      return single(rows).n;
    },

    async createContact(organizationId, input, at) {
      const { rows } = await mapDuplicateEmail(
        db.query<ContactRow>(
          `INSERT INTO contacts
             (contact_id, organization_id, email, first_name, last_name, subscribed, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
           RETURNING ${CONTACT_COLUMNS}`,
          [
            newId('ct'),
            organizationId,
            input.email,
            input.firstName ?? null,
            input.lastName ?? null,
            input.subscribed ?? true,
            at,
          ],
        ),
        input.email,
      );
      return toContact(single(rows));
    },

    async getContact(organizationId, contactId) {
      const { rows } = await db.query<ContactRow>(
        `SELECT ${CONTACT_COLUMNS} FROM contacts WHERE organization_id = $1 AND contact_id = $2`,
        [organizationId, contactId],
      );
      return rows[0] ? toContact(rows[0]) : null;
    },

    async listContacts(organizationId, opts) {
      const { limit, after } = opts;
      if (!Number.isInteger(limit) || limit < 1) {
        throw new RangeError(`limit must be a positive integer, got ${limit}`);
      }
      // One row more than asked tells whether another page exists without a second query.
      const { rows } = await db.query<ContactRow>(
        `SELECT ${CONTACT_COLUMNS} FROM contacts
         WHERE organization_id = $1
           AND ($2::timestamptz IS NULL OR (created_at, contact_id) > ($2::timestamptz, $3::text))
         ORDER BY created_at, contact_id
         LIMIT $4`,
        [organizationId, after?.createdAt ?? null, after?.contactId ?? null, limit + 1],
      );
      return { items: rows.slice(0, limit).map(toContact), hasMore: rows.length > limit };
    },

    async countContacts(organizationId) {
      const { rows } = await db.query<{ n: number }>(
        'SELECT count(*)::integer AS n FROM contacts WHERE organization_id = $1',
        [organizationId],
      );
      return single(rows).n;
    },

    async updateContact(organizationId, contactId, patch, at) {
      // A fixed statement with "is this field present" flags, rather than SQL built per patch shape.
      const { rows } = await mapDuplicateEmail(
        db.query<ContactRow>(
          `UPDATE contacts SET
             email = CASE WHEN $3::boolean THEN $4::text ELSE email END,
             first_name = CASE WHEN $5::boolean THEN $6::text ELSE first_name END,
             last_name = CASE WHEN $7::boolean THEN $8::text ELSE last_name END,
             subscribed = CASE WHEN $9::boolean THEN $10::boolean ELSE subscribed END,
             updated_at = $11
           WHERE organization_id = $1 AND contact_id = $2
           RETURNING ${CONTACT_COLUMNS}`,
          [
            organizationId,
            contactId,
            patch.email !== undefined,
            patch.email ?? null,
            patch.firstName !== undefined,
            patch.firstName ?? null,
            patch.lastName !== undefined,
            patch.lastName ?? null,
            patch.subscribed !== undefined,
            patch.subscribed ?? null,
            at,
          ],
        ),
        patch.email ?? '',
      );
      return rows[0] ? toContact(rows[0]) : null;
    },

    async deleteContact(organizationId, contactId) {
      const { rows } = await db.query<{ contact_id: string }>(
        'DELETE FROM contacts WHERE organization_id = $1 AND contact_id = $2 RETURNING contact_id',
        [organizationId, contactId],
      );
      return rows.length > 0;
    },

    async claimIdempotencyKey(entry) {
      const scope = [entry.organizationId, entry.principal, entry.keyHash];
      // A key whose entry was released between the insert and the read is simply claimed again.
      for (let attempt = 0; attempt < 3; attempt++) {
        // Takes the key when it is free, expired (purge on access), or held by a request that died mid-way (its
        // lease passed) for the same request; otherwise the WHERE fails and nothing is returned.
        const { rows } = await db.query<{ owner: string }>(
          `INSERT INTO idempotency_keys AS i
             (organization_id, principal, key_hash, fingerprint, state, owner, lease_expires_at, created_at, expires_at)
           VALUES (NULLIF($1, ''), $2, $3, $4, 'in_flight', $5, $6, $7, $8)
           ON CONFLICT ((COALESCE(organization_id, '')), principal, key_hash) DO UPDATE SET
             fingerprint = EXCLUDED.fingerprint, state = 'in_flight', owner = EXCLUDED.owner,
             lease_expires_at = EXCLUDED.lease_expires_at, response_status = NULL, response_sealed = NULL,
             created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
           WHERE i.expires_at <= EXCLUDED.created_at
              OR (i.state = 'in_flight' AND i.lease_expires_at <= EXCLUDED.created_at
                  AND i.fingerprint = EXCLUDED.fingerprint)
           RETURNING owner`,
          [...scope, entry.fingerprint, entry.owner, entry.leaseExpiresAt, entry.at, entry.expiresAt],
        );
        if (rows[0]?.owner === entry.owner) {
          return { claimed: true };
        }
        const held = await db.query<IdempotencyRow>(
          `SELECT ${IDEMPOTENCY_COLUMNS} FROM idempotency_keys
           WHERE COALESCE(organization_id, '') = $1 AND principal = $2 AND key_hash = $3`,
          scope,
        );
        if (held.rows[0]) {
          return { claimed: false, existing: toIdempotencyRecord(held.rows[0]) };
        }
      }
      throw new Error('idempotency key claim kept racing with releases');
    },

    async completeIdempotencyKey(scope, owner, response) {
      const { rows } = await db.query<{ owner: string }>(
        `UPDATE idempotency_keys SET state = 'done', response_status = $5, response_sealed = $6
         WHERE COALESCE(organization_id, '') = $1 AND principal = $2 AND key_hash = $3 AND owner = $4 AND state = 'in_flight'
         RETURNING owner`,
        [scope.organizationId, scope.principal, scope.keyHash, owner, response.status, response.sealed],
      );
      return rows.length > 0;
    },

    async releaseIdempotencyKey(scope, owner) {
      await db.query(
        `DELETE FROM idempotency_keys
         WHERE COALESCE(organization_id, '') = $1 AND principal = $2 AND key_hash = $3 AND owner = $4 AND state = 'in_flight'`,
        [scope.organizationId, scope.principal, scope.keyHash, owner],
      );
    },

    async purgeIdempotencyKeys(now) {
      const { rows } = await db.query<{ n: number }>(
        `WITH purged AS (DELETE FROM idempotency_keys WHERE expires_at <= $1 RETURNING 1)
         SELECT count(*)::integer AS n FROM purged`,
        [now],
      );
      return single(rows).n;
    },

    async ping() {
      await db.query('SELECT 1');
    },

    async notifyKeyChange(publicId) {
      if (db.kind !== 'postgres') {
        // PGlite is one process: its listeners run in-process, so there is no one else to wait for.
        await db.query('SELECT pg_notify($1, $2)', [KEY_CHANGES_CHANNEL, publicId]);
        return;
      }
      await acks.broadcast(publicId);
    },

    async onKeyChange(listener) {
      return db.listen(
        KEY_CHANGES_CHANNEL,
        (payload) => {
          const { publicId, nonce } = parseKeyChange(payload);
          listener(publicId);
          if (nonce && db.kind === 'postgres') {
            // Tell the revoking instance this one has dropped the key, so it can answer only when every instance has.
            db.query('SELECT pg_notify($1, $2)', [KEY_ACKS_CHANNEL, `${nonce}:${instanceId}`]).catch(() => {});
          }
        },
        () => listener(ALL_KEYS),
      );
    },

    async close() {
      await acks.close();
      await db.close();
    },
  };
}
