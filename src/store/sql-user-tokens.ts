import type { Db } from './db.ts';
import { DuplicateApiKeyError } from './errors.ts';
import { isUniqueViolation, single, toDate, toDateOrNull } from './rows.ts';

/** Where a session was made or used: the client address and the user agent, as the server saw them. */
export interface SessionOrigin {
  address: string | null;
  userAgent: string | null;
}

/**
 * A user token (from sign-up, log-in or a password change): a session. Only the HMAC of the token text is kept, with
 * where it was made and where it was last used.
 */
export interface UserTokenRecord {
  /** `tok_` + 16 lowercase alphanumerics: the session id. */
  tokenId: string;
  userId: string;
  /** 8 lowercase alphanumerics: the lookup handle embedded in the token text. */
  publicId: string;
  /** Lowercase hex HMAC-SHA256 of the full token text. */
  tokenHash: string;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  /** Where it was issued (null for tokens issued before sessions were recorded). */
  createdFrom: SessionOrigin;
  /** The last use written so far (uses are written in batches, about a second late), or null. */
  lastUsedAt: Date | null;
  lastUsedFrom: SessionOrigin;
}

/** What storing a new user token takes. */
export type NewUserToken = Omit<UserTokenRecord, 'revokedAt' | 'lastUsedAt' | 'lastUsedFrom'>;

/** One use of a session, as the batched tracker writes it. */
export interface SessionUse {
  tokenId: string;
  at: Date;
  address: string;
  userAgent: string | null;
}

/** The tokens users hold after signing up or logging in: their sessions. */
export interface UserTokenStore {
  /** Stores a new user token; throws DuplicateApiKeyError when its tokenId or publicId is taken. */
  insertUserToken(token: NewUserToken): Promise<UserTokenRecord>;
  /** Any token (revoked or expired included: the caller decides why it fails). */
  findUserTokenByPublicId(publicId: string): Promise<UserTokenRecord | null>;
  /** Sets revokedAt; null when missing or already revoked. */
  revokeUserToken(tokenId: string, at: Date): Promise<UserTokenRecord | null>;
  /** The user's sessions that still work at `now` (neither ended nor expired), newest first. */
  listUserSessions(userId: string, now: Date): Promise<UserTokenRecord[]>;
  /** Ends one of the user's working sessions; null when the user has no such session working (another's included). */
  endUserSession(userId: string, tokenId: string, at: Date): Promise<UserTokenRecord | null>;
  /** Ends every working session of the user but `keepTokenId`; returns the ones it ended. */
  endOtherUserSessions(userId: string, keepTokenId: string, at: Date): Promise<UserTokenRecord[]>;
  /** Ends the user's working sessions beyond the newest `keep`; returns the ones it ended. */
  endSurplusUserSessions(userId: string, keep: number, at: Date): Promise<UserTokenRecord[]>;
  /** Records sessions' last uses in one statement; older uses than the stored one are ignored. */
  touchUserTokens(uses: SessionUse[]): Promise<void>;
  /**
   * Whether the user signed in from `address` at or after `since`: a session issued there (log-in, sign-up, password
   * change) since then, and since the password last changed unless that session still works.
   */
  hasRecentSignIn(userId: string, address: string, since: Date): Promise<boolean>;
}

/** A user_tokens row. */
export interface TokenRow {
  token_id: string;
  user_id: string;
  public_id: string;
  token_hash: string;
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
  created_address: string | null;
  created_user_agent: string | null;
  last_used_at: Date | null;
  last_used_address: string | null;
  last_used_user_agent: string | null;
}

/** Every column of user_tokens, in TokenRow's order. */
export const TOKEN_COLUMNS =
  'token_id, user_id, public_id, token_hash, created_at, expires_at, revoked_at, created_address, created_user_agent, ' +
  'last_used_at, last_used_address, last_used_user_agent';

// Unique indexes whose violations are expected outcomes rather than bugs.
const TOKEN_UNIQUE_INDEXES = new Set(['user_tokens_pkey', 'user_tokens_public_id_key']);

// A session that still works at $2.
const WORKING = 'revoked_at IS NULL AND expires_at > $2';

/** A row as the record. */
export function toToken(row: TokenRow): UserTokenRecord {
  return {
    tokenId: row.token_id,
    userId: row.user_id,
    publicId: row.public_id,
    tokenHash: row.token_hash,
    createdAt: toDate(row.created_at),
    expiresAt: toDate(row.expires_at),
    revokedAt: toDateOrNull(row.revoked_at),
    createdFrom: { address: row.created_address, userAgent: row.created_user_agent },
    lastUsedAt: toDateOrNull(row.last_used_at),
    lastUsedFrom: { address: row.last_used_address, userAgent: row.last_used_user_agent },
  };
}

