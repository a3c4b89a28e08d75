import type { Request } from 'express';
import { KEY_PREFIX, parseApiKey, verifyApiKey } from '../keys/api-key.ts';
import { parseUserToken, USER_TOKEN_PREFIX, verifyUserToken } from '../keys/user-token.ts';
import type { LimitSubject } from '../rate-limit/limiter.ts';
import type { ApiKeyWithPlan, MembershipRecord, UserTokenRecord } from '../store/types.ts';
import { ApiError } from './errors.ts';
import type { KeyCache, TokenCache } from './key-cache.ts';
import type { LastUsedTracker } from './last-used.ts';

/** One alternative of an operation's `security`: scheme name → required roles (e.g. `{ bearerAuth: ['write'] }`). */
export type SecurityRequirement = Record<string, string[]>;

/** A caller admitted by an organization API key (either header). */
export interface ApiKeyPrincipal {
  scheme: 'apiKey';
  key: ApiKeyWithPlan;
  organizationId: string;
  plan: string;
}

/** A person admitted by a user token (the `userToken` scheme). */
export interface UserPrincipal {
  scheme: 'userToken';
  userId: string;
  token: UserTokenRecord;
  /**
   * The user's membership of the organization in the path, for operations with an `organizationId` path parameter:
   * set by the pipeline before roles are checked (a non-member never gets that far: 404).
   */
  membership?: MembershipRecord;
}

/** Whoever an authenticator admitted; routes read it with `authOf(req)` or `userOf(req)`. */
export type Principal = ApiKeyPrincipal | UserPrincipal;

/** An authenticator's answer: the principal, or why the credential is refused and the challenge for the 401. */
export type Verdict = { ok: true; principal: Principal } | { ok: false; message: string; challenge: string };

/** Verifies the credential of one kind of security scheme. */
export interface Authenticator {
  verify(req: Request): Promise<Verdict>;
}

/** What the authenticators need. */
export interface AuthenticatorDeps {
  keys: KeyCache;
  tokens: TokenCache;
  serverSecret: string;
  clock: () => Date;
  lastUsed: LastUsedTracker;
}

/**
 * The authenticators by the security scheme names of the spec (`components.securitySchemes`): the pipeline runs the
 * one an operation's `security` names. Both API-key schemes share one authenticator, which reads both headers so
 * that conflicting keys are refused rather than guessed at.
 */
export function createAuthenticators(deps: AuthenticatorDeps): Record<string, Authenticator> {
  const apiKey = apiKeyAuthenticator(deps);
  return { bearerAuth: apiKey, apiKeyHeader: apiKey, userToken: userTokenAuthenticator(deps) };
}

/** The authenticator for an operation's security alternatives, and the roles the alternative it serves requires. */
export function authenticatorFor(
  authenticators: Record<string, Authenticator>,
  security: SecurityRequirement[],
): { authenticator: Authenticator; roles: string[] } {
  for (const alternative of security) {
    for (const [scheme, roles] of Object.entries(alternative)) {
      const authenticator = authenticators[scheme];
      if (authenticator) {
        return { authenticator, roles };
      }
    }
  }
  throw new Error(`no authenticator for security ${JSON.stringify(security)}`);
}

/**
 * Whether the principal holds a role an operation's security requirement names: for an API key `write` (may change
 * resources: a `full` key); for a user token `owner` (owns the organization in the path).
 */
export function grants(principal: Principal, role: string): boolean {
  if (principal.scheme === 'userToken') {
    return role === 'owner' && principal.membership?.role === 'owner';
  }
  return role === 'write' ? principal.key.access === 'full' : false;
}

/** Why the principal is refused an operation that needs `role` (the 403's message). */
export function refusal(principal: Principal, role: string): string {
  if (principal.scheme === 'userToken') {
    return role === 'owner'
      ? `Only an owner of this organization can do this; your role is ${principal.membership?.role ?? 'none'}`
      : `This user lacks the ${role} role`;
  }
  return role === 'write'
    ? `This API key is ${principal.key.access} and cannot modify resources`
    : `This API key lacks the ${role} role`;
}

/** The principal as it would be without `role` (a sandbox scenario's 403 says what the real one would). */
export function withoutRole(principal: Principal, role: string): Principal {
  if (principal.scheme === 'userToken') {
    const membership = principal.membership;
    return role === 'owner' && membership ? { ...principal, membership: { ...membership, role: 'member' } } : principal;
  }
  return role === 'write' ? { ...principal, key: { ...principal.key, access: 'read_only' } } : principal;
}

/**
 * Who the principal's requests count against: an API key's organization pool (by plan) and its key's own budget; a
 * user token's `user` window, per user.
 */
