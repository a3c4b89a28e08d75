import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { PathsByScheme, PublicPath } from '../../generated/credentials.d.ts';
import type { components, paths } from '../../generated/schema.d.ts';
import { type AuthScheme, authMiddleware } from './middleware/auth.ts';
import { errorEnvelopeMiddleware } from './middleware/error-envelope.ts';
import { idempotencyKeyMiddleware } from './middleware/idempotency-key.ts';
import { createRateLimitTracker, rateLimitStateMiddleware } from './middleware/rate-limit-state.ts';
import { requestIdMiddleware } from './middleware/request-id.ts';
import { type RetryOptions, retryMiddleware } from './middleware/retry.ts';
import { createPacer, type PacingOptions, pacedFetch } from './pacer.ts';
import type { RateLimitState } from './rate-limit-headers.ts';

/** An API key's text, `mr_<public id>_<secret>`, as the spec's types have it (a create response's `apiKey`). */
export type ApiKey = components['schemas']['ApiKeyWithSecret']['apiKey'];

/** A user token's text, `mru_<public id>_<secret>`, as the spec's types have it (a session's `token`). */
export type UserToken = components['schemas']['UserSession']['token'];

/** `unknown` when `T` is not `Forbidden`, else `never`: `K & Not<K, UserToken>` refuses a user token for a key. */
type Not<T, Forbidden> = T extends Forbidden ? never : unknown;

/** The paths an API key opens (the spec's `bearerAuth` / `apiKeyHeader` operations), and the public ones. */
export type ApiKeyPaths = Pick<paths, PathsByScheme['bearerAuth'] | PathsByScheme['apiKeyHeader'] | PublicPath>;

/** The paths a user token opens (the spec's `userToken` operations), and the public ones (sign-up, log-in). */
export type UserTokenPaths = Pick<paths, PathsByScheme['userToken'] | PublicPath>;

/** What both clients share. */
interface CommonOptions {
  /** Where the API is, e.g. `http://127.0.0.1:3000` (sandbox) or `http://127.0.0.1:4010` (mock). */
  baseUrl: string;
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
  /**
   * Pace requests by the `RateLimit` / `RateLimit-Policy` headers of the answers (default on): once the window is
   * spent, requests wait for it to reset instead of being refused with a 429, all of this client's requests together.
   * `false` sends every request at once.
   */
  pacing?: PacingOptions | false;
  /** Called with the rate-limit state of every response that carries one, retried responses included. */
  onRateLimit?: (state: RateLimitState) => void;
}

/** Options of {@link createMailroomClient}. `K` is the key's type: anything but a user token's. */
export interface MailroomClientOptions<K extends string = string> extends CommonOptions {
  /** The API key, `mr_<public id>_<secret>`. A user token (`mru_…`, or typed `UserToken`) is refused. */
  apiKey: K & Not<K, UserToken>;
  /** The header that carries the key: `Authorization: Bearer` (default) or `X-API-Key`. */
  authScheme?: AuthScheme;
}

/** Options of {@link createMailroomAccountClient}. `T` is the token's type: anything but an API key's. */
export interface MailroomAccountClientOptions<T extends string = string> extends CommonOptions {
  /**
   * The user token, `mru_<public id>_<secret>`, from sign-up or log-in; omit it to sign up or log in. An API key
   * (`mr_…`, or typed `ApiKey`) is refused.
   */
  userToken?: T & Not<T, ApiKey>;
}

/** The last rate-limit state a client saw. */
interface RateLimitView {
  /** The binding window from the last response with rate-limit headers, or null before the first one. */
  readonly rateLimit: RateLimitState | null;
  /**
   * Forgets what the answers said of the rate-limit window, so pacing starts over (the next request goes alone and its
   * answer sets the budget): for after the server's windows were emptied, as a sandbox reset does (`resetSandbox`).
   */
  forgetRateLimits(): void;
}

/** An openapi-fetch client for the API-key side of the spec (`/v1`), plus the last rate-limit state it saw. */
export type MailroomClient = Client<ApiKeyPaths, 'application/json'> & RateLimitView;

/** An openapi-fetch client for the account side (`/auth`, `/organizations`), plus the last rate-limit state it saw. */
export type MailroomAccountClient = Client<UserTokenPaths, 'application/json'> & RateLimitView;

