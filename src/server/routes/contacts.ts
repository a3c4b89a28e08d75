import type { ContactCursor } from '../../store/types.ts';
import { authOf, type OperationHandler, type RequestBody, send } from '../context.ts';
import { ApiError } from '../errors.ts';
import { toContact } from '../serialize.ts';

/** Encodes the position after a contact as an opaque, URL-safe cursor. */
export function encodeCursor(cursor: ContactCursor): string {
  return Buffer.from(JSON.stringify({ c: cursor.createdAt.toISOString(), i: cursor.contactId })).toString('base64url');
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const CONTACT_ID = /^ct_[a-z0-9]{16}$/;

/** Decodes a cursor from `encodeCursor`; anything it would not have produced is a 422 on `query.cursor`. */
export function decodeCursor(raw: string): ContactCursor {
  try {
    const parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as { c?: unknown; i?: unknown };
    if (
      typeof parsed.c === 'string' &&
      typeof parsed.i === 'string' &&
      ISO_INSTANT.test(parsed.c) &&
      CONTACT_ID.test(parsed.i)
    ) {
      const cursor = { createdAt: new Date(parsed.c), contactId: parsed.i };
      if (!Number.isNaN(cursor.createdAt.getTime()) && encodeCursor(cursor) === raw) {
        return cursor;
      }
    }
  } catch {
    // fall through to the validation error
  }
  throw new ApiError('VALIDATION_ERROR', 'The given data was invalid', {
    details: { 'query.cursor': ['is not a cursor returned by this API'] },
  });
}

/** The page size: 20 by default, else a plain decimal 1–100 (no `1e1`, `0x10` or `Infinity`). */
export function parseLimit(raw: unknown): number {
  if (raw === undefined) {
    return 20;
  }
  const text = String(raw);
  const limit = Number(text);
  if (!/^[0-9]{1,3}$/.test(text) || limit < 1 || limit > 100) {
    throw new ApiError('VALIDATION_ERROR', 'The given data was invalid', {
      details: { 'query.limit': ['must be a whole number from 1 to 100'] },
    });
  }
  return limit;
}

/** The 404 of a contact id the caller's organization has no contact by. */
export function notFound(contactId: string): ApiError {
  return new ApiError('RESOURCE_NOT_FOUND', `No contact ${contactId} in this organization`);
}

/** Handlers of the contact operations, by operationId. */
export const contactHandlers: Record<string, OperationHandler> = {
  async listContacts(req, res, ctx) {
    const limit = parseLimit(req.query.limit);
    const after = typeof req.query.cursor === 'string' ? decodeCursor(req.query.cursor) : undefined;
    const page = await ctx.store.listContacts(authOf(req).organizationId, after ? { limit, after } : { limit });
    const last = page.items.at(-1);
    send(res, 'listContacts', 200, {
      success: true,
      data: page.items.map(toContact),
      meta: {
        limit,
        hasMore: page.hasMore,
        nextCursor:
          page.hasMore && last ? encodeCursor({ createdAt: last.createdAt, contactId: last.contactId }) : null,
      },
    });
  },

  async createContact(req, res, ctx) {
    const body = req.body as RequestBody<'createContact'>;
    const contact = await ctx.store.createContact(authOf(req).organizationId, body, ctx.clock());
    send(res, 'createContact', 201, { success: true, data: toContact(contact) });
  },

  async getContact(req, res, ctx) {
    const contactId = String(req.params.contactId);
    const contact = await ctx.store.getContact(authOf(req).organizationId, contactId);
    if (!contact) {
      throw notFound(contactId);
    }
    send(res, 'getContact', 200, { success: true, data: toContact(contact) });
  },

  async updateContact(req, res, ctx) {
    const contactId = String(req.params.contactId);
    const patch = req.body as RequestBody<'updateContact'>;
    const contact = await ctx.store.updateContact(authOf(req).organizationId, contactId, patch, ctx.clock());
    if (!contact) {
      throw notFound(contactId);
    }
    send(res, 'updateContact', 200, { success: true, data: toContact(contact) });
  },

  async deleteContact(req, res, ctx) {
    const contactId = String(req.params.contactId);
    if (!(await ctx.store.deleteContact(authOf(req).organizationId, contactId))) {
      throw notFound(contactId);
    }
    send(res, 'deleteContact', 200, { success: true, data: { contactId, deleted: true } });
  },
};
