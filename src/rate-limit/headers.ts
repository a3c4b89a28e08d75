import type { LimitDecision } from './decision.ts';

/**
 * The one renderer of rate-limit headers, for successes, errors and outages alike: the binding window in
 * X-RateLimit-* and RateLimit, every window in RateLimit-Policy, and Retry-After when the request is refused for a
 * limit (`refused`, by default when the decision did not admit it and names a retry time).
 */
export function rateLimitHeaders(decision: LimitDecision, refused = !decision.allowed): Record<string, string> {
  const { binding } = decision;
  const limit = headerInteger(binding.limit);
  const remaining = Math.min(limit, headerInteger(binding.remaining));
  const reset = headerInteger(binding.resetSeconds);
  const headers: Record<string, string> = {
    'X-RateLimit-Limit': String(limit),
    'X-RateLimit-Remaining': String(remaining),
    'X-RateLimit-Reset': String(reset),
    'RateLimit-Policy': decision.windows
      .map(
        (window) =>
          `${sfString(window.name)};q=${headerInteger(window.limit)};w=${headerInteger(window.windowSeconds)}`,
      )
      .join(', '),
    RateLimit: `${sfString(binding.name)};r=${remaining};t=${reset}`,
  };
  if (refused && !decision.outage) {
    headers['Retry-After'] = String(retryAfterSeconds(decision));
  }
  return headers;
}

/** Whole seconds a refused caller must wait: never below one. */
export function retryAfterSeconds(decision: LimitDecision): number {
  return Math.max(1, headerInteger(decision.retryAfterSeconds ?? decision.binding.resetSeconds));
}

/** The sentence of a 429: which window is exhausted and when to come back. */
export function describeRefusal(decision: LimitDecision, what = 'requests'): string {
  const { name, limit } = decision.binding;
  const wait = retryAfterSeconds(decision);
  return `Too many ${what}: the ${name} window of ${limit} is exhausted. Retry after ${wait} second${wait === 1 ? '' : 's'}.`;
}

// Header values are non-negative integers; decisions already are, this only guards the wire format.
function headerInteger(value: number): number {
  return Number.isFinite(value) ? Math.max(0, Math.ceil(value)) : 0;
}

// RFC 9651 sf-string: quoted, with backslash and double quote escaped (plan validation keeps names plain ASCII).
function sfString(value: string): string {
  return `"${value.replace(/[\\"]/g, '\\$&')}"`;
}
