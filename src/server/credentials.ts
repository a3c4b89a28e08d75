import type { KeyObject } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { KEY_PREFIX, parseApiKey, verifyApiKey } from '../keys/api-key.ts';
import { parseUserToken, USER_TOKEN_PREFIX, verifyUserToken } from '../keys/user-token.ts';
import type { ApiKeyWithPlan, MembershipRecord, UserTokenRecord } from '../store/types.ts';
import { type ApiError, CREDENTIAL_REFUSALS, SECRET_SCANNER_REFUSALS, USER_TOKEN_REFUSALS } from './errors.ts';
import type { KeyCache, TokenCache } from './key-cache.ts';

// Who is calling: the credential of each security scheme, verified, into a principal. What that principal may do and
// how its requests are counted is caller.ts's, computed once from the principal.

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
   * set by the authorize stage before roles are checked (a non-member never gets that far: 404).
   */
  membership?: MembershipRecord;
}

/**
 * A secret scanner's report (the `githubSecretScanning` scheme): the signature and the configured public key its
 * identifier names. The signature covers the raw body, so the operation checks it once the body is read.
 */
export interface SecretScannerPrincipal {
  scheme: 'secretScanning';
  keyIdentifier: string;
  signature: string;
  publicKey: KeyObject;
}

/** Whoever an authenticator admitted. */
export type Principal = ApiKeyPrincipal | UserPrincipal | SecretScannerPrincipal;

/**
 * An authenticator's answer: the principal, or the 401 that refuses the credential (with the stored key it named, when
 * one exists, so the refusal is recorded as that key's use).
 */
export type Verdict = { ok: true; principal: Principal } | { ok: false; error: ApiError; key?: ApiKeyWithPlan };

/** Verifies the credential of one kind of security scheme, from the request's headers. */
export interface Authenticator {
  verify(headers: IncomingHttpHeaders): Promise<Verdict>;
}

/** What the authenticators need. */
export interface AuthenticatorDeps {
  keys: KeyCache;
  tokens: TokenCache;
  serverSecret: string;
  clock: () => Date;
  webhooks: { secretScanningKeys: ReadonlyMap<string, KeyObject> };
}

/**
 * The authenticators by the security scheme names of the spec (`components.securitySchemes`): the pipeline runs the
 * one an operation's `security` names. Both API-key schemes share one authenticator, which reads both headers so
 * that conflicting keys are refused rather than guessed at.
 */
