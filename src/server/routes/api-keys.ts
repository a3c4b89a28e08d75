import type { Request } from 'express';
import { issueApiKey } from '../../keys/issue.ts';
import { DEFAULT_GRACE_MINUTES, rotateApiKey } from '../../keys/rotate.ts';
import {
  ALL_PERMISSIONS,
  accessOf,
  missingPermissions,
  orderPermissions,
  type Permission,
  permissionsOfAccess,
} from '../../lib/permissions.ts';
import type { ApiKeyWithPlan } from '../../store/types.ts';
import { keyEvent } from '../../webhooks/events.ts';
import {
  type AppContext,
  authOf,
  callerFrom,
  type OperationHandler,
  organizationOf,
  type RequestBody,
  send,
} from '../context.ts';
import { accessDisagrees, apiKeyNotFound, keyAlreadyRotated, keyExpired, permissionsNotHeld } from '../errors.ts';
import { toApiKey } from '../serialize.ts';

const SHOWN_ONCE = 'This API key will only be shown once. Please store it securely.';

/** Drops a changed key from this instance's cache now and tells the other instances to do the same. */
async function keyChanged(ctx: AppContext, publicId: string): Promise<void> {
  ctx.keys.invalidate(publicId);
  await ctx.store.notifyKeyChange(publicId);
  // Its event is in the outbox already (same transaction): this instance's worker sends it now rather than at its next poll.
  ctx.webhooks.nudge();
}

/**
 * The permissions a create asks for: `permissions`, else what the `access` shorthand stands for, else every
 * permission. Both sent must name the same set (422 otherwise).
 */
function requestedPermissions(body: RequestBody<'createApiKey'>): readonly Permission[] | undefined {
  const shorthand = body.access === undefined ? undefined : permissionsOfAccess(body.access);
  if (body.permissions === undefined) {
    return shorthand;
  }
  const permissions = orderPermissions(body.permissions);
  if (body.access !== undefined && accessOf(permissions) !== body.access) {
    throw accessDisagrees(body.access, shorthand ?? []);
  }
  return permissions;
}

/** Refuses (403) a caller giving, or managing a key that holds, permissions the caller lacks itself. */
function refuseBeyondCaller(req: Request, permissions: readonly Permission[]): void {
  const missing = missingPermissions(callerFrom(req).permissions, permissions);
  if (missing.length > 0) {
    throw permissionsNotHeld(missing);
  }
}

/**
 * The active key `keyId` of the caller's organization, which the caller may manage: 404 when there is none, 403 when
 * it holds a permission the caller lacks (renaming, rotating or revoking a more powerful key would be a way past the
 * caller's own permissions: a rotation hands its new secret to the caller).
 */
async function keyWithinReach(req: Request, ctx: AppContext, keyId: string): Promise<ApiKeyWithPlan> {
  const key = await ctx.store.getApiKey(organizationOf(req).organizationId, keyId);
  if (!key) {
    throw apiKeyNotFound(keyId);
  }
  refuseBeyondCaller(req, key.permissions);
  return key;
}

/**
 * Handlers of the API key operations, by operationId. Each serves its `/v1/api-keys` operation (the API key's
 * organization) and its `/organizations/{organizationId}/api-keys` twin (the user's organization in the path): see
 * `organizationOf`.
 */
