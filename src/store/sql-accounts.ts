import { newId } from '../lib/ids.ts';
import { isUniqueViolation, type OrganizationRow, single, toDate, toOrganization } from './rows.ts';
import {
  type Db,
  DuplicateApiKeyError,
  DuplicateMemberError,
  DuplicateUserError,
  LastOwnerError,
  type MemberRecord,
  type MemberRole,
  type MembershipRecord,
  type Queryable,
  type Store,
  type UserRecord,
  type UserTokenRecord,
} from './types.ts';

/** The account side of the store: users, user tokens, organizations made by users, memberships. */
export type AccountStore = Pick<
  Store,
  | 'createUser'
  | 'findUserByEmail'
  | 'getUser'
  | 'insertUserToken'
  | 'findUserTokenByPublicId'
  | 'revokeUserToken'
  | 'listMemberships'
  | 'getMembership'
  | 'createOrganization'
  | 'renameOrganization'
  | 'listMembers'
  | 'addMember'
  | 'setMemberRole'
  | 'removeMember'
>;

interface UserRow {
  user_id: string;
  email: string;
  name: string | null;
  password_hash: string;
  created_at: Date;
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

interface MembershipRow extends OrganizationRow {
  role: MemberRole;
  joined_at: Date;
}

interface MemberRow {
  user_id: string;
  email: string;
  name: string | null;
  role: MemberRole;
  joined_at: Date;
}

const USER_COLUMNS = 'user_id, email, name, password_hash, created_at';
const TOKEN_COLUMNS = 'token_id, user_id, public_id, token_hash, created_at, expires_at, revoked_at';
const MEMBERSHIP_COLUMNS = 'o.organization_id, o.name, o.plan, o.created_at, m.role, m.created_at AS joined_at';
const MEMBER_COLUMNS = 'u.user_id, u.email, u.name, m.role, m.created_at AS joined_at';

// Unique indexes whose violations are expected outcomes rather than bugs.
const USER_EMAIL_INDEX = 'users_email_key';
const TOKEN_UNIQUE_INDEXES = new Set(['user_tokens_pkey', 'user_tokens_public_id_key']);
const MEMBERSHIP_INDEX = 'memberships_pkey';

function toUser(row: UserRow): UserRecord {
  return {
    userId: row.user_id,
    email: row.email,
    name: row.name,
    passwordHash: row.password_hash,
    createdAt: toDate(row.created_at),
  };
}

function toToken(row: TokenRow): UserTokenRecord {
  return {
    tokenId: row.token_id,
    userId: row.user_id,
    publicId: row.public_id,
    tokenHash: row.token_hash,
    createdAt: toDate(row.created_at),
    expiresAt: toDate(row.expires_at),
    revokedAt: row.revoked_at === null ? null : toDate(row.revoked_at),
  };
}

function toMembership(row: MembershipRow): MembershipRecord {
  return { ...toOrganization(row), role: row.role, joinedAt: toDate(row.joined_at) };
}

function toMember(row: MemberRow): MemberRecord {
  return { userId: row.user_id, email: row.email, name: row.name, role: row.role, joinedAt: toDate(row.joined_at) };
}

/**
 * Locks the organization's row for the rest of the transaction. Every change to an organization's owners takes this
 * lock first, so two owners demoting or removing each other at the same moment are serialized and the second sees
 * that it would leave no owner.
 */
async function lockOrganization(tx: Queryable, organizationId: string): Promise<boolean> {
  const { rows } = await tx.query('SELECT 1 FROM organizations WHERE organization_id = $1 FOR UPDATE', [
    organizationId,
  ]);
  return rows.length > 0;
}

/** Whether anyone but `userId` owns the organization (call under lockOrganization). */
async function hasOtherOwner(tx: Queryable, organizationId: string, userId: string): Promise<boolean> {
  const { rows } = await tx.query(
    "SELECT 1 FROM memberships WHERE organization_id = $1 AND role = 'owner' AND user_id <> $2 LIMIT 1",
    [organizationId, userId],
  );
  return rows.length > 0;
}

async function insertOrganization(tx: Queryable, userId: string, name: string, at: Date): Promise<MembershipRecord> {
  const organizationId = newId('org');
  await tx.query(
    `INSERT INTO organizations (organization_id, name, plan, created_at, created_by) VALUES ($1, $2, 'free', $3, $4)`,
    [organizationId, name, at, userId],
  );
  await tx.query(`INSERT INTO memberships (organization_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)`, [
    organizationId,
    userId,
    at,
  ]);
  return { organizationId, name, plan: 'free', createdAt: at, role: 'owner', joinedAt: at };
}

// Returned (not thrown) from inside a transaction: the PostgreSQL driver reads any error escaping a transaction as a
// connection problem, so the typed error is thrown once the transaction has rolled back.
const LAST_OWNER = Symbol('last owner');

/** The account statements, run on `db` (already wrapped with the store's typed errors). */
export function accountStatements(db: Db): AccountStore {
  const memberOf = async (q: Queryable, organizationId: string, userId: string): Promise<MemberRecord | null> => {
    const { rows } = await q.query<MemberRow>(
      `SELECT ${MEMBER_COLUMNS} FROM memberships m JOIN users u USING (user_id)
       WHERE m.organization_id = $1 AND m.user_id = $2`,
      [organizationId, userId],
    );
    return rows[0] ? toMember(rows[0]) : null;
  };

  return {
    async createUser({ user, organizationName, at }) {
      try {
        return await db.transaction(async (tx) => {
          const { rows } = await tx.query<UserRow>(
            `INSERT INTO users (user_id, email, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)
             RETURNING ${USER_COLUMNS}`,
            [user.userId, user.email, user.name, user.passwordHash, at],
          );
          const membership = await insertOrganization(tx, user.userId, organizationName, at);
          return { user: toUser(single(rows)), membership };
        });
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

    async listMemberships(userId) {
      const { rows } = await db.query<MembershipRow>(
        `SELECT ${MEMBERSHIP_COLUMNS} FROM memberships m JOIN organizations o USING (organization_id)
         WHERE m.user_id = $1
         ORDER BY m.created_at, m.organization_id`,
        [userId],
      );
      return rows.map(toMembership);
    },

    async getMembership(userId, organizationId) {
      const { rows } = await db.query<MembershipRow>(
        `SELECT ${MEMBERSHIP_COLUMNS} FROM memberships m JOIN organizations o USING (organization_id)
         WHERE m.user_id = $1 AND m.organization_id = $2`,
        [userId, organizationId],
      );
      return rows[0] ? toMembership(rows[0]) : null;
    },

    async createOrganization(userId, name, at) {
      return db.transaction((tx) => insertOrganization(tx, userId, name, at));
    },

    async renameOrganization(organizationId, name) {
      const { rows } = await db.query<OrganizationRow>(
        `UPDATE organizations SET name = $2 WHERE organization_id = $1 RETURNING organization_id, name, plan, created_at`,
        [organizationId, name],
      );
      return rows[0] ? toOrganization(rows[0]) : null;
    },

    async listMembers(organizationId) {
      const { rows } = await db.query<MemberRow>(
        `SELECT ${MEMBER_COLUMNS} FROM memberships m JOIN users u USING (user_id)
         WHERE m.organization_id = $1
         ORDER BY m.created_at, m.user_id`,
        [organizationId],
      );
      return rows.map(toMember);
    },

    async addMember(organizationId, email, role, at) {
      try {
        const { rows } = await db.query<{ user_id: string }>(
          `INSERT INTO memberships (organization_id, user_id, role, created_at)
           SELECT $1, user_id, $3, $4 FROM users WHERE lower(email) = lower($2)
           RETURNING user_id`,
          [organizationId, email, role, at],
        );
        const row = rows[0];
        return row ? await memberOf(db, organizationId, row.user_id) : null;
      } catch (err) {
        if (isUniqueViolation(err, MEMBERSHIP_INDEX)) {
          throw new DuplicateMemberError(email, { cause: err });
        }
        throw err;
      }
    },

    async setMemberRole(organizationId, userId, role) {
      const outcome = await db.transaction(async (tx) => {
        if (!(await lockOrganization(tx, organizationId))) {
          return null;
        }
        if (role !== 'owner' && !(await hasOtherOwner(tx, organizationId, userId))) {
          // Only refused when the user is in fact the last owner; a member who stays a member changes nothing.
          const current = await memberOf(tx, organizationId, userId);
          if (current?.role === 'owner') {
            return LAST_OWNER;
          }
        }
        await tx.query('UPDATE memberships SET role = $3 WHERE organization_id = $1 AND user_id = $2', [
          organizationId,
          userId,
          role,
        ]);
        return memberOf(tx, organizationId, userId);
      });
      if (outcome === LAST_OWNER) {
        throw new LastOwnerError();
      }
      return outcome;
    },

    async removeMember(organizationId, userId) {
      const outcome = await db.transaction(async (tx) => {
        if (!(await lockOrganization(tx, organizationId))) {
          return false;
        }
        const current = await memberOf(tx, organizationId, userId);
        if (!current) {
          return false;
        }
        if (current.role === 'owner' && !(await hasOtherOwner(tx, organizationId, userId))) {
          return LAST_OWNER;
        }
        await tx.query('DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2', [organizationId, userId]);
        return true;
      });
      if (outcome === LAST_OWNER) {
        throw new LastOwnerError();
      }
      return outcome;
    },
  };
}
