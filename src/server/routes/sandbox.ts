import { writeRateLimitHeaders } from '../../rate-limit/headers.ts';
import { callerFrom, type OperationHandler, send } from '../context.ts';

/** The handlers of `POST /sandbox/reset` and `POST /sandbox/clock` (compiled only in sandbox mode: `x-sandbox-only`). */
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
  async advanceSandboxClock(req, res, ctx) {
    if (!ctx.sandbox) {
      throw new Error('advanceSandboxClock ran on a server that is not a sandbox');
    }
    // The input check held the body to the schema: a whole number of seconds within the bounds.
    const now = ctx.sandbox.clock.advance((req.body as { advanceSeconds: number }).advanceSeconds);
    // The expiry scan reads the clock: it runs now, not at its next interval.
    ctx.webhooks.nudge();
    send(res, 'advanceSandboxClock', 200, {
      success: true,
      data: { now: now.toISOString(), offsetSeconds: ctx.sandbox.clock.offsetSeconds() },
    });
  },
};
