import type { Middleware } from 'openapi-fetch';
import { parseRateLimitHeaders, type RateLimitState } from '../rate-limit-headers.ts';

/** Holds the last rate-limit state seen on any response. */
export interface RateLimitTracker {
  /** The last state seen, or null before the first response that carried rate-limit headers. */
  readonly current: RateLimitState | null;
  /** Records the state in `headers`, if any, and passes it to the callback. */
  observe(headers: Headers): void;
}

/** Creates a tracker that calls `onRateLimit` with every state it records. */
export function createRateLimitTracker(onRateLimit?: (state: RateLimitState) => void): RateLimitTracker {
  let current: RateLimitState | null = null;
  return {
    get current() {
      return current;
    },
    observe(headers) {
      const state = parseRateLimitHeaders(headers);
      if (state !== null) {
        current = state;
        onRateLimit?.(state);
      }
    },
  };
}

/** Feeds the rate-limit headers of every response (errors included) to `tracker`. */
export function rateLimitStateMiddleware(tracker: RateLimitTracker): Middleware {
  return {
    onResponse({ response }) {
      tracker.observe(response.headers);
      return undefined;
    },
  };
}
