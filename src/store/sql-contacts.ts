import { newId } from '../lib/ids.ts';
import type { Db } from './db.ts';
import { DuplicateEmailError } from './errors.ts';
import { isUniqueViolation, single, toDate } from './rows.ts';

/** A contact of an organization. */
export interface ContactRecord {
  contactId: string;
  organizationId: string;
  /** Stored as given; uniqueness per organization ignores case. */
  email: string;
  firstName: string | null;
  lastName: string | null;
  subscribed: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/** Fields for a new contact; `subscribed` defaults to true and names to null. */
export interface ContactInput {
  email: string;
  firstName?: string | null;
  lastName?: string | null;
  subscribed?: boolean;
}

/** Partial update of a contact: absent fields are left alone, `null` clears a name. */
export interface ContactPatch {
  email?: string;
  firstName?: string | null;
  lastName?: string | null;
  subscribed?: boolean;
}

/** Position in the contact list: the last item already returned. */
export interface ContactCursor {
  createdAt: Date;
  contactId: string;
}

/** The contacts of organizations. */
export interface ContactStore {
  /** Creates a contact with id `newId('ct')`; throws DuplicateEmailError. */
  createContact(organizationId: string, input: ContactInput, at: Date): Promise<ContactRecord>;
  /** Contact of that organization, or null. */
  getContact(organizationId: string, contactId: string): Promise<ContactRecord | null>;
  /** Oldest first by (createdAt, contactId); returns limit items after the cursor and whether more exist. */
  listContacts(
    organizationId: string,
    opts: { limit: number; after?: ContactCursor },
  ): Promise<{ items: ContactRecord[]; hasMore: boolean }>;
  /** Number of contacts of the organization. */
  countContacts(organizationId: string): Promise<number>;
  /** Applies the patch and sets updatedAt; null when missing; throws DuplicateEmailError. */
  updateContact(
    organizationId: string,
    contactId: string,
    patch: ContactPatch,
    at: Date,
  ): Promise<ContactRecord | null>;
  /** True when a contact was deleted. */
  deleteContact(organizationId: string, contactId: string): Promise<boolean>;
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

const CONTACT_COLUMNS = 'contact_id, organization_id, email, first_name, last_name, subscribed, created_at, updated_at';

// The unique index whose violation is an expected outcome rather than a bug.
const CONTACT_EMAIL_INDEX = 'contacts_organization_email_key';

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

async function mapDuplicateEmail<T>(work: Promise<T>, email: string): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (isUniqueViolation(err, CONTACT_EMAIL_INDEX)) {
      throw new DuplicateEmailError(email, { cause: err });
    }
    throw err;
  }
}

/** The contact statements, run on `db` (already wrapped with the store's typed errors). */
export function contactStatements(db: Db): ContactStore {
  return {
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
  };
}