export const apiKeyHandlers: Record<string, OperationHandler> = {
  async listApiKeys(req, res, ctx) {
    const environment = req.query.environment as RequestBody<'createApiKey'>['environment'];
    const keys = await ctx.store.listApiKeys(organizationOf(req).organizationId, { environment });
    send(res, 'listApiKeys', 200, {
      success: true,
      data: keys.map((k) => toApiKey(k, ctx.plans, ctx.lastUsed.pending(k.keyId))),
      meta: { total: keys.length },
    });
  },

  async createApiKey(req, res, ctx) {
    const organization = organizationOf(req);
    const body = req.body as RequestBody<'createApiKey'>;
    // The default is every permission: a key that lacks some must name what it gives.
    const permissions = requestedPermissions(body) ?? ALL_PERMISSIONS;
    refuseBeyondCaller(req, permissions);
    const { plaintext, record } = await issueApiKey(ctx.store, ctx.serverSecret, {
      organizationId: organization.organizationId,
      name: body.name,
      expiresInDays: body.expirationDays,
      rateLimit: body.rateLimit,
      permissions,
      environment: body.environment,
      now: ctx.clock(),
    });
    ctx.webhooks.nudge();
    send(res, 'createApiKey', 201, {
      success: true,
      data: { ...toApiKey({ ...record, plan: organization.plan }, ctx.plans), apiKey: plaintext },
      meta: { warning: SHOWN_ONCE },
    });
  },

  async validateApiKey(req, res) {
    const { key } = authOf(req);
    send(res, 'validateApiKey', 200, {
      success: true,
      data: {
        valid: true,
        keyId: key.keyId,
        name: key.name,
        organizationId: key.organizationId,
        plan: key.plan,
        access: accessOf(key.permissions),
        permissions: key.permissions,
        environment: key.environment,
        expirationTs: key.expiresAt ? key.expiresAt.toISOString() : null,
      },
    });
  },

  async getApiKey(req, res, ctx) {
    const keyId = String(req.params.keyId);
    const key = await ctx.store.getApiKey(organizationOf(req).organizationId, keyId);
    if (!key) {
      throw apiKeyNotFound(keyId);
    }
    send(res, 'getApiKey', 200, { success: true, data: toApiKey(key, ctx.plans, ctx.lastUsed.pending(key.keyId)) });
  },

  async renameApiKey(req, res, ctx) {
    const keyId = String(req.params.keyId);
    const { name } = req.body as RequestBody<'renameApiKey'>;
    await keyWithinReach(req, ctx, keyId);
    const key = await ctx.store.renameApiKey(organizationOf(req).organizationId, keyId, name);
    if (!key) {
      throw apiKeyNotFound(keyId);
    }
    await keyChanged(ctx, key.publicId);
    send(res, 'renameApiKey', 200, { success: true, data: toApiKey(key, ctx.plans, ctx.lastUsed.pending(key.keyId)) });
  },

  async rotateApiKey(req, res, ctx) {
    const keyId = String(req.params.keyId);
    const body = req.body as RequestBody<'rotateApiKey'> | undefined;
    await keyWithinReach(req, ctx, keyId);
    const result = await rotateApiKey(ctx.store, ctx.serverSecret, {
      organizationId: organizationOf(req).organizationId,
      keyId,
      graceMinutes: body?.gracePeriodMinutes ?? DEFAULT_GRACE_MINUTES,
      now: ctx.clock(),
    });
    switch (result.outcome) {
      case 'not_found':
        throw apiKeyNotFound(keyId);
      case 'already_rotated':
        throw keyAlreadyRotated(keyId, result.successor);
      case 'expired':
        throw keyExpired(keyId, result.previous.expiresAt);
    }
    // Every instance drops the old key from its cache, so its new expiry (the end of the grace) holds everywhere.
    await keyChanged(ctx, result.previous.publicId);
    send(res, 'rotateApiKey', 201, {
      success: true,
      data: {
        ...toApiKey(result.current, ctx.plans),
        apiKey: result.plaintext,
        previousKey: toApiKey(result.previous, ctx.plans, ctx.lastUsed.pending(result.previous.keyId)),
      },
      meta: { warning: SHOWN_ONCE },
    });
  },

  async revokeApiKey(req, res, ctx) {
    const keyId = String(req.params.keyId);
    await keyWithinReach(req, ctx, keyId);
    const at = ctx.clock();
    const key = await ctx.store.revokeApiKey(organizationOf(req).organizationId, keyId, at, (revoked) => [
      keyEvent('api_key.revoked', revoked, at),
    ]);
    if (!key) {
      throw apiKeyNotFound(keyId);
    }
    await keyChanged(ctx, key.publicId);
    send(res, 'revokeApiKey', 200, { success: true, data: { keyId: key.keyId, revoked: true } });
  },
};

/** The `/organizations/{organizationId}/api-keys` operations: the same handlers, by their own operationIds. */
export const organizationApiKeyHandlers: Record<string, OperationHandler> = {
  listOrganizationApiKeys: apiKeyHandlers.listApiKeys as OperationHandler,
  createOrganizationApiKey: apiKeyHandlers.createApiKey as OperationHandler,
  getOrganizationApiKey: apiKeyHandlers.getApiKey as OperationHandler,
  renameOrganizationApiKey: apiKeyHandlers.renameApiKey as OperationHandler,
  revokeOrganizationApiKey: apiKeyHandlers.revokeApiKey as OperationHandler,
  rotateOrganizationApiKey: apiKeyHandlers.rotateApiKey as OperationHandler,
};
