import type { Db } from './db.ts';
import { DuplicateUserError } from './errors.ts';
import { isUniqueViolation, single, toDate, toDateOrNull } from './rows.ts';
import { insertOwnedOrganization, type MembershipRecord } from './sql-memberships.ts';
import { TOKEN_COLUMNS, type TokenRow, toToken, type UserTokenRecord } from './sql-user-tokens.ts';

/** A person who signed up. The password is kept only as a scrypt hash (see src/accounts/password.ts). */
export interface UserRecord {
  /** `usr_` + 16 lowercase alphanumerics. */
  userId: string;
  /** As given at sign-up; compared without case. */
  email: string;
  name: string | null;
  /** PHC-style scrypt string; never leaves the server. */
  passwordHash: string;
  createdAt: Date;
  /** When the password last changed; null when it is still the one chosen at sign-up. */
  passwordChangedAt: Date | null;
}

/** What sign-up stores: the user and their first organization, which they own. */
export interface SignUpInput {
  user: Omit<UserRecord, 'createdAt' | 'passwordChangedAt'>;
  organizationName: string;
  at: Date;
}

/** The people who signed up. */
export interface UserStore {
  /** Creates the user, their first organization and their owner membership in one transaction; throws DuplicateUserError. */
  createUser(input: SignUpInput): Promise<{ user: UserRecord; membership: MembershipRecord }>;
  /** Creates a user who belongs to no organization yet (a sandbox fixture's); throws DuplicateUserError. */
  insertUser(user: Omit<UserRecord, 'createdAt' | 'passwordChangedAt'>, at: Date): Promise<UserRecord>;
  /** The user with this email (compared without case), or null. */
  findUserByEmail(email: string): Promise<UserRecord | null>;
  /** The user, or null. */
  getUser(userId: string): Promise<UserRecord | null>;
  /**
   * Stores a new password hash and when it changed, and ends every working session of the user but `keepTokenId`, in
   * one transaction; null when there is no such user.
   */
  changePassword(
    userId: string,
    passwordHash: string,
    at: Date,
    keepTokenId: string,
  ): Promise<{ user: UserRecord; ended: UserTokenRecord[] } | null>;
}

interface UserRow {
  user_id: string;
  email: string;
  name: string | null;
  password_hash: string;
  created_at: Date;
  password_changed_at: Date | null;
}

const USER_COLUMNS = 'user_id, email, name, password_hash, created_at, password_changed_at';

// The unique index whose violation is an expected outcome rather than a bug.
const USER_EMAIL_INDEX = 'users_email_key';

function toUser(row: UserRow): UserRecord {
  return {
    userId: row.user_id,
    email: row.email,
    name: row.name,
    passwordHash: row.password_hash,
    createdAt: toDate(row.created_at),
    passwordChangedAt: toDateOrNull(row.password_changed_at),
  };
}

/** The user statements, run on `db` (already wrapped with the store's typed errors). */
export function userStatements(db: Db): UserStore {
  return {
    async createUser({ user, organizationName, at }) {
      try {
        return await db.transaction(async (tx) => {
          const { rows } = await tx.query<UserRow>(
            `INSERT INTO users (user_id, email, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)
             RETURNING ${USER_COLUMNS}`,
            [user.userId, user.email, user.name, user.passwordHash, at],
          );
          const membership = await insertOwnedOrganization(tx, user.userId, organizationName, at);
          return { user: toUser(single(rows)), membership };
        });
      } catch (err) {
        if (isUniqueViolation(err, USER_EMAIL_INDEX)) {
          throw new DuplicateUserError({ cause: err });
        }
        throw err;
      }
    },

    async insertUser(user, at) {
      try {
        const { rows } = await db.query<UserRow>(
          `INSERT INTO users (user_id, email, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)
           RETURNING ${USER_COLUMNS}`,
          [user.userId, user.email, user.name, user.passwordHash, at],
        );
        return toUser(single(rows));
      } catch (err) {
        if (isUniqueViolation(err, USER_EMAIL_INDEX)) {
          throw new DuplicateUserError({ cause: err });
        }
        throw err;
      }
    },

    async findUserByEmail(email) {
      const { rows } = await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE lower(email) = lower($1)`, [
        email,
      ]);
      return rows[0] ? toUser(rows[0]) : null;
    },

    async getUser(userId) {
      const { rows } = await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE user_id = $1`, [userId]);
      return rows[0] ? toUser(rows[0]) : null;
    },

    async changePassword(userId, passwordHash, at, keepTokenId) {
      return db.transaction(async (tx) => {
        const { rows } = await tx.query<UserRow>(
          `UPDATE users SET password_hash = $2, password_changed_at = $3 WHERE user_id = $1 RETURNING ${USER_COLUMNS}`,
          [userId, passwordHash, at],
        );
        if (!rows[0]) {
          return null;
        }
        const ended = await tx.query<TokenRow>(
          `UPDATE user_tokens SET revoked_at = $2
           WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND token_id <> $3
           RETURNING ${TOKEN_COLUMNS}`,
          [userId, at, keepTokenId],
        );
        return { user: toUser(rows[0]), ended: ended.rows.map(toToken) };
      });
    },
  };
}
