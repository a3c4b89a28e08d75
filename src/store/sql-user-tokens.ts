import type { Db } from './db.ts';
import { DuplicateApiKeyError } from './errors.ts';
import { isUniqueViolation, single, toDate, toDateOrNull } from './rows.ts';

/** A user token (from sign-up or log-in). Only the HMAC of the token text is kept. */
export interface UserTokenRecord {
  /** `tok_` + 16 lowercase alphanumerics. */
  tokenId: string;
  userId: string;
  /** 8 lowercase alphanumerics: the lookup handle embedded in the token text. */
  publicId: string;
  /** Lowercase hex HMAC-SHA256 of the full token text. */
  tokenHash: string;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
}

/** The tokens users hold after signing up or logging in. */
export interface UserTokenStore {
  /** Stores a new user token; throws DuplicateApiKeyError when its tokenId or publicId is taken. */
  insertUserToken(token: Omit<UserTokenRecord, 'revokedAt'>): Promise<UserTokenRecord>;
  /** Any token (revoked or expired included: the caller decides why it fails). */
  findUserTokenByPublicId(publicId: string): Promise<UserTokenRecord | null>;
  /** Sets revokedAt; null when missing or already revoked. */
  revokeUserToken(tokenId: string, at: Date): Promise<UserTokenRecord | null>;
}

interface TokenRow {
  token_id: string;
  user_id: string;
  public_id: string;
  token_hash: string;
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
}

const TOKEN_COLUMNS = 'token_id, user_id, public_id, token_hash, created_at, expires_at, revoked_at';

// Unique indexes whose violations are expected outcomes rather than bugs.
const TOKEN_UNIQUE_INDEXES = new Set(['user_tokens_pkey', 'user_tokens_public_id_key']);

function toToken(row: TokenRow): UserTokenRecord {
  return {
    tokenId: row.token_id,
    userId: row.user_id,
    publicId: row.public_id,
    tokenHash: row.token_hash,
    createdAt: toDate(row.created_at),
    expiresAt: toDate(row.expires_at),
    revokedAt: toDateOrNull(row.revoked_at),
  };
}

/** The user-token statements, run on `db` (already wrapped with the store's typed errors). */
export function userTokenStatements(db: Db): UserTokenStore {
  return {
    async insertUserToken(token) {
      try {
        const { rows } = await db.query<TokenRow>(
          `INSERT INTO user_tokens (token_id, user_id, public_id, token_hash, created_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6)
           RETURNING ${TOKEN_COLUMNS}`,
          [token.tokenId, token.userId, token.publicId, token.tokenHash, token.createdAt, token.expiresAt],
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
  };
}
