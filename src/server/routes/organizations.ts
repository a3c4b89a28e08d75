import { type OperationHandler, type RequestBody, send, userOf } from '../context.ts';
import { memberNotFound, noSuchAccount, organizationNotFound, othersMembership } from '../errors.ts';
import { toMember, toOrganization } from '../serialize.ts';

/** The caller's membership of the organization in the path (the pipeline resolved it, or answered 404). */
function membershipOf(req: Parameters<OperationHandler>[0]) {
  const { membership } = userOf(req);
  if (!membership) {
    throw new Error('organization operation reached without a membership');
  }
  return membership;
}

/** Handlers of the organization and member operations, by operationId. Roles (`owner`) are checked by the pipeline. */
export const organizationHandlers: Record<string, OperationHandler> = {
  async listOrganizations(req, res, ctx) {
    const memberships = await ctx.store.listMemberships(userOf(req).userId);
    send(res, 'listOrganizations', 200, {
      success: true,
      data: memberships.map(toOrganization),
      meta: { total: memberships.length },
    });
  },

  async createOrganization(req, res, ctx) {
    const { name } = req.body as RequestBody<'createOrganization'>;
    const membership = await ctx.store.createOrganization(userOf(req).userId, name, ctx.clock());
    send(res, 'createOrganization', 201, { success: true, data: toOrganization(membership) });
  },

  async getOrganization(req, res) {
    send(res, 'getOrganization', 200, { success: true, data: toOrganization(membershipOf(req)) });
  },

  async renameOrganization(req, res, ctx) {
    const membership = membershipOf(req);
    const { name } = req.body as RequestBody<'renameOrganization'>;
    const renamed = await ctx.store.renameOrganization(membership.organizationId, name);
    if (!renamed) {
      throw organizationNotFound(membership.organizationId);
    }
    send(res, 'renameOrganization', 200, { success: true, data: toOrganization({ ...membership, ...renamed }) });
  },

  async listMembers(req, res, ctx) {
    const members = await ctx.store.listMembers(membershipOf(req).organizationId);
    send(res, 'listMembers', 200, { success: true, data: members.map(toMember), meta: { total: members.length } });
  },

  async addMember(req, res, ctx) {
    const { email, role } = req.body as RequestBody<'addMember'>;
    const added = await ctx.store.addMember(membershipOf(req).organizationId, email, role ?? 'member', ctx.clock());
    if (!added) {
      throw noSuchAccount(email);
    }
    send(res, 'addMember', 201, { success: true, data: toMember(added) });
  },

  async updateMember(req, res, ctx) {
    const userId = String(req.params.userId);
    const { role } = req.body as RequestBody<'updateMember'>;
    const updated = await ctx.store.setMemberRole(membershipOf(req).organizationId, userId, role);
    if (!updated) {
      throw memberNotFound(userId);
    }
    send(res, 'updateMember', 200, { success: true, data: toMember(updated) });
  },

  /** An owner may remove anyone; a member only themselves (leaving), which the spec's roles cannot say. */
  async removeMember(req, res, ctx) {
    const membership = membershipOf(req);
    const userId = String(req.params.userId);
    if (userId !== userOf(req).userId && membership.role !== 'owner') {
      throw othersMembership();
    }
    if (!(await ctx.store.removeMember(membership.organizationId, userId))) {
      throw memberNotFound(userId);
    }
    send(res, 'removeMember', 200, { success: true, data: { userId, removed: true } });
  },
};
