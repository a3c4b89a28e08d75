import { ALL_PERMISSIONS, type Permission } from '../lib/permissions.ts';
import type { LimitSubject } from '../rate-limit/limiter.ts';
import type { MembershipRecord } from '../store/types.ts';
import type { Principal } from './credentials.ts';
import { type ApiError, missingPermission, userLacksRole } from './errors.ts';

// What a verified caller may do and how its requests are counted, computed once per request from the principal
// (credentials.ts says who it is) and read by the later stages: the limit stage counts `limitSubject`, the authorize
// stage asks `refusalOf` for what the operation's security requirement names (an API key's permission, a user's
// role), the key routes compare `permissions` with the keys it creates or manages, the idempotency stage scopes keys
// by `idempotencyScope`, and every answer carries `notices`.

/** The organization an operation acts on, and the caller's role in it (user tokens). */
export interface ActingOrganization {
  organizationId: string;
  plan: string;
  role?: string;
}

/** The operation a refusal names. */
export interface Named {
  id: string;
  method: string;
  path: string;
}

/** A verified caller and its rights. */
export interface Caller {
  /** Who: the verified credential. */
  readonly principal: Principal;
  /**
   * What it may do on `/v1`: an API key's permissions; a user token (a member of the organization it acts on) holds
   * every permission, so it may give a key any of them.
   */
  readonly permissions: readonly Permission[];
  /** Who the requests count against: an API key's organization pool (by plan) and key budget; a user's window. */
  readonly limitSubject: LimitSubject;
  /** Headers every answer to this caller carries (a rotated key's Deprecation and Sunset), if any. */
  readonly notices: Record<string, string> | undefined;
  /**
   * The organization acted on: an API key's own; for a user token, the organization in the path once the authorize
   * stage has found the user's membership of it (undefined before, and for operations without one).
   */
  organization: ActingOrganization | undefined;
}

/** The caller a verified principal is: its permissions, counting subject, notices and, for a key, organization. */
export function callerOf(principal: Principal): Caller {
  if (principal.scheme === 'userToken') {
    return {
      principal,
      permissions: ALL_PERMISSIONS,
      limitSubject: { window: 'user', id: principal.userId },
      notices: undefined,
      organization: undefined,
    };
  }
  if (principal.scheme === 'secretScanning') {
    // A scanner acts on no organization and holds no permission; its operation counts per client address.
    return {
      principal,
      permissions: [],
      limitSubject: { window: 'address', id: `secret-scanner:${principal.keyIdentifier}` },
      notices: undefined,
      organization: undefined,
    };
  }
  const { key } = principal;
  return {
    principal,
    permissions: key.permissions,
    limitSubject: {
      organizationId: principal.organizationId,
      plan: principal.plan,
      keyId: key.keyId,
      keyRateLimit: key.rateLimit,
    },
    notices: graceNotices(key.rotatedAt, key.expiresAt),
    organization: { organizationId: principal.organizationId, plan: principal.plan },
  };
}

/** The caller acting in the organization of its membership (a user token on a path with an `organizationId`). */
export function actInOrganization(caller: Caller, membership: MembershipRecord): void {
  if (caller.principal.scheme === 'userToken') {
    caller.principal.membership = membership;
  }
  caller.organization = { organizationId: membership.organizationId, plan: membership.plan, role: membership.role };
}

/**
 * The 403 that refuses the caller `operation`, whose security requirement names `required`, or undefined when the
 * caller holds it: for an API key a permission (`contacts:write`); for a user token the `owner` role of the
 * organization in the path.
 */
export function refusalOf(caller: Caller, required: string, operation: Named): ApiError | undefined {
  if (caller.principal.scheme === 'userToken') {
    const held = caller.organization?.role;
    return required === 'owner' && held === 'owner' ? undefined : userLacksRole(held, required);
  }
  return (caller.permissions as readonly string[]).includes(required)
    ? undefined
    : missingPermission(required, operation);
}

/** The 403 the caller would get if it lacked `required` (a sandbox scenario's 403 says what the real one would). */
export function refusalWithout(caller: Caller, required: string, operation: Named): ApiError {
  if (caller.principal.scheme === 'userToken') {
    const held = caller.organization?.role;
    return userLacksRole(required === 'owner' && held ? 'member' : held, required);
  }
  return missingPermission(required, operation);
}

/**
 * Whose idempotency keys the caller's requests use: the organization acted on and the credential (the key for an API
 * key; the user for a user token, whose organization is the one in the path, if any: none, '', when creating an
 * organization). Without a caller (a sign-up) the scope is anonymous: the idempotency key alone, and the request's
 * fingerprint (its body included) decides whether a second request is a retry.
 */
export function idempotencyScopeOf(caller: Caller | undefined): { organizationId: string; principal: string } {
  if (caller === undefined) {
    return { organizationId: '', principal: 'anonymous' };
  }
  const { principal } = caller;
  const who =
    principal.scheme === 'userToken'
      ? `user:${principal.userId}`
      : principal.scheme === 'secretScanning'
        ? `scanner:${principal.keyIdentifier}`
        : `key:${principal.key.keyId}`;
  return { organizationId: caller.organization?.organizationId ?? '', principal: who };
}

/**
 * The headers that tell a caller its key is in the grace period of a rotation: `Deprecation` (RFC 9745, when it was
 * rotated) and `Sunset` (RFC 8594, when it stops working). Undefined for any other key.
 */
function graceNotices(rotatedAt: Date | null, expiresAt: Date | null): Record<string, string> | undefined {
  if (rotatedAt === null || expiresAt === null) {
    return undefined;
  }
  return { Deprecation: `@${Math.floor(rotatedAt.getTime() / 1000)}`, Sunset: expiresAt.toUTCString() };
}
