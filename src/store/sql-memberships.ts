import { newId } from '../lib/ids.ts';
import type { Db, Queryable } from './db.ts';
import { DuplicateMemberError, LastOwnerError } from './errors.ts';
import { isUniqueViolation, toDate } from './rows.ts';
import { type OrganizationRecord, type OrganizationRow, toOrganization } from './sql-organizations.ts';

/** What a member may do in an organization: owners manage it and its members, members manage its keys. */
export type MemberRole = 'owner' | 'member';

/** An organization as one of its members sees it: with that member's role. */
export interface MembershipRecord extends OrganizationRecord {
  role: MemberRole;
  /** When the user joined (or created) the organization. */
  joinedAt: Date;
}

/** A member of an organization as the other members see them. */
export interface MemberRecord {
  userId: string;
  email: string;
  name: string | null;
  role: MemberRole;
  joinedAt: Date;
}

/** Who belongs to which organization, and the organizations users create (each keeps at least one owner). */
export interface MembershipStore {
  /** The organizations the user belongs to, with their role, oldest membership first. */
  listMemberships(userId: string): Promise<MembershipRecord[]>;
  /** The user's membership of that organization, or null when they are not a member (or it does not exist). */
  getMembership(userId: string, organizationId: string): Promise<MembershipRecord | null>;
  /** Creates an organization (plan 'free') owned by the user. */
  createOrganization(userId: string, name: string, at: Date): Promise<MembershipRecord>;
  /** The members of the organization, oldest first. */
  listMembers(organizationId: string): Promise<MemberRecord[]>;
  /**
   * Adds the user with this email; null when no user has it; throws DuplicateMemberError when they already belong.
   */
  addMember(organizationId: string, email: string, role: MemberRole, at: Date): Promise<MemberRecord | null>;
  /** Changes a member's role; null when not a member; throws LastOwnerError when it would leave no owner. */
  setMemberRole(organizationId: string, userId: string, role: MemberRole): Promise<MemberRecord | null>;
  /** Removes a member; false when not a member; throws LastOwnerError when it would leave no owner. */
  removeMember(organizationId: string, userId: string): Promise<boolean>;
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

const MEMBERSHIP_COLUMNS = 'o.organization_id, o.name, o.plan, o.created_at, m.role, m.created_at AS joined_at';
const MEMBER_COLUMNS = 'u.user_id, u.email, u.name, m.role, m.created_at AS joined_at';

// The unique index whose violation is an expected outcome rather than a bug.
const MEMBERSHIP_INDEX = 'memberships_pkey';

function toMembership(row: MembershipRow): MembershipRecord {
  return { ...toOrganization(row), role: row.role, joinedAt: toDate(row.joined_at) };
}

function toMember(row: MemberRow): MemberRecord {
  return { userId: row.user_id, email: row.email, name: row.name, role: row.role, joinedAt: toDate(row.joined_at) };
}

/** Creates an organization (plan 'free') and its owner's membership in the caller's transaction (sign-up shares it). */
export async function insertOwnedOrganization(
  tx: Queryable,
  userId: string,
  name: string,
  at: Date,
): Promise<MembershipRecord> {
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

/** The member `userId` of the organization, or null. */
async function memberOf(q: Queryable, organizationId: string, userId: string): Promise<MemberRecord | null> {
  const { rows } = await q.query<MemberRow>(
    `SELECT ${MEMBER_COLUMNS} FROM memberships m JOIN users u USING (user_id)
     WHERE m.organization_id = $1 AND m.user_id = $2`,
    [organizationId, userId],
  );
  return rows[0] ? toMember(rows[0]) : null;
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

// Returned (not thrown) from inside a transaction: the PostgreSQL driver reads any error escaping a transaction as a
// connection problem, so the typed error is thrown once the transaction has rolled back.
const LAST_OWNER = Symbol('last owner');

/** Runs `work` in a transaction, throwing LastOwnerError when it returned LAST_OWNER. */
async function guardLastOwner<T>(db: Db, work: (tx: Queryable) => Promise<T | typeof LAST_OWNER>): Promise<T> {
  const outcome = await db.transaction(work);
  if (outcome === LAST_OWNER) {
    throw new LastOwnerError();
  }
  return outcome;
}

/** The membership statements, run on `db` (already wrapped with the store's typed errors). */
export function membershipStatements(db: Db): MembershipStore {
  return {
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
      return db.transaction((tx) => insertOwnedOrganization(tx, userId, name, at));
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
      return guardLastOwner(db, async (tx) => {
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
    },

    async removeMember(organizationId, userId) {
      return guardLastOwner(db, async (tx) => {
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
    },
  };
}
