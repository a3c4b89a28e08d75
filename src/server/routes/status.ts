import { authOf, type OperationHandler, send } from '../context.ts';
import { rateLimitStoreDown } from '../errors.ts';

/** Handlers of the health and rate-limit operations, by operationId. */
export const statusHandlers: Record<string, OperationHandler> = {
  async getLiveness(_req, res) {
    send(res, 'getLiveness', 200, { success: true, data: { status: 'ok' } });
  },

  async getHealth(req, res, ctx) {
    const actual = await ctx.limiter.health();
    // A sandbox scenario's `example=degraded`: the rate-limit store reported as a fail-open outage would report it.
    const limiter = req.scenario?.example === 'degraded' ? { ...actual, status: 'degraded' as const } : actual;
    // ping() throws StoreUnavailableError when the database is down, which the error handler turns into 503.
    await ctx.store.ping();
    if (limiter.status === 'down') {
      throw rateLimitStoreDown();
    }
    send(res, 'getHealth', 200, {
      success: true,
      data: {
        status: limiter.status === 'up' ? 'ok' : 'degraded',
        version: ctx.version,
        time: ctx.clock().toISOString(),
        organizationId: authOf(req).organizationId,
        scenarios: ctx.scenarios,
        stores: { database: { kind: ctx.store.kind, status: 'up' }, rateLimiter: limiter },
      },
    });
  },

  async getRateLimitStatus(req, res) {
    const auth = authOf(req);
    const decision = req.rateLimit;
    if (!decision) {
      throw new Error('getRateLimitStatus needs x-rate-limit: peek in the spec');
    }
    send(res, 'getRateLimitStatus', 200, {
      success: true,
      data: {
        organizationId: auth.organizationId,
        plan: auth.plan,
        keyId: auth.key.keyId,
        windows: decision.windows,
        binding: decision.binding.name,
      },
    });
  },
};
