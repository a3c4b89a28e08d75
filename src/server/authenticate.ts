import type { Request } from 'express';
import { parseApiKey, verifyApiKey } from '../keys/api-key.ts';
import type { LimitSubject } from '../rate-limit/limiter.ts';
import type { ApiKeyWithPlan } from '../store/types.ts';
import { ApiError } from './errors.ts';
import type { KeyCache } from './key-cache.ts';
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

/** Whoever an authenticator admitted; routes read it with `authOf(req)`. */
export type Principal = ApiKeyPrincipal;

/** An authenticator's answer: the principal, or why the credential is refused and the challenge for the 401. */
export type Verdict = { ok: true; principal: Principal } | { ok: false; message: string; challenge: string };

/** Verifies the credential of one kind of security scheme. */
export interface Authenticator {
  verify(req: Request): Promise<Verdict>;
}

/** What the authenticators need. */
export interface AuthenticatorDeps {
  keys: KeyCache;
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
  return { bearerAuth: apiKey, apiKeyHeader: apiKey };
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

/** Whether the principal holds a role an operation's security requirement names (`write`: may change resources). */
export function grants(principal: Principal, role: string): boolean {
  return role === 'write' ? principal.key.access === 'full' : false;
}

/** Why the principal is refused an operation that needs `role` (the 403's message). */
export function refusal(principal: Principal, role: string): string {
  return role === 'write'
    ? `This API key is ${principal.key.access} and cannot modify resources`
    : `This API key lacks the ${role} role`;
}

/** The principal as it would be without `role` (a sandbox scenario's 403 says what the real one would). */
export function withoutRole(principal: Principal, role: string): Principal {
  return role === 'write' ? { ...principal, key: { ...principal.key, access: 'read_only' } } : principal;
}

/** Who the principal's requests count against: its organization's pool (by plan) and its key's own budget. */
export function limitSubjectOf(principal: Principal): LimitSubject {
  return {
    organizationId: principal.organizationId,
    plan: principal.plan,
    keyId: principal.key.keyId,
    keyRateLimit: principal.key.rateLimit,
  };
}

/** Whose idempotency keys a principal's requests use: its organization and the credential (a key id today). */
export function idempotencyScopeOf(principal: Principal): { organizationId: string; principal: string } {
  return { organizationId: principal.organizationId, principal: `key:${principal.key.keyId}` };
}

/**
 * The headers that tell a caller its key is in the grace period of a rotation: `Deprecation` (RFC 9745, when it was
 * rotated) and `Sunset` (RFC 8594, when it stops working). Undefined for any other key.
 */
export function graceHeaders(principal: Principal): Record<string, string> | undefined {
  const { rotatedAt, expiresAt } = principal.key;
  if (rotatedAt === null || expiresAt === null) {
    return undefined;
  }
  return { Deprecation: `@${Math.floor(rotatedAt.getTime() / 1000)}`, Sunset: expiresAt.toUTCString() };
}

const API_KEY_REALM = 'Bearer realm="mailroom"';

function refuse(message: string, invalidToken = true): Extract<Verdict, { ok: false }> {
  const challenge = invalidToken
    ? `${API_KEY_REALM}, error="invalid_token", error_description="${message.replace(/["\\]/g, "'")}"`
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
