import { authOf, type OperationHandler, type RequestBody, send } from '../context.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import { contactNotFound, invalidField } from '../errors.ts';
import { toContact } from '../serialize.ts';

/** The page size: 20 by default, else a plain decimal 1–100 (no `1e1`, `0x10` or `Infinity`). */
export function parseLimit(raw: unknown): number {
  if (raw === undefined) {
    return 20;
  }
  const text = String(raw);
  const limit = Number(text);
  if (!/^[0-9]{1,3}$/.test(text) || limit < 1 || limit > 100) {
    throw invalidField('query.limit', 'must be a whole number from 1 to 100');
  }
  return limit;
}

/** Handlers of the contact operations, by operationId. */
export const contactHandlers: Record<string, OperationHandler> = {
  async listContacts(req, res, ctx) {
    const limit = parseLimit(req.query.limit);
    const { organizationId } = authOf(req);
    const after =
      typeof req.query.cursor === 'string'
        ? decodeCursor(ctx.serverSecret, organizationId, req.query.cursor)
        : undefined;
    const page = await ctx.store.listContacts(organizationId, after ? { limit, after } : { limit });
    const last = page.items.at(-1);
    send(res, 'listContacts', 200, {
      success: true,
      data: page.items.map(toContact),
      meta: {
        limit,
        hasMore: page.hasMore,
        nextCursor:
          page.hasMore && last
            ? encodeCursor(ctx.serverSecret, organizationId, { createdAt: last.createdAt, contactId: last.contactId })
            : null,
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
      throw contactNotFound(contactId);
    }
    send(res, 'getContact', 200, { success: true, data: toContact(contact) });
  },

  async updateContact(req, res, ctx) {
    const contactId = String(req.params.contactId);
    const patch = req.body as RequestBody<'updateContact'>;
    const contact = await ctx.store.updateContact(authOf(req).organizationId, contactId, patch, ctx.clock());
    if (!contact) {
      throw contactNotFound(contactId);
    }
    send(res, 'updateContact', 200, { success: true, data: toContact(contact) });
  },

  async deleteContact(req, res, ctx) {
    const contactId = String(req.params.contactId);
    if (!(await ctx.store.deleteContact(authOf(req).organizationId, contactId))) {
      throw contactNotFound(contactId);
    }
    send(res, 'deleteContact', 200, { success: true, data: { contactId, deleted: true } });
  },
};
