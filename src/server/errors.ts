import type { components } from '../../generated/schema.d.ts';
import { ERROR_STATUS, type ErrorCode } from '../lib/error-codes.ts';
import { scrubKeys } from './logger.ts';

// The catalogue of every error the server answers with, after Fastify's lib/errors.js: each built once, by a named
// constructor, with its message written here and nowhere else. Stages, routes, the HTTP edge and the sandbox's
// scenarios import the constructor they need; the error handler (error-handler.ts) turns whatever is thrown into the
// envelope. Grouped by where the error arises, in the order a request meets them.

export { ERROR_STATUS, type ErrorCode };

/** The spec's error body. */
export type ErrorEnvelope = components['schemas']['ErrorEnvelope'];
/** Per-field messages of a VALIDATION_ERROR. */
export type ErrorDetails = Record<string, string[]>;

/** An error the caller should see as it is: code, message, optional details and extra headers. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetails | undefined;
  readonly headers: Record<string, string>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: ErrorDetails; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.details = options.details;
    this.headers = options.headers ?? {};
  }
}

/** Builds the error body for a request id. */
export function errorBody(code: ErrorCode, message: string, requestId: string, details?: ErrorDetails): ErrorEnvelope {
  return {
    success: false,
    error: details && Object.keys(details).length > 0 ? { code, message, details } : { code, message },
    meta: { requestId },
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// The HTTP layer (http-edge.ts): what Node would have answered by itself.

/** The largest request line and headers the edge reads, in bytes (more is 431). */
export const DEFAULT_MAX_HEADER_SIZE = 16 * 1024;

/** The 431 of a head over `maxHeaderSize` bytes. */
export function headersTooLarge(maxHeaderSize: number = DEFAULT_MAX_HEADER_SIZE): ApiError {
  return new ApiError(
    'HEADERS_TOO_LARGE',
    `The request line and headers are larger than ${maxHeaderSize / 1024} KiB; send fewer or shorter headers or a shorter URL`,
  );
}

/** The 431 of a head with more header fields than the edge keeps. */
export function tooManyHeaderFields(maxHeaderCount: number): ApiError {
  return new ApiError('HEADERS_TOO_LARGE', `The request has more than ${maxHeaderCount} header fields`);
}

/** The message of a 400 for a chunked body whose framing is broken (the spec's `malformedRequest` example). */
export const CHUNKED_BODY_MALFORMED = 'The chunked request body is malformed';

/** A 400 of the HTTP layer: the request is not valid HTTP/1.1, for the reason given. */
export function malformedRequest(reason: string): ApiError {
  return new ApiError('BAD_REQUEST', reason);
}

/** Why the edge refuses a request, by Node's parser error code (anything else: not valid HTTP/1.1). */
export const PARSER_REFUSALS: Record<string, string> = {
  HPE_INVALID_METHOD: 'The request line is malformed: unknown method (methods are case-sensitive)',
  HPE_INVALID_URL: 'The request line is malformed: invalid request target',
  HPE_INVALID_VERSION: 'The request line is malformed: unsupported HTTP version (send HTTP/1.1)',
  HPE_INVALID_HEADER_TOKEN: 'A header is malformed: invalid character in a header name or value',
  HPE_INVALID_CONTENT_LENGTH: 'The Content-Length header is invalid or repeated',
  HPE_UNEXPECTED_CONTENT_LENGTH: 'Content-Length and Transfer-Encoding must not be sent together',
  HPE_INVALID_TRANSFER_ENCODING: 'Unsupported Transfer-Encoding: only chunked is accepted',
  HPE_INVALID_CHUNK_SIZE: CHUNKED_BODY_MALFORMED,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: CHUNKED_BODY_MALFORMED,
  HPE_INVALID_EOF_STATE: CHUNKED_BODY_MALFORMED,
};

/** The reason of a 400 for a request the parser refuses for a cause PARSER_REFUSALS does not name. */
export const NOT_HTTP = 'The request is not valid HTTP/1.1';

/** The reason of a 400 for a request target that carries a fragment (`/v1/contacts#x`): RFC 9112 has none. */
export const TARGET_WITH_FRAGMENT =
  'The request line is malformed: invalid request target (a fragment, #…, is never sent to a server)';

/** The 400 of a request that did not arrive in time: its headers, or (`inFlight`) its body. */
export function requestTimedOut(inFlight: boolean, limits: { headersTimeoutMs: number; requestTimeoutMs: number }) {
  return malformedRequest(
    inFlight
      ? `The request body was incomplete: it did not arrive within ${limits.requestTimeoutMs / 1000} s`
      : `The request was incomplete: its headers did not arrive within ${limits.headersTimeoutMs / 1000} s`,
  );
}

/** Why a request's Host is refused (RFC 9112 §3.2). */
export const HOST_REFUSALS = {
  repeated: 'The request has more than one Host header',
  missing: 'The request has no Host header (HTTP/1.1 requires one)',
  invalid: 'The Host header is not a valid host[:port]',
} as const;

// ---------------------------------------------------------------------------------------------------------------------
// Matching (operations.ts): a path or method the spec does not have.

/** The 404 of a path the spec doesn't have; `canonical` names the spec path it was meant to be, if one is near. */
export function routeNotFound(method: string, urlPath: string, canonical?: string): ApiError {
  const hint = canonical === undefined ? '' : `; paths are matched exactly as documented: did you mean ${canonical}?`;
  return new ApiError('RESOURCE_NOT_FOUND', `No route ${method} ${scrubKeys(urlPath)}${hint}`);
}

/** The 405 of a method the path doesn't declare, with `Allow`. */
export function methodNotAllowed(method: string, urlPath: string, allow: string): ApiError {
  return new ApiError('METHOD_NOT_ALLOWED', `${method} is not allowed on ${scrubKeys(urlPath)}; allowed: ${allow}`, {
    headers: { Allow: allow },
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// Authentication (credentials.ts): every reason a credential is refused, with its 401 message and its
// `WWW-Authenticate` challenge. The spec's 401 examples are named after these causes, so a sandbox scenario
// (`Prefer: code=401, example=revokedKey`) answers with exactly what the authenticator would say.

const REALM = 'Bearer realm="mailroom"';

/** The 401 of a refused credential: `message`, and an `invalid_token` challenge (a bare one for a missing credential). */
export function unauthorized(message: string, invalidToken = true): ApiError {
  // A header value is Latin-1 text without quotes to escape: keep the description to printable ASCII.
  const description = message.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, '?');
  const challenge = invalidToken ? `${REALM}, error="invalid_token", error_description="${description}"` : REALM;
  return new ApiError('UNAUTHORIZED', message, { headers: { 'WWW-Authenticate': challenge } });
}

const TAKES_AN_API_KEY =
  'This endpoint takes an API key (mr_...), not a user token: create a key with POST /organizations/{organizationId}/api-keys';
const TAKES_A_USER_TOKEN =
  'This endpoint takes a user token (mru_...) from POST /auth/login, not an API key: API keys work on /v1 only';

/** Every reason an API key (the `/v1` operations) is refused, by the name of the spec's 401 example. */
export const CREDENTIAL_REFUSALS = {
  missingCredentials: () =>
    unauthorized('Missing API key: send Authorization: Bearer <key> or X-API-Key: <key>', false),
  malformedAuthorization: () => unauthorized('Malformed Authorization header: expected "Bearer <key>"'),
  malformedKey: () => unauthorized('Malformed API key: expected mr_<8-character id>_<38-character secret>'),
  mistypedKey: () => unauthorized('Malformed API key: the checksum does not match (mistyped or truncated?)'),
  unknownKey: () => unauthorized('Unknown API key'),
  revokedKey: () => unauthorized('The API key has been revoked'),
  expiredKey: (expiredAt: Date) => unauthorized(`The API key expired at ${expiredAt.toISOString()}`),
  conflictingCredentials: () =>
    unauthorized('Conflicting credentials: Authorization and X-API-Key carry different keys; send one'),
  userTokenNotAccepted: () => unauthorized(TAKES_AN_API_KEY),
} satisfies Record<string, (at: Date) => ApiError>;

/** Every reason a user token (the `/auth` and `/organizations` operations) is refused, by its 401 example's name. */
export const USER_TOKEN_REFUSALS = {
  missingToken: () =>
    unauthorized(
      'Missing user token: send Authorization: Bearer <token> from POST /auth/login or POST /auth/signup',
      false,
    ),
  apiKeyNotAccepted: () => unauthorized(TAKES_A_USER_TOKEN),
  malformedAuthorization: () => unauthorized('Malformed Authorization header: expected "Bearer <token>"'),
  malformedToken: () => unauthorized('Malformed user token: expected mru_<8-character id>_<38-character secret>'),
  mistypedToken: () => unauthorized('Malformed user token: the checksum does not match (mistyped or truncated?)'),
  unknownToken: () => unauthorized('Unknown user token'),
  loggedOut: () => unauthorized('The user token has been revoked (logged out): log in again'),
  expiredToken: (expiredAt: Date) => unauthorized(`The user token expired at ${expiredAt.toISOString()}: log in again`),
} satisfies Record<string, (at: Date) => ApiError>;

/** Every reason a secret scanner's report (`POST /secret-scanning/github`) is refused: nothing of it is done. */
export const SECRET_SCANNER_REFUSALS = {
  unsigned: () =>
    unauthorized('Missing signature: send Github-Public-Key-Identifier and Github-Public-Key-Signature', false),
  unknownKey: () => unauthorized('Unknown Github-Public-Key-Identifier: no such public key is configured'),
  badSignature: () => unauthorized('Github-Public-Key-Signature does not verify over the request body'),
} satisfies Record<string, () => ApiError>;

/** A reason an API key is refused (the spec's 401 example names are among them). */
export type RefusalCause = keyof typeof CREDENTIAL_REFUSALS;

/** The 401 of a log-in with an unknown email or a wrong password: the same words for both. */
export function loginFailed(): ApiError {
  return new ApiError('UNAUTHORIZED', 'Invalid email or password', { headers: { 'WWW-Authenticate': REALM } });
}

// ---------------------------------------------------------------------------------------------------------------------
// Rate limiting (the limit stage, log-in's failed attempts).

/** The one message of a 503 caused by the rate-limit store. */
export const RATE_LIMIT_STORE_DOWN = 'The rate-limit store is unavailable. Retry with exponential backoff.';

/** The 503 of a rate-limit store outage under the fail-closed policy. */
export function rateLimitStoreDown(): ApiError {
  return new ApiError('SERVICE_UNAVAILABLE', RATE_LIMIT_STORE_DOWN);
}

/** What a refused log-in's 429 says it counted (the email's `account` window of failed attempts). */
export const FAILED_LOG_INS = 'failed log-ins for this account';

/** What a refused log-in's 429 says it counted when the email's window for this address is spent. */
export const FAILED_LOG_INS_FROM_ADDRESS = 'failed log-ins for this account from this address';

/** The 429 of an exhausted window, worded by the decision (rate-limit/headers.ts `describeRefusal`). */
export function rateLimited(sentence: string): ApiError {
  return new ApiError('RATE_LIMITED', sentence);
}

// ---------------------------------------------------------------------------------------------------------------------
// Authorization (the authorize stage): a valid credential that may not do this.

/** The 403 of an API key without the permission an operation's security requirement names. */
export function missingPermission(
  permission: string,
  operation: { id: string; method: string; path: string },
): ApiError {
  return new ApiError(
    'FORBIDDEN',
    `This API key lacks the ${permission} permission, which ${operation.id} (${operation.method} ${operation.path}) needs`,
    { details: { permissions: [permission] } },
  );
}

/** The 403 of a key creating (or renaming, rotating, revoking) a key with permissions it lacks itself. */
export function permissionsNotHeld(missing: readonly string[]): ApiError {
  return new ApiError(
    'FORBIDDEN',
    `An API key cannot grant or manage permissions it lacks itself; this one lacks ${missing.join(', ')}`,
    { details: { permissions: [...missing] } },
  );
}

/** The 403 of a user without the role an operation's security requirement names (its `owner`). */
export function userLacksRole(memberRole: string | undefined, role: string): ApiError {
  return new ApiError(
    'FORBIDDEN',
    role === 'owner'
      ? `Only an owner of this organization can do this; your role is ${memberRole ?? 'none'}`
      : `This user lacks the ${role} role`,
  );
}

/** The 403 of a member (not an owner) removing someone else. */
export function othersMembership(): ApiError {
  return new ApiError('FORBIDDEN', 'Only an owner can remove another member; you may remove yourself');
}

// ---------------------------------------------------------------------------------------------------------------------
// The body (body.ts) and the input check (input-check.ts).

/** The message of every VALIDATION_ERROR; what was invalid is in its details. */
export const INVALID_DATA = 'The given data was invalid';

/** The 422 of invalid input: per-field messages in `details`. */
export function invalidData(details: ErrorDetails): ApiError {
  return new ApiError('VALIDATION_ERROR', INVALID_DATA, { details });
}

/** The 422 of one invalid field. */
export function invalidField(field: string, message: string): ApiError {
  return invalidData({ [field]: [message] });
}

/** The 422 of a usage read whose period ends before it starts. */
export function periodReversed(): ApiError {
  return invalidField('query.from', 'must not be after to');
}

/** The 422 of a usage read whose period is longer than the request log is kept. */
export function periodOverRetention(retentionDays: number): ApiError {
  return invalidField(
    'query.from',
    `the period from from to to must be at most ${retentionDays} days (the retention period)`,
  );
}

/** The 422 of hourly usage over more than 31 days (744 buckets). */
export function hourlyPeriodTooLong(): ApiError {
  return invalidField('query.from', 'hourly usage spans at most 31 days; ask for granularity=day');
}

/** The 422 of a key create whose `access` shorthand and `permissions` name different sets. */
export function accessDisagrees(access: string, stands: readonly string[]): ApiError {
  const message = `${access} stands for ${stands.join(', ')}; send access or permissions, or both alike`;
  return invalidData({ access: [message], permissions: [message] });
}

/** Why a password is refused as easy to guess (sign-up's `password`, a password change's `newPassword`). */
export const WEAK_PASSWORD = {
  common: 'is too common: it is on the list of passwords attackers try first; choose another',
  email: 'must not be your email address',
} as const;

/** The 422 of a password that is on the common-password list, or is the account's email. */
export function weakPassword(field: string, cause: keyof typeof WEAK_PASSWORD): ApiError {
  return invalidField(field, WEAK_PASSWORD[cause]);
}

/** The 422 of a password change whose current password is wrong (it counts as a failed log-in). */
export function wrongCurrentPassword(): ApiError {
  return invalidField('currentPassword', 'is not your current password');
}

/** The 422 of a password change to the password it already is. */
export function samePassword(): ApiError {
  return invalidField('newPassword', 'must differ from your current password');
}

/** The message of a 413. */
export const BODY_TOO_LARGE = 'The request body exceeds the 100 KiB limit';

/** The 413 of a body over the limit. */
export function payloadTooLarge(): ApiError {
  return new ApiError('PAYLOAD_TOO_LARGE', BODY_TOO_LARGE);
}

/** The message of a 400 for a body that doesn't parse. */
export const BODY_NOT_JSON = 'The request body is not valid JSON';

/** A 400 about the body: it could not be read, is incomplete, empty, not UTF-8 or not JSON. */
export const BODY_REFUSALS = {
  notJson: () => new ApiError('BAD_REQUEST', BODY_NOT_JSON),
  notUtf8: () => new ApiError('BAD_REQUEST', 'The request body is not valid UTF-8'),
  empty: () => new ApiError('BAD_REQUEST', 'The request body is empty: send a JSON object'),
  incomplete: () => new ApiError('BAD_REQUEST', 'The request body was incomplete'),
  malformed: () => new ApiError('BAD_REQUEST', 'The request body was incomplete or malformed'),
  unreadable: () => new ApiError('BAD_REQUEST', 'The request body could not be read'),
};

/** The 415 of a body sent as another media type than JSON. */
export function unsupportedMediaType(contentType: string): ApiError {
  return new ApiError('UNSUPPORTED_MEDIA_TYPE', `Unsupported media type ${contentType}: send application/json`);
}

/** The 415 of a body in another charset or content coding than UTF-8 JSON. */
export function unsupportedEncoding(): ApiError {
  return new ApiError('UNSUPPORTED_MEDIA_TYPE', 'Unsupported body encoding or charset: send UTF-8 JSON');
}

// ---------------------------------------------------------------------------------------------------------------------
// Idempotency (idempotency.ts).

/** `Retry-After` of a 409 IDEMPOTENCY_KEY_IN_USE, in seconds: creates finish well within it. */
export const IN_USE_RETRY_AFTER_SECONDS = 1;

/** The 422 for an Idempotency-Key sent again with a different request. */
export function idempotencyKeyReused(): ApiError {
  return new ApiError(
    'IDEMPOTENCY_KEY_REUSED',
    'This Idempotency-Key was used for a different request (method, path or body) in the last 24 hours. Send a new key for a new request.',
  );
}

/** The 409 for a retry that arrives while the first request with its Idempotency-Key still runs. */
export function idempotencyKeyInUse(): ApiError {
  return new ApiError(
    'IDEMPOTENCY_KEY_IN_USE',
    `A request with this Idempotency-Key is still being processed. Retry after ${IN_USE_RETRY_AFTER_SECONDS} second to get its outcome.`,
    { headers: { 'Retry-After': String(IN_USE_RETRY_AFTER_SECONDS) } },
  );
}

// ---------------------------------------------------------------------------------------------------------------------
// The operations (routes/): their resources' own errors.

/** The 404 of a key id the caller's organization has no active key by. */
export function apiKeyNotFound(keyId: string): ApiError {
  return new ApiError('RESOURCE_NOT_FOUND', `No API key ${keyId} in this organization`);
}

/** The 409 for rotating a key that was rotated already: rotate its replacement. */
export function keyAlreadyRotated(keyId: string, successor: string): ApiError {
  return new ApiError(
    'KEY_ALREADY_ROTATED',
    `API key ${keyId} was already rotated; its replacement is ${successor}: rotate that one instead`,
  );
}

/** The 409 for rotating a key that has expired: create a new one. */
export function keyExpired(keyId: string, expiredAt: Date | null): ApiError {
  return new ApiError(
    'KEY_EXPIRED',
    `API key ${keyId} expired at ${expiredAt?.toISOString()} and cannot be rotated: create a new key`,
  );
}

/** The 404 of a webhook endpoint that is not the organization's. */
export function webhookEndpointNotFound(endpointId: string): ApiError {
  return new ApiError('RESOURCE_NOT_FOUND', `No webhook endpoint ${endpointId} in this organization`);
}

/** The 404 of a delivery that is not one of the endpoint's. */
export function webhookDeliveryNotFound(deliveryId: string): ApiError {
  return new ApiError('RESOURCE_NOT_FOUND', `No delivery ${deliveryId} of this webhook endpoint`);
}

/** The 404 of a contact id the caller's organization has no contact by. */
export function contactNotFound(contactId: string): ApiError {
  return new ApiError('RESOURCE_NOT_FOUND', `No contact ${contactId} in this organization`);
}

/** The 404 of a user id that is not a member of the organization. */
export function memberNotFound(userId: string): ApiError {
  return new ApiError('RESOURCE_NOT_FOUND', `No member ${userId} in this organization`);
}

/** The 404 of an organization that does not exist or is not the caller's (the same words for both). */
export function organizationNotFound(organizationId: string): ApiError {
  return new ApiError('RESOURCE_NOT_FOUND', `No organization ${scrubKeys(organizationId)} among yours`);
}

/** The 404 of a session id that is not one of the caller's working sessions (another user's is the same 404). */
export function sessionNotFound(sessionId: string): ApiError {
  return new ApiError('RESOURCE_NOT_FOUND', `No session ${scrubKeys(sessionId)} among yours`);
}

/** The 404 of adding a member by an email no account has. */
export function noSuchAccount(email: string): ApiError {
  return new ApiError('RESOURCE_NOT_FOUND', `No account with email ${email}: ask them to sign up first`);
}

// ---------------------------------------------------------------------------------------------------------------------
// The store (error-handler.ts maps its typed errors to these).

/** The 503 of a database outage. */
export function databaseUnavailable(): ApiError {
  return new ApiError('SERVICE_UNAVAILABLE', 'The database is unavailable. Retry with exponential backoff.');
}

/** The 500 of anything unexpected: only the request id reaches the caller. */
export function unexpectedError(requestId: string): ApiError {
  return new ApiError(
    'SERVER_ERROR',
    `An unexpected error occurred. Quote request id ${requestId} if you contact support.`,
  );
}
