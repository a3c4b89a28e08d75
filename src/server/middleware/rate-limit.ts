import type { RequestHandler, Response } from 'express';
import { rateLimitHeaders } from '../../rate-limit/headers.ts';
import type { LimitDecision, RateLimiter } from '../../rate-limit/limiter.ts';
import type { WindowConfig } from '../../rate-limit/plans.ts';
import { ApiError } from '../errors.ts';

/** Writes a decision's rate-limit headers; `Retry-After` only when the request itself is refused. */
export function setRateLimitHeaders(res: Response, decision: LimitDecision, refused = !decision.allowed): void {
  for (const [name, value] of Object.entries(rateLimitHeaders(decision))) {
    if (name !== 'Retry-After' || refused) {
      res.setHeader(name, value);
    }
  }
}

/** Headers for when the limiter's store is down and nothing is admitted: every window shown as exhausted. */
export function exhaustedHeaders(windows: WindowConfig[]): Record<string, string> {
  const longest = windows.reduce((a, b) => (b.windowSeconds > a.windowSeconds ? b : a));
  return {
    'X-RateLimit-Limit': String(longest.limit),
    'X-RateLimit-Remaining': '0',
    'X-RateLimit-Reset': String(longest.windowSeconds),
    'RateLimit-Policy': windows.map((w) => `"${w.name}";q=${w.limit};w=${w.windowSeconds}`).join(', '),
    RateLimit: `"${longest.name}";r=0;t=${longest.windowSeconds}`,
  };
}

/** The RATE_LIMITED error for a refused decision. */
export function rateLimitedError(decision: LimitDecision, what = 'requests'): ApiError {
  const retryAfter = decision.retryAfterSeconds ?? decision.binding.resetSeconds;
  const { name, limit } = decision.binding;
  return new ApiError(
    'RATE_LIMITED',
    `Too many ${what}: the ${name} window of ${limit} is exhausted. Retry after ${retryAfter} second${retryAfter === 1 ? '' : 's'}.`,
    { headers: { 'Retry-After': String(Math.max(1, retryAfter)) } },
  );
}

/** The one operation that reports rate-limit state without spending from it (GET /v1/rate-limit). */
const isUncounted = (method: string, path: string) => method === 'GET' && /^\/v1\/rate-limit\/?$/.test(path);

/**
 * Counts the request against the organization's plan windows and the key's own window, sets the
 * headers describing the binding window, and refuses with 429 when any window is exhausted.
 */
export function rateLimit(limiter: RateLimiter): RequestHandler {
  return async (req, res, next) => {
    const auth = req.auth;
    if (!auth) {
      throw new Error('rateLimit() must run after authenticate()');
    }
    const subject = {
      organizationId: auth.organizationId,
      plan: auth.plan,
      keyId: auth.key.keyId,
      keyRateLimit: auth.key.rateLimit,
    };
    if (isUncounted(req.method, req.path)) {
      const decision = await limiter.peek(subject);
      res.locals.rateLimit = decision;
      setRateLimitHeaders(res, decision, false);
      next();
      return;
    }
    const decision = await limiter.consume(subject);
    setRateLimitHeaders(res, decision);
    if (!decision.allowed) {
      throw rateLimitedError(decision);
    }
    next();
  };
}
