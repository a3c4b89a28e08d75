import type { Request } from 'express';
import { KEY_PREFIX, parseApiKey, verifyApiKey } from '../keys/api-key.ts';
import { parseUserToken, USER_TOKEN_PREFIX, verifyUserToken } from '../keys/user-token.ts';
import type { LimitSubject } from '../rate-limit/limiter.ts';
import type { ApiKeyWithPlan, MembershipRecord, UserTokenRecord } from '../store/types.ts';
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

const API_KEY_REALM = 'Bearer realm="mailroom"';

function refuse(message: string, invalidToken = true): Verdict {
  // A header value is Latin-1 text without quotes to escape: keep the description to printable ASCII.
  const description = message.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, '?');
  const challenge = invalidToken
    ? `${API_KEY_REALM}, error="invalid_token", error_description="${description}"`
    : API_KEY_REALM;
  return { ok: false, message, challenge };
}

/** The presented key from either header, or why the headers can't be used. */
function presentedKey(req: Request): { raw: string } | Verdict {
  const authorization = req.headers.authorization;
  const headerKey = req.headers['x-api-key'];
  let bearer: string | undefined;
  if (authorization !== undefined) {
    const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(authorization);
    if (!match) {
      return refuse('Malformed Authorization header: expected "Bearer <key>"');
    }
    bearer = match[1];
  }
  const alone = typeof headerKey === 'string' ? headerKey.trim() : undefined;
  if (bearer !== undefined && alone !== undefined && bearer !== alone) {
    return refuse('Conflicting credentials: Authorization and X-API-Key carry different keys; send one');
  }
  const key = bearer ?? alone;
  if (!key) {
    return refuse('Missing API key: send Authorization: Bearer <key> or X-API-Key: <key>', false);
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
        return refuse(TAKES_AN_API_KEY);
      }
      const parsed = parseApiKey(presented.raw);
      if (!parsed.ok) {
        return refuse(
          parsed.problem === 'checksum'
            ? 'Malformed API key: the checksum does not match (mistyped or truncated?)'
            : 'Malformed API key: expected mr_<8-character id>_<38-character secret>',
        );
      }
      const key = await deps.keys.get(parsed.publicId);
      if (!key || !verifyApiKey(parsed.plaintext, key.keyHash, deps.serverSecret)) {
        return refuse('Unknown API key');
      }
      if (key.revokedAt) {
        return refuse('The API key has been revoked');
      }
      const now = deps.clock();
      if (key.expiresAt && key.expiresAt.getTime() <= now.getTime()) {
        return refuse(`The API key expired at ${key.expiresAt.toISOString()}`);
      }
      deps.lastUsed.mark(key.keyId, now);
      return { ok: true, principal: { scheme: 'apiKey', key, organizationId: key.organizationId, plan: key.plan } };
    },
  };
}

const TAKES_AN_API_KEY =
  'This endpoint takes an API key (mr_...), not a user token: create a key with POST /organizations/{organizationId}/api-keys';
const TAKES_A_USER_TOKEN =
  'This endpoint takes a user token (mru_...) from POST /auth/login, not an API key: API keys work on /v1 only';

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
          ? refuse(TAKES_A_USER_TOKEN)
          : refuse(
              'Missing user token: send Authorization: Bearer <token> from POST /auth/login or POST /auth/signup',
              false,
            );
      }
      const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(authorization);
      if (!match) {
        return refuse('Malformed Authorization header: expected "Bearer <token>"');
      }
      const raw = match[1] as string;
      if (raw.startsWith(`${KEY_PREFIX}_`)) {
        return refuse(TAKES_A_USER_TOKEN);
      }
      const parsed = parseUserToken(raw);
      if (!parsed.ok) {
        return refuse(
          parsed.problem === 'checksum'
            ? 'Malformed user token: the checksum does not match (mistyped or truncated?)'
            : 'Malformed user token: expected mru_<8-character id>_<38-character secret>',
        );
      }
      const token = await deps.tokens.get(parsed.publicId);
      if (!token || !verifyUserToken(parsed.plaintext, token.tokenHash, deps.serverSecret)) {
        return refuse('Unknown user token');
      }
      if (token.revokedAt) {
        return refuse('The user token has been revoked (logged out): log in again');
      }
      if (token.expiresAt.getTime() <= deps.clock().getTime()) {
        return refuse(`The user token expired at ${token.expiresAt.toISOString()}: log in again`);
      }
      return { ok: true, principal: { scheme: 'userToken', userId: token.userId, token } };
    },
  };
}
