import type { LimitDecision } from './decision.ts';

/** Where rendered headers go: anything with a `setHeader`, such as a Node or Express response. */
export interface HeaderSink {
  setHeader(name: string, value: string): unknown;
}

/**
 * The one renderer of rate-limit headers, for successes, errors and outages alike: the binding window in
 * X-RateLimit-* and RateLimit, every window in RateLimit-Policy, and Retry-After when the request is refused for a
 * limit (`refused`, by default when the decision did not admit it and names a retry time). Writes straight into
 * `sink` (a response on the hot path: no intermediate object).
 */
export function writeRateLimitHeaders(sink: HeaderSink, decision: LimitDecision, refused = !decision.allowed): void {
  const { binding } = decision;
  const limit = headerInteger(binding.limit);
  const remaining = Math.min(limit, headerInteger(binding.remaining));
  const reset = headerInteger(binding.resetSeconds);
  sink.setHeader('X-RateLimit-Limit', String(limit));
  sink.setHeader('X-RateLimit-Remaining', String(remaining));
  sink.setHeader('X-RateLimit-Reset', String(reset));
  let policy = '';
  for (const window of decision.windows) {
    policy += `${policy === '' ? '' : ', '}${sfString(window.name)};q=${headerInteger(window.limit)};w=${headerInteger(window.windowSeconds)}`;
  }
  sink.setHeader('RateLimit-Policy', policy);
  sink.setHeader('RateLimit', `${sfString(binding.name)};r=${remaining};t=${reset}`);
  if (refused && !decision.outage) {
    sink.setHeader('Retry-After', String(retryAfterSeconds(decision)));
  }
}

/** The same headers as {@link writeRateLimitHeaders}, as an object by name. */
export function rateLimitHeaders(decision: LimitDecision, refused = !decision.allowed): Record<string, string> {
  const headers: Record<string, string> = {};
  writeRateLimitHeaders({ setHeader: (name, value) => (headers[name] = value) }, decision, refused);
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
