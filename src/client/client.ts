import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { paths } from '../../generated/schema.d.ts';
import { type AuthScheme, authMiddleware } from './middleware/auth.ts';
import { errorEnvelopeMiddleware } from './middleware/error-envelope.ts';
import { idempotencyKeyMiddleware } from './middleware/idempotency-key.ts';
import { createRateLimitTracker, rateLimitStateMiddleware } from './middleware/rate-limit-state.ts';
import { requestIdMiddleware } from './middleware/request-id.ts';
import { type RetryOptions, retryMiddleware } from './middleware/retry.ts';
import type { RateLimitState } from './rate-limit-headers.ts';

/** Options of {@link createMailroomClient}. */
export interface MailroomClientOptions {
  /** Where the API is, e.g. `http://127.0.0.1:3000` (sandbox) or `http://127.0.0.1:4010` (mock). */
  baseUrl: string;
  /** The API key, `mr_<public id>_<secret>`. */
  apiKey: string;
  /** The header that carries the key: `Authorization: Bearer` (default) or `X-API-Key`. */
  authScheme?: AuthScheme;
  /** Retry policy for 429, 503 and network errors; `false` sends every request once. */
  retry?: RetryOptions | false;
  /**
   * Send a fresh `Idempotency-Key` (a UUID) with every POST that has none, reused on the client's own retries, so a
   * retried create is replayed rather than made twice (default true). `false` sends none: POSTs are then never retried
   * after a 503 or a network error.
   */
  idempotencyKeys?: boolean;
  /** The fetch to send requests with (default: the global fetch). Retries use it too. */
  fetch?: (input: Request) => Promise<Response>;
  /** Called with the rate-limit state of every response that carries one, retried responses included. */
  onRateLimit?: (state: RateLimitState) => void;
}

/** An openapi-fetch client typed by the Mailroom spec, plus the last rate-limit state it saw. */
export type MailroomClient = Client<paths, 'application/json'> & {
  /** The binding window from the last response with rate-limit headers, or null before the first one. */
  readonly rateLimit: RateLimitState | null;
};

/**
 * Creates the typed Mailroom client: every request carries the key and an `X-Request-Id`, every POST an
 * `Idempotency-Key`; 429 (and 503 and network errors of idempotent methods and of requests with an Idempotency-Key)
 * are retried with backoff that honours `Retry-After`, error bodies are always well-formed envelopes, and
 * `client.rateLimit` tracks the announced limits. Pair it with `unwrap`.
 */
export function createMailroomClient(options: MailroomClientOptions): MailroomClient {
  if (typeof options.apiKey !== 'string' || options.apiKey.trim() === '') {
    throw new TypeError('createMailroomClient: apiKey is required (for example process.env.MAILROOM_API_KEY)');
  }
  if (typeof options.baseUrl !== 'string' || !URL.canParse(options.baseUrl)) {
    throw new TypeError(`createMailroomClient: baseUrl must be an absolute URL, got ${String(options.baseUrl)}`);
  }
  if (options.authScheme !== undefined && options.authScheme !== 'bearer' && options.authScheme !== 'x-api-key') {
    throw new TypeError(`createMailroomClient: authScheme must be 'bearer' or 'x-api-key'`);
  }
  const tracker = createRateLimitTracker(options.onRateLimit);
  const base = createClient<paths, 'application/json'>({
    baseUrl: options.baseUrl,
    headers: { Accept: 'application/json' },
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  });
  // onRequest runs in this order and onResponse/onError in reverse: the retry middleware is innermost, so it copies
  // the request after the key, the request id and the idempotency key are set, and the others see only the final
  // response of a retried call.
  base.use(
    errorEnvelopeMiddleware(),
    rateLimitStateMiddleware(tracker),
    requestIdMiddleware(),
    ...(options.idempotencyKeys === false ? [] : [idempotencyKeyMiddleware()]),
    authMiddleware(options.apiKey, options.authScheme),
  );
  let retry: Middleware | undefined;
  if (options.retry !== false) {
    const userOnRetry = options.retry?.onRetry;
    retry = retryMiddleware({
      ...options.retry,
      onRetry(event) {
        if (event.response !== undefined) {
          tracker.observe(event.response.headers);
        }
        userOnRetry?.(event);
      },
    });
    base.use(retry);
  }
  return {
    ...base,
    // Middleware added later still goes before the retry middleware, so retries resend what it changed.
    use(...middleware: Middleware[]) {
      if (retry === undefined) {
        base.use(...middleware);
        return;
      }
      base.eject(retry);
      base.use(...middleware, retry);
    },
    get rateLimit() {
      return tracker.current;
    },
  };
}