/**
 * Creates the typed Mailroom client for the API (`/v1`, with an API key): every request carries the key and an
 * `X-Request-Id`, every POST an `Idempotency-Key`; 429 (and 503 and network errors of idempotent methods and of
 * requests with an Idempotency-Key) are retried with backoff that honours `Retry-After`, error bodies are always
 * well-formed envelopes, and `client.rateLimit` tracks the announced limits. Pair it with `unwrap`. Only the paths
 * that take an API key type-check; a user token is refused.
 */
export function createMailroomClient<K extends string>(options: MailroomClientOptions<K>): MailroomClient {
  const apiKey: unknown = options.apiKey;
  if (typeof apiKey !== 'string' || apiKey.trim() === '') {
    throw new TypeError('createMailroomClient: apiKey is required (for example process.env.MAILROOM_API_KEY)');
  }
  if (apiKey.startsWith('mru_')) {
    throw new TypeError(
      'createMailroomClient: apiKey is a user token (mru_...), which works on /auth and /organizations only: use createMailroomAccountClient, or create an API key',
    );
  }
  if (options.authScheme !== undefined && options.authScheme !== 'bearer' && options.authScheme !== 'x-api-key') {
    throw new TypeError(`createMailroomClient: authScheme must be 'bearer' or 'x-api-key'`);
  }
  return buildClient<ApiKeyPaths>('createMailroomClient', options, authMiddleware(apiKey, options.authScheme));
}

/**
 * Creates the typed Mailroom client for the account side (`/auth`, `/organizations`, with a user token), with the
 * same retries, envelopes and rate-limit state as {@link createMailroomClient}. Without `userToken` it can sign up
 * and log in; create another with the session's token for the rest. Only the paths that take a user token (and the
 * public ones) type-check; an API key is refused.
 */
export function createMailroomAccountClient<T extends string>(
  options: MailroomAccountClientOptions<T>,
): MailroomAccountClient {
  const userToken: unknown = options.userToken;
  if (userToken !== undefined && (typeof userToken !== 'string' || userToken.trim() === '')) {
    throw new TypeError('createMailroomAccountClient: userToken must be a non-empty string when given');
  }
  if (typeof userToken === 'string' && userToken.startsWith('mr_')) {
    throw new TypeError(
      'createMailroomAccountClient: userToken is an API key (mr_...), which works on /v1 only: use createMailroomClient',
    );
  }
  return buildClient<UserTokenPaths>(
    'createMailroomAccountClient',
    options,
    typeof userToken === 'string' ? authMiddleware(userToken, 'bearer') : undefined,
  );
}

/** The client both factories build: the middleware chain below, and the credential's own middleware, if any. */
function buildClient<P extends {}>(
  factory: string,
  options: CommonOptions,
  credential: Middleware | undefined,
): Client<P, 'application/json'> & RateLimitView {
  if (typeof options.baseUrl !== 'string' || !URL.canParse(options.baseUrl)) {
    throw new TypeError(`${factory}: baseUrl must be an absolute URL, got ${String(options.baseUrl)}`);
  }
  const tracker = createRateLimitTracker(options.onRateLimit);
  // Looked up per request, as openapi-fetch would, so a fetch installed later is used.
  const send = options.fetch ?? ((request: Request) => globalThis.fetch(request));
  const pacer = options.pacing === false ? undefined : createPacer(options.pacing);
  const base = createClient<P, 'application/json'>({
    baseUrl: options.baseUrl,
    headers: { Accept: 'application/json' },
    // Pacing wraps fetch itself, under every middleware: it holds each send, the retry middleware's resends included.
    fetch: pacer === undefined ? send : pacedFetch(send, pacer),
  });
  // onRequest runs in this order and onResponse/onError in reverse: the retry middleware is innermost, so it copies
  // the request after the credential, the request id and the idempotency key are set, and the others see only the
  // final response of a retried call.
  base.use(
    errorEnvelopeMiddleware(),
    rateLimitStateMiddleware(tracker),
    requestIdMiddleware(),
    ...(options.idempotencyKeys === false ? [] : [idempotencyKeyMiddleware()]),
  );
  if (credential !== undefined) {
    base.use(credential);
  }
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
    forgetRateLimits() {
      pacer?.forget();
    },
  };
}
