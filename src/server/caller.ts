import type { LimitSubject } from '../rate-limit/limiter.ts';
import type { MembershipRecord } from '../store/types.ts';
import type { Principal } from './credentials.ts';
import { type ApiError, keyLacksRole, userLacksRole } from './errors.ts';

// What a verified caller may do and how its requests are counted, computed once per request from the principal
// (credentials.ts says who it is) and read by the later stages: the limit stage counts `limitSubject`, the authorize
// stage asks `refusalOf` for each role the operation names, the idempotency stage scopes keys by `idempotencyScope`,
// and every answer carries `notices`.

/** The organization an operation acts on, and the caller's role in it (user tokens). */
export interface ActingOrganization {
  organizationId: string;
  plan: string;
  role?: string;
}

/** A verified caller and its rights. */
export interface Caller {
  /** Who: the verified credential. */
  readonly principal: Principal;
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

/** The caller a verified principal is: its counting subject, notices and, for an API key, its organization. */
export function callerOf(principal: Principal): Caller {
  if (principal.scheme === 'userToken') {
    return {
      principal,
      limitSubject: { window: 'user', id: principal.userId },
      notices: undefined,
      organization: undefined,
    };
  }
  const { key } = principal;
  return {
    principal,
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
 * The 403 that refuses the caller an operation whose security requirement names `role`, or undefined when the caller
 * holds it: for an API key `write` (may change resources: a `full` key); for a user token `owner` (owns the
 * organization in the path).
 */
export function refusalOf(caller: Caller, role: string): ApiError | undefined {
  const { principal } = caller;
  if (principal.scheme === 'userToken') {
    const held = caller.organization?.role;
    return role === 'owner' && held === 'owner' ? undefined : userLacksRole(held, role);
  }
  return role === 'write' && principal.key.access === 'full' ? undefined : keyLacksRole(principal.key.access, role);
}

/** The 403 the caller would get for `role` if it did not hold it (a sandbox scenario's 403 says what the real one would). */
export function refusalWithout(caller: Caller, role: string): ApiError {
  const { principal } = caller;
  return principal.scheme === 'userToken'
    ? userLacksRole(role === 'owner' && caller.organization?.role ? 'member' : caller.organization?.role, role)
    : keyLacksRole(role === 'write' ? 'read_only' : principal.key.access, role);
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
  const who = principal.scheme === 'userToken' ? `user:${principal.userId}` : `key:${principal.key.keyId}`;
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
