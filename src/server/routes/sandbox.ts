import { writeRateLimitHeaders } from '../../rate-limit/headers.ts';
import { callerFrom, type OperationHandler, send } from '../context.ts';

/** The handler of `POST /sandbox/reset` (compiled only in sandbox mode: the operation is `x-sandbox-only`). */
export const sandboxHandlers: Record<string, OperationHandler> = {
  async resetSandbox(req, res, ctx) {
    if (!ctx.sandbox) {
      throw new Error('resetSandbox ran on a server that is not a sandbox');
    }
    const outcome = await ctx.sandbox.reset({ fromRequest: true });
    // The limit stage described the windows before the reset; the answer says what the reset left (unspent), so a
    // client pacing itself by these headers starts over too.
    writeRateLimitHeaders(res, await ctx.limiter.peek(callerFrom(req).limitSubject), false);
    send(res, 'resetSandbox', 200, {
      success: true,
      data: { seed: outcome.seed, restored: outcome.restored, resetAt: outcome.resetAt.toISOString() },
    });
  },
};
