import { newId } from '../lib/ids.ts';
import type { Db } from './db.ts';
import { single, toDate } from './rows.ts';

/** An organization: the tenant that owns API keys and contacts. */
export interface OrganizationRecord {
  organizationId: string;
  name: string;
  plan: string;
  createdAt: Date;
}

/** The organizations table, seen on its own (organizations made by a user, with their owner: sql-memberships.ts). */
export interface OrganizationStore {
  /** Organization by name, created with `plan` (default 'free') when missing; when it exists and `plan` is given and differs, the plan is updated. */
  ensureOrganization(name: string, plan?: string): Promise<OrganizationRecord>;
  /** Organization by id, or null. */
  getOrganization(organizationId: string): Promise<OrganizationRecord | null>;
  /** Renames an organization; null when it does not exist. */
  renameOrganization(organizationId: string, name: string): Promise<OrganizationRecord | null>;
}

/** An `organizations` row, as every SQL module that reads one sees it. */
export interface OrganizationRow {
  organization_id: string;
  name: string;
  plan: string;
  created_at: Date;
}

const ORGANIZATION_COLUMNS = 'organization_id, name, plan, created_at';

/** An `organizations` row as a record. */
export function toOrganization(row: OrganizationRow): OrganizationRecord {
  return { organizationId: row.organization_id, name: row.name, plan: row.plan, createdAt: toDate(row.created_at) };
}

/** The organization statements, run on `db` (already wrapped with the store's typed errors). */
export function organizationStatements(db: Db): OrganizationStore {
  return {
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

    async renameOrganization(organizationId, name) {
      const { rows } = await db.query<OrganizationRow>(
        `UPDATE organizations SET name = $2 WHERE organization_id = $1 RETURNING ${ORGANIZATION_COLUMNS}`,
        [organizationId, name],
      );
      return rows[0] ? toOrganization(rows[0]) : null;
    },
  };
}
