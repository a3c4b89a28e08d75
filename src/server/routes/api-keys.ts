import { issueApiKey } from '../../keys/issue.ts';
import { DEFAULT_GRACE_MINUTES, rotateApiKey } from '../../keys/rotate.ts';
import { type AppContext, authOf, type OperationHandler, organizationOf, type RequestBody, send } from '../context.ts';
import { apiKeyNotFound, keyAlreadyRotated, keyExpired } from '../errors.ts';
import { toApiKey } from '../serialize.ts';

const SHOWN_ONCE = 'This API key will only be shown once. Please store it securely.';

/** Drops a changed key from this instance's cache now and tells the other instances to do the same. */
async function keyChanged(ctx: AppContext, publicId: string): Promise<void> {
  ctx.keys.invalidate(publicId);
  await ctx.store.notifyKeyChange(publicId);
}

/**
 * Handlers of the API key operations, by operationId. Each serves its `/v1/api-keys` operation (the API key's
 * organization) and its `/organizations/{organizationId}/api-keys` twin (the user's organization in the path): see
 * `organizationOf`.
 */
export const apiKeyHandlers: Record<string, OperationHandler> = {
  async listApiKeys(req, res, ctx) {
    const keys = await ctx.store.listApiKeys(organizationOf(req).organizationId);
    send(res, 'listApiKeys', 200, {
      success: true,
      data: keys.map((k) => toApiKey(k, ctx.plans, ctx.lastUsed.pending(k.keyId))),
      meta: { total: keys.length },
    });
  },

  async createApiKey(req, res, ctx) {
    const organization = organizationOf(req);
    const body = req.body as RequestBody<'createApiKey'>;
    const { plaintext, record } = await issueApiKey(ctx.store, ctx.serverSecret, {
      organizationId: organization.organizationId,
      name: body.name,
      expiresInDays: body.expirationDays,
      rateLimit: body.rateLimit,
      access: body.access,
      now: ctx.clock(),
    });
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
        access: key.access,
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
    const key = await ctx.store.revokeApiKey(organizationOf(req).organizationId, keyId, ctx.clock());
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