export function createAuthenticators(deps: AuthenticatorDeps): Record<string, Authenticator> {
  const apiKey = apiKeyAuthenticator(deps);
  return {
    bearerAuth: apiKey,
    apiKeyHeader: apiKey,
    userToken: userTokenAuthenticator(deps),
    githubSecretScanning: secretScannerAuthenticator(deps),
  };
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

/** `Bearer <credential>` (the scheme name is case-insensitive, RFC 9110 §11.1): the one reading of Authorization. */
const BEARER = /^Bearer[ ]+(\S+)[ ]*$/i;

/** The credential of an Authorization header: undefined when absent, null when it is not `Bearer <credential>`. */
function bearerOf(headers: IncomingHttpHeaders): string | null | undefined {
  const authorization = headers.authorization;
  return authorization === undefined ? undefined : (BEARER.exec(authorization)?.[1] ?? null);
}

/** The X-API-Key header's value, trimmed; undefined when absent or empty. */
function apiKeyHeaderOf(headers: IncomingHttpHeaders): string | undefined {
  const value = headers['x-api-key'];
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/** The presented key from either header, or why the headers can't be used. */
function presentedKey(headers: IncomingHttpHeaders): string | ApiError {
  const bearer = bearerOf(headers);
  if (bearer === null) {
    return CREDENTIAL_REFUSALS.malformedAuthorization();
  }
  const alone = typeof headers['x-api-key'] === 'string' ? headers['x-api-key'].trim() : undefined;
  if (bearer !== undefined && alone !== undefined && bearer !== alone) {
    return CREDENTIAL_REFUSALS.conflictingCredentials();
  }
  return bearer || alone || CREDENTIAL_REFUSALS.missingCredentials();
}

/** `Authorization: Bearer <key>` or `X-API-Key: <key>`: checksum first, then the cached key and its keyed hash. */
function apiKeyAuthenticator(deps: AuthenticatorDeps): Authenticator {
  const refuse = (error: ApiError): Verdict => ({ ok: false, error });
  return {
    async verify(headers) {
      const presented = presentedKey(headers);
      if (typeof presented !== 'string') {
        return refuse(presented);
      }
      if (presented.startsWith(`${USER_TOKEN_PREFIX}_`)) {
        return refuse(CREDENTIAL_REFUSALS.userTokenNotAccepted());
      }
      const parsed = parseApiKey(presented);
      if (!parsed.ok) {
        return refuse(
          parsed.problem === 'checksum' ? CREDENTIAL_REFUSALS.mistypedKey() : CREDENTIAL_REFUSALS.malformedKey(),
        );
      }
      const key = await deps.keys.get(parsed.publicId);
      if (!key) {
        return refuse(CREDENTIAL_REFUSALS.unknownKey());
      }
      if (!verifyApiKey(parsed.plaintext, key.keyHash, deps.serverSecret)) {
        return { ok: false, error: CREDENTIAL_REFUSALS.unknownKey(), key };
      }
      if (key.revokedAt) {
        return { ok: false, error: CREDENTIAL_REFUSALS.revokedKey(), key };
      }
      const now = deps.clock();
      if (key.expiresAt && key.expiresAt.getTime() <= now.getTime()) {
        return { ok: false, error: CREDENTIAL_REFUSALS.expiredKey(key.expiresAt), key };
      }
      return { ok: true, principal: { scheme: 'apiKey', key, organizationId: key.organizationId, plan: key.plan } };
    },
  };
}

/**
 * `Authorization: Bearer <user token>`: checksum first, then the cached token and its keyed hash. An API key (in
 * either header) is recognised by its prefix and refused with a message naming the credential this endpoint takes.
 */
function userTokenAuthenticator(deps: AuthenticatorDeps): Authenticator {
  const refuse = (error: ApiError): Verdict => ({ ok: false, error });
  return {
    async verify(headers) {
      const raw = bearerOf(headers);
      if (raw === undefined) {
        // Nothing in Authorization. An API key in X-API-Key is the wrong credential; anything else there (a user token
        // in the wrong header included) is no user token: the refusal says where one goes.
        const inKeyHeader = apiKeyHeaderOf(headers);
        return refuse(
          inKeyHeader === undefined || inKeyHeader.startsWith(`${USER_TOKEN_PREFIX}_`)
            ? USER_TOKEN_REFUSALS.missingToken()
            : USER_TOKEN_REFUSALS.apiKeyNotAccepted(),
        );
      }
      if (raw === null) {
        return refuse(USER_TOKEN_REFUSALS.malformedAuthorization());
      }
      if (raw.startsWith(`${KEY_PREFIX}_`)) {
        return refuse(USER_TOKEN_REFUSALS.apiKeyNotAccepted());
      }
      const parsed = parseUserToken(raw);
      if (!parsed.ok) {
        return refuse(
          parsed.problem === 'checksum' ? USER_TOKEN_REFUSALS.mistypedToken() : USER_TOKEN_REFUSALS.malformedToken(),
        );
      }
      const token = await deps.tokens.get(parsed.publicId);
      if (!token || !verifyUserToken(parsed.plaintext, token.tokenHash, deps.serverSecret)) {
        return refuse(USER_TOKEN_REFUSALS.unknownToken());
      }
      if (token.revokedAt) {
        return refuse(USER_TOKEN_REFUSALS.loggedOut());
      }
      if (token.expiresAt.getTime() <= deps.clock().getTime()) {
        return refuse(USER_TOKEN_REFUSALS.expiredToken(token.expiresAt));
      }
      return { ok: true, principal: { scheme: 'userToken', userId: token.userId, token } };
    },
  };
}

/**
 * `Github-Public-Key-Identifier` and `Github-Public-Key-Signature`: both present, and the identifier one of the
 * configured public keys. The signature itself is checked over the raw body by the operation (secret-scanning.ts).
 */
function secretScannerAuthenticator(deps: AuthenticatorDeps): Authenticator {
  return {
    async verify(headers) {
      const identifier = headers['github-public-key-identifier'];
      const signature = headers['github-public-key-signature'];
      if (typeof identifier !== 'string' || typeof signature !== 'string' || identifier === '' || signature === '') {
        return { ok: false, error: SECRET_SCANNER_REFUSALS.unsigned() };
      }
      const publicKey = deps.webhooks.secretScanningKeys.get(identifier);
      if (!publicKey) {
        return { ok: false, error: SECRET_SCANNER_REFUSALS.unknownKey() };
      }
      return { ok: true, principal: { scheme: 'secretScanning', keyIdentifier: identifier, signature, publicKey } };
    },
  };
}
