import type { LimitDecision, WindowState } from './limiter.ts';

/**
 * The most restrictive window, the one X-RateLimit-* describe: lowest `remaining`, ties broken by the larger
 * `resetSeconds` (the one that takes longer to recover), then by order.
 */
export function selectBindingWindow(windows: readonly WindowState[]): WindowState {
  const [first, ...rest] = windows;
  if (first === undefined) {
    throw new RangeError('a decision needs at least one window');
  }
  let binding = first;
  for (const window of rest) {
    if (
      window.remaining < binding.remaining ||
      (window.remaining === binding.remaining && window.resetSeconds > binding.resetSeconds)
    ) {
      binding = window;
    }
  }
  return binding;
}

/** Header values for a decision: the binding window in X-RateLimit-*, every window in RateLimit-Policy, the binding one in RateLimit; Retry-After only when rejected. */
export function rateLimitHeaders(decision: LimitDecision): Record<string, string> {
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
  if (!decision.allowed) {
    headers['Retry-After'] = String(Math.max(1, headerInteger(decision.retryAfterSeconds ?? binding.resetSeconds)));
  }
  return headers;
}

// Header values are non-negative integers; decisions already are, this only guards the wire format.
function headerInteger(value: number): number {
  return Number.isFinite(value) ? Math.max(0, Math.ceil(value)) : 0;
}

// RFC 9651 sf-string: quoted, with backslash and double quote escaped (plan validation keeps names plain ASCII).
function sfString(value: string): string {
  return `"${value.replace(/[\\"]/g, '\\$&')}"`;
}
