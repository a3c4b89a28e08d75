import type { Db } from './db.ts';
import { single, toDate } from './rows.ts';

/** Who an idempotency key belongs to: an organization and the caller's principal within it. */
export interface IdempotencyScope {
  /** '' for a scope without an organization: a sign-up (anonymous) or creating an organization (a user). */
  organizationId: string;
  /** e.g. `key:key_4f7a2c9d1e0b3a68`, `user:usr_4f7a2c9d1e0b3a68`, `anonymous`. */
  principal: string;
  /** HMAC of the idempotency key (the key itself is never stored). */
  keyHash: string;
}

/** A stored idempotency entry. */
export interface IdempotencyRecord extends IdempotencyScope {
  fingerprint: string;
  state: 'in_flight' | 'done';
  owner: string;
  leaseExpiresAt: Date;
  responseStatus: number | null;
  /** iv || tag || ciphertext of the response body. */
  responseSealed: Uint8Array | null;
  createdAt: Date;
  expiresAt: Date;
}

/** A claim on an idempotency key: taken (run the request) or the entry that holds it. */
export type IdempotencyClaim = { claimed: true } | { claimed: false; existing: IdempotencyRecord };

/** The stored outcomes of requests sent with an Idempotency-Key. */
export interface IdempotencyStore {
  /**
   * Claims an idempotency key for a request: inserts an in_flight entry, or takes over one that expired or whose
   * lease passed with the same fingerprint. Otherwise returns the entry that holds the key.
   */
  claimIdempotencyKey(
    entry: IdempotencyScope & {
      fingerprint: string;
      owner: string;
      at: Date;
      leaseExpiresAt: Date;
      expiresAt: Date;
    },
  ): Promise<IdempotencyClaim>;
  /** Stores the outcome of the claimed request; false when `owner` no longer holds the claim. */
  completeIdempotencyKey(
    scope: IdempotencyScope,
    owner: string,
    response: { status: number; sealed: Uint8Array },
  ): Promise<boolean>;
  /** Drops an in_flight claim held by `owner` (its request failed on our side: a retry runs it again). */
  releaseIdempotencyKey(scope: IdempotencyScope, owner: string): Promise<void>;
  /** Deletes entries that expired at or before `now`; returns how many. */
  purgeIdempotencyKeys(now: Date): Promise<number>;
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

/** The idempotency statements, run on `db` (already wrapped with the store's typed errors). */
export function idempotencyStatements(db: Db): IdempotencyStore {
  return {
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
  };
}
