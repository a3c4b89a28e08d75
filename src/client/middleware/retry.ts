import type { Middleware } from 'openapi-fetch';
import { parseRetryAfter } from '../rate-limit-headers.ts';

/** One retry about to happen: after `response` (a 429, 503 or 409) or `error` (a network error), waiting `delayMs`. */
export interface RetryEvent {
  /** 1 for the first retry, 2 for the second, … */
  attempt: number;
  delayMs: number;
  request: Request;
  response?: Response;
  error?: unknown;
}

/** How the client retries. Every field is optional; see {@link DEFAULT_RETRY}. */
export interface RetryOptions {
  /** Retries after the first send, so at most `maxRetries + 1` sends. 0 disables retrying. */
  maxRetries?: number;
  /** Base of the exponential backoff: the n-th retry (n from 0) draws from `[0, min(maxDelayMs, base × 2^n))`. */
  baseDelayMs?: number;
  /** Cap of the exponential backoff term. */
  maxDelayMs?: number;
  /** A `Retry-After` longer than this is not waited for: the response is returned at once (a RATE_LIMITED error). */
  maxRetryAfterMs?: number;
  /** Waits `ms`; rejects with the signal's reason when it aborts. Injectable for tests. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Uniform in [0, 1), like Math.random. Injectable for tests. */
  random?: () => number;
  /** Called just before each wait. */
  onRetry?: (event: RetryEvent) => void;
}

/** The defaults: 3 retries (4 sends), 250 ms base, 10 s cap, Retry-After honoured up to 60 s. */
export const DEFAULT_RETRY = {
  maxRetries: 3,
  baseDelayMs: 250,
  maxDelayMs: 10_000,
  maxRetryAfterMs: 60_000,
} as const satisfies RetryOptions;

/**
 * Statuses that are retried: 429 for every method (it was not processed); 503 only for requests that are safe to
 * repeat (see {@link isRepeatable}), since a database that timed out mid-write may have written; 409 only with
 * `Retry-After` on a request with an `Idempotency-Key` (IDEMPOTENCY_KEY_IN_USE: the first attempt is still running,
 * and the retry gets its outcome).
 */
export const RETRY_STATUSES: ReadonlySet<number> = new Set([409, 429, 503]);

/** Methods retried after a network error, where the request may or may not have reached the server (RFC 9110 §9.2.2). */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/**
 * Whether sending the request twice has the effect of sending it once: an idempotent method, or a request with an
 * `Idempotency-Key`, whose repeat the server answers with the first outcome.
 */
export function isRepeatable(request: Request): boolean {
  return IDEMPOTENT_METHODS.has(request.method) || request.headers.has('Idempotency-Key');
}

/**
 * The wait before retry number `retry + 1` (`retry` counts from 0): full jitter, `random × min(maxDelayMs,
 * baseDelayMs × 2^retry)`, added on top of `retryAfterMs` when the response had one — never earlier than the server
 * asked, and clients refused together do not come back together.
 */
export function retryDelay(
  retry: number,
  retryAfterMs: number | undefined,
  options: Pick<Required<RetryOptions>, 'baseDelayMs' | 'maxDelayMs' | 'random'>,
): number {
  const backoff = Math.floor(options.random() * Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** retry));
  return (retryAfterMs ?? 0) + backoff;
}

/** Waits `ms`, or rejects with `signal.reason` as soon as it aborts. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

type Outcome = { response: Response; error?: undefined } | { response?: undefined; error: unknown };

interface Pending {
  /** An unsent copy of the request, cloned again for every resend (bodies are streams). */
  template: Request;
  retries: number;
  settled: boolean;
}

/**
 * Retries 429 for every method, 503 and network errors for requests that are safe to repeat (an idempotent method or
 * an `Idempotency-Key`), and a 409 IDEMPOTENCY_KEY_IN_USE after its `Retry-After`, re-sending a copy of the request
 * (taken in `onRequest`, so register it last: it must see the final headers) with the client's fetch. Waits
 * {@link retryDelay}; gives up after `maxRetries`, when `Retry-After` exceeds `maxRetryAfterMs`, or when the request's
 * signal aborts. Giving up returns the last response (the caller sees its error) or rethrows the last network error.
 * Other statuses, 4xx and 500 included, are never retried.
 */
export function retryMiddleware(options: RetryOptions = {}): Middleware {
  const config = {
    ...DEFAULT_RETRY,
    sleep: abortableSleep,
    random: Math.random,
    ...withoutUndefined(options),
  };
  for (const name of ['maxRetries', 'baseDelayMs', 'maxDelayMs', 'maxRetryAfterMs'] as const) {
    const value = config[name];
    if (!Number.isFinite(value) || value < 0 || (name === 'maxRetries' && !Number.isInteger(value))) {
      throw new RangeError(`retry.${name} must be a non-negative ${name === 'maxRetries' ? 'integer' : 'number'}`);
    }
  }
  const pending = new WeakMap<Request, Pending>();

  async function settle(request: Request, first: Outcome, fetch: (input: Request) => Promise<Response>) {
    const state = pending.get(request);
    if (state === undefined || state.settled) {
      return first;
    }
    state.settled = true;
    let outcome = first;
    for (;;) {
      const delayMs = nextDelay(outcome, request, state.retries);
      if (delayMs === undefined) {
        return outcome;
      }
      state.retries++;
      config.onRetry?.({ attempt: state.retries, delayMs, request, ...outcome });
      // Free the connection of the response we are dropping (unless an onRetry hook started reading it).
      if (outcome.response?.body && !outcome.response.bodyUsed && !outcome.response.body.locked) {
        await outcome.response.body.cancel().catch(() => undefined);
      }
      await config.sleep(delayMs, request.signal);
      try {
        outcome = { response: await fetch(state.template.clone()) };
      } catch (error) {
        outcome = { error };
      }
    }
  }

  function nextDelay(outcome: Outcome, request: Request, retries: number): number | undefined {
    if (retries >= config.maxRetries || request.signal.aborted) {
      return undefined;
    }
    if (outcome.response === undefined) {
      return isRepeatable(request) && !isAbort(outcome.error) ? retryDelay(retries, undefined, config) : undefined;
    }
    const { status, headers } = outcome.response;
    if (!RETRY_STATUSES.has(status)) {
      return undefined;
    }
    if (status === 503 && !isRepeatable(request)) {
      return undefined;
    }
    if (status === 409 && !(request.headers.has('Idempotency-Key') && headers.has('Retry-After'))) {
      return undefined;
    }
    const retryAfterMs = parseRetryAfter(headers.get('Retry-After'));
    if (retryAfterMs !== undefined && retryAfterMs > config.maxRetryAfterMs) {
      return undefined;
    }
    return retryDelay(retries, retryAfterMs, config);
  }

  return {
    onRequest({ request }) {
      if (config.maxRetries > 0) {
        pending.set(request, { template: request.clone(), retries: 0, settled: false });
      }
      return undefined;
    },
    async onResponse({ request, response, options: { fetch } }) {
      const outcome = await settle(request, { response }, fetch);
      if (outcome.response === undefined) {
        throw outcome.error;
      }
      return outcome.response === response ? undefined : outcome.response;
    },
    async onError({ request, error, options: { fetch } }) {
      const outcome = await settle(request, { error }, fetch);
      if (outcome.response !== undefined) {
        return outcome.response;
      }
      if (outcome.error === error) {
        return undefined;
      }
      if (outcome.error instanceof Error) {
        return outcome.error;
      }
      throw outcome.error;
    },
  };
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