export function limitSubjectOf(principal: Principal): LimitSubject {
  if (principal.scheme === 'userToken') {
    return { window: 'user', id: principal.userId };
  }
  return {
    organizationId: principal.organizationId,
    plan: principal.plan,
    keyId: principal.key.keyId,
    keyRateLimit: principal.key.rateLimit,
  };
}

/**
 * Whose idempotency keys a principal's requests use: the organization acted on and the credential's principal (the
 * key for an API key; the user for a user token, whose organization is the one in the path, if any: none, '', when
 * creating an organization). Without a principal (a sign-up) the scope is anonymous: the idempotency key alone, and
 * the request's fingerprint (its body included) decides whether a second request is a retry.
 */
export function idempotencyScopeOf(principal: Principal | undefined): { organizationId: string; principal: string } {
  if (principal === undefined) {
    return { organizationId: '', principal: 'anonymous' };
  }
  if (principal.scheme === 'userToken') {
    return { organizationId: principal.membership?.organizationId ?? '', principal: `user:${principal.userId}` };
  }
  return { organizationId: principal.organizationId, principal: `key:${principal.key.keyId}` };
}

/**
 * The headers that tell a caller its key is in the grace period of a rotation: `Deprecation` (RFC 9745, when it was
 * rotated) and `Sunset` (RFC 8594, when it stops working). Undefined for any other key.
 */
export function graceHeaders(principal: Principal): Record<string, string> | undefined {
  if (principal.scheme !== 'apiKey') {
    return undefined;
  }
  const { rotatedAt, expiresAt } = principal.key;
  if (rotatedAt === null || expiresAt === null) {
    return undefined;
  }
  return { Deprecation: `@${Math.floor(rotatedAt.getTime() / 1000)}`, Sunset: expiresAt.toUTCString() };
}

const API_KEY_REALM = 'Bearer realm="mailroom"';

const TAKES_AN_API_KEY =
  'This endpoint takes an API key (mr_...), not a user token: create a key with POST /organizations/{organizationId}/api-keys';
const TAKES_A_USER_TOKEN =
  'This endpoint takes a user token (mru_...) from POST /auth/login, not an API key: API keys work on /v1 only';

function refuse(message: string, invalidToken = true): Extract<Verdict, { ok: false }> {
  // A header value is Latin-1 text without quotes to escape: keep the description to printable ASCII.
  const description = message.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, '?');
  const challenge = invalidToken
    ? `${API_KEY_REALM}, error="invalid_token", error_description="${description}"`
    : API_KEY_REALM;
  return { ok: false, message, challenge };
}

/**
 * Every reason a credential is refused, with its 401 message and `WWW-Authenticate` challenge: the one place their
 * words live. The spec's 401 examples are named after these causes, so a sandbox scenario (`Prefer: code=401,
 * example=revokedKey`) answers with exactly what the authenticator would say.
 */
export const CREDENTIAL_REFUSALS = {
  missingCredentials: () => refuse('Missing API key: send Authorization: Bearer <key> or X-API-Key: <key>', false),
  malformedAuthorization: () => refuse('Malformed Authorization header: expected "Bearer <key>"'),
  malformedKey: () => refuse('Malformed API key: expected mr_<8-character id>_<38-character secret>'),
  mistypedKey: () => refuse('Malformed API key: the checksum does not match (mistyped or truncated?)'),
  unknownKey: () => refuse('Unknown API key'),
  revokedKey: () => refuse('The API key has been revoked'),
  expiredKey: (expiredAt: Date) => refuse(`The API key expired at ${expiredAt.toISOString()}`),
  conflictingCredentials: () =>
    refuse('Conflicting credentials: Authorization and X-API-Key carry different keys; send one'),
  userTokenNotAccepted: () => refuse(TAKES_AN_API_KEY),
} satisfies Record<string, (at: Date) => Verdict>;

/**
 * Every reason a user token is refused (the `/auth` and `/organizations` operations), named as the spec's examples of
 * their 401 are: the one place their words live.
 */
export const USER_TOKEN_REFUSALS = {
  missingToken: () =>
    refuse('Missing user token: send Authorization: Bearer <token> from POST /auth/login or POST /auth/signup', false),
  apiKeyNotAccepted: () => refuse(TAKES_A_USER_TOKEN),
  malformedAuthorization: () => refuse('Malformed Authorization header: expected "Bearer <token>"'),
  malformedToken: () => refuse('Malformed user token: expected mru_<8-character id>_<38-character secret>'),
  mistypedToken: () => refuse('Malformed user token: the checksum does not match (mistyped or truncated?)'),
  unknownToken: () => refuse('Unknown user token'),
  loggedOut: () => refuse('The user token has been revoked (logged out): log in again'),
  expiredToken: (expiredAt: Date) => refuse(`The user token expired at ${expiredAt.toISOString()}: log in again`),
} satisfies Record<string, (at: Date) => Verdict>;