/** The user-token statements, run on `db` (already wrapped with the store's typed errors). */
export function userTokenStatements(db: Db): UserTokenStore {
  const endWhere = async (where: string, params: unknown[]): Promise<UserTokenRecord[]> => {
    const { rows } = await db.query<TokenRow>(
      `UPDATE user_tokens SET revoked_at = $3 WHERE user_id = $1 AND ${WORKING} AND ${where}
       RETURNING ${TOKEN_COLUMNS}`,
      params,
    );
    return rows.map(toToken);
  };
  return {
    async insertUserToken(token) {
      try {
        const { rows } = await db.query<TokenRow>(
          `INSERT INTO user_tokens
             (token_id, user_id, public_id, token_hash, created_at, expires_at, created_address, created_user_agent)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           RETURNING ${TOKEN_COLUMNS}`,
          [
            token.tokenId,
            token.userId,
            token.publicId,
            token.tokenHash,
            token.createdAt,
            token.expiresAt,
            token.createdFrom.address,
            token.createdFrom.userAgent,
          ],
        );
        return toToken(single(rows));
      } catch (err) {
        if (isUniqueViolation(err, TOKEN_UNIQUE_INDEXES)) {
          throw new DuplicateApiKeyError('a user token with this tokenId or publicId already exists', { cause: err });
        }
        throw err;
      }
    },

    async findUserTokenByPublicId(publicId) {
      const { rows } = await db.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM user_tokens WHERE public_id = $1`, [
        publicId,
      ]);
      return rows[0] ? toToken(rows[0]) : null;
    },

    async revokeUserToken(tokenId, at) {
      const { rows } = await db.query<TokenRow>(
        `UPDATE user_tokens SET revoked_at = $2 WHERE token_id = $1 AND revoked_at IS NULL RETURNING ${TOKEN_COLUMNS}`,
        [tokenId, at],
      );
      return rows[0] ? toToken(rows[0]) : null;
    },

    async listUserSessions(userId, now) {
      const { rows } = await db.query<TokenRow>(
        `SELECT ${TOKEN_COLUMNS} FROM user_tokens WHERE user_id = $1 AND ${WORKING}
         ORDER BY created_at DESC, token_id`,
        [userId, now],
      );
      return rows.map(toToken);
    },

    async endUserSession(userId, tokenId, at) {
      const [ended] = await endWhere('token_id = $4', [userId, at, at, tokenId]);
      return ended ?? null;
    },

    async endOtherUserSessions(userId, keepTokenId, at) {
      return endWhere('token_id <> $4', [userId, at, at, keepTokenId]);
    },

    async endSurplusUserSessions(userId, keep, at) {
      return endWhere(
        `token_id IN (SELECT token_id FROM user_tokens WHERE user_id = $1 AND ${WORKING}
                      ORDER BY created_at DESC, token_id OFFSET $4)`,
        [userId, at, at, keep],
      );
    },

    async touchUserTokens(uses) {
      if (uses.length === 0) {
        return;
      }
      // As touchApiKeys: one statement, arrays bound the same way on both drivers; of several uses of one session in
      // a batch the newest wins (DISTINCT ON), and a use older than the stored one changes nothing.
      await db.query(
        `UPDATE user_tokens t
         SET last_used_at = u.at, last_used_address = u.address, last_used_user_agent = u.user_agent
         FROM (
           SELECT DISTINCT ON (token_id) token_id, at, address, user_agent
           FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[]) AS x (token_id, at, address, user_agent)
           ORDER BY token_id, at DESC
         ) u
         WHERE t.token_id = u.token_id AND (t.last_used_at IS NULL OR t.last_used_at <= u.at)`,
        [
          uses.map((u) => u.tokenId),
          uses.map((u) => u.at.toISOString()),
          uses.map((u) => u.address),
          uses.map((u) => u.userAgent),
        ],
      );
    },

    async hasRecentSignIn(userId, address, since) {
      const { rows } = await db.query(
        `SELECT 1 FROM user_tokens t JOIN users u ON u.user_id = t.user_id
         WHERE t.user_id = $1 AND t.created_address = $2 AND t.created_at >= $3
           AND (u.password_changed_at IS NULL OR t.created_at >= u.password_changed_at OR t.revoked_at IS NULL)
         LIMIT 1`,
        [userId, address, since],
      );
      return rows.length > 0;
    },
  };
}