/** A refusal in the authenticator's form for a cause named elsewhere: `message`, with an invalid_token challenge. */
export function refuseCredential(message: string): Extract<Verdict, { ok: false }> {
  return refuse(message);
}

/** A reason a credential is refused (the spec's 401 example names are among them). */
export type RefusalCause = keyof typeof CREDENTIAL_REFUSALS;

/** The 401 of a refused credential: its message, and its challenge in `WWW-Authenticate`. */
export function unauthorized(verdict: Extract<Verdict, { ok: false }>): ApiError {
  return new ApiError('UNAUTHORIZED', verdict.message, { headers: { 'WWW-Authenticate': verdict.challenge } });
}

/** The presented key from either header, or why the headers can't be used. */
function presentedKey(req: Request): { raw: string } | Verdict {
  const authorization = req.headers.authorization;
  const headerKey = req.headers['x-api-key'];
  let bearer: string | undefined;
  if (authorization !== undefined) {
    const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(authorization);
    if (!match) {
      return CREDENTIAL_REFUSALS.malformedAuthorization();
    }
    bearer = match[1];
  }
  const alone = typeof headerKey === 'string' ? headerKey.trim() : undefined;
  if (bearer !== undefined && alone !== undefined && bearer !== alone) {
    return CREDENTIAL_REFUSALS.conflictingCredentials();
  }
  const key = bearer ?? alone;
  if (!key) {
    return CREDENTIAL_REFUSALS.missingCredentials();
  }
  return { raw: key };
}

/** `Authorization: Bearer <key>` or `X-API-Key: <key>`: checksum first, then the cached key and its keyed hash. */
function apiKeyAuthenticator(deps: AuthenticatorDeps): Authenticator {
  return {
    async verify(req) {
      const presented = presentedKey(req);
      if (!('raw' in presented)) {
        return presented;
      }
      if (presented.raw.startsWith(`${USER_TOKEN_PREFIX}_`)) {
        return CREDENTIAL_REFUSALS.userTokenNotAccepted();
      }
      const parsed = parseApiKey(presented.raw);
      if (!parsed.ok) {
        return parsed.problem === 'checksum' ? CREDENTIAL_REFUSALS.mistypedKey() : CREDENTIAL_REFUSALS.malformedKey();
      }
      const key = await deps.keys.get(parsed.publicId);
      if (!key || !verifyApiKey(parsed.plaintext, key.keyHash, deps.serverSecret)) {
        return CREDENTIAL_REFUSALS.unknownKey();
      }
      if (key.revokedAt) {
        return CREDENTIAL_REFUSALS.revokedKey();
      }
      const now = deps.clock();
      if (key.expiresAt && key.expiresAt.getTime() <= now.getTime()) {
        return CREDENTIAL_REFUSALS.expiredKey(key.expiresAt);
      }
      deps.lastUsed.mark(key.keyId, now);
      return { ok: true, principal: { scheme: 'apiKey', key, organizationId: key.organizationId, plan: key.plan } };
    },
  };
}

/**
 * `Authorization: Bearer <user token>`: checksum first, then the cached token and its keyed hash. An API key (in
 * either header) is recognised by its prefix and refused with a message naming the credential this endpoint takes.
 */
function userTokenAuthenticator(deps: AuthenticatorDeps): Authenticator {
  return {
    async verify(req) {
      const authorization = req.headers.authorization;
      if (authorization === undefined) {
        const headerKey = req.headers['x-api-key'];
        return typeof headerKey === 'string' && headerKey.trim() !== ''
          ? USER_TOKEN_REFUSALS.apiKeyNotAccepted()
          : USER_TOKEN_REFUSALS.missingToken();
      }
      const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(authorization);
      if (!match) {
        return USER_TOKEN_REFUSALS.malformedAuthorization();
      }
      const raw = match[1] as string;
      if (raw.startsWith(`${KEY_PREFIX}_`)) {
        return USER_TOKEN_REFUSALS.apiKeyNotAccepted();
      }
      const parsed = parseUserToken(raw);
      if (!parsed.ok) {
        return parsed.problem === 'checksum'
          ? USER_TOKEN_REFUSALS.mistypedToken()
          : USER_TOKEN_REFUSALS.malformedToken();
      }
      const token = await deps.tokens.get(parsed.publicId);
      if (!token || !verifyUserToken(parsed.plaintext, token.tokenHash, deps.serverSecret)) {
        return USER_TOKEN_REFUSALS.unknownToken();
      }
      if (token.revokedAt) {
        return USER_TOKEN_REFUSALS.loggedOut();
      }
      if (token.expiresAt.getTime() <= deps.clock().getTime()) {
        return USER_TOKEN_REFUSALS.expiredToken(token.expiresAt);
      }
      return { ok: true, principal: { scheme: 'userToken', userId: token.userId, token } };
    },
  };
}
