import { maskApiKey } from '../keys/api-key.ts';
import { accessOf, type KeyAccess } from '../lib/permissions.ts';
import type { PlanConfig, PlanTable } from '../rate-limit/plans.ts';
import type {
  ApiKeyRecord,
  ContactRecord,
  MemberRecord,
  MembershipRecord,
  SessionUse,
  StoredRequestLog,
  UserRecord,
  UserTokenRecord,
} from '../store/types.ts';
import type { Schemas } from './context.ts';
import type { KeyUse } from './last-used.ts';

/** A plan's per-minute budget: its 60-second window, else its longest window scaled to a minute. */
export function planPerMinute(plan: PlanConfig | undefined): number {
  if (!plan || plan.windows.length === 0) {
    return 1;
  }
  const minute = plan.windows.find((w) => w.windowSeconds === 60);
  if (minute) {
    return minute.limit;
  }
  const longest = plan.windows.reduce((a, b) => (b.windowSeconds > a.windowSeconds ? b : a));
  return Math.max(1, Math.floor((longest.limit * 60) / longest.windowSeconds));
}

// A key's permission list is one array for as long as the key is cached, and every validate answer names its access:
// worked out once per list rather than once per request (a Set of the list each time).
const accessByList = new WeakMap<readonly string[], KeyAccess>();

/** `accessOf(permissions)`, remembered per list (lists are never changed in place: a change is a new record). */
function accessOfList(permissions: readonly string[]): KeyAccess {
  let access = accessByList.get(permissions);
  if (access === undefined) {
    access = accessOf(permissions);
    accessByList.set(permissions, access);
  }
  return access;
}

/**
 * A stored key as the API shows it (never the hash); `lastUsed` and `lastUsedFrom` include this instance's unwritten
 * use, when newer.
 */
export function toApiKey(key: ApiKeyRecord & { plan: string }, plans: PlanTable, pending?: KeyUse): Schemas['ApiKey'] {
  const newer = pending && (!key.lastUsedAt || pending.at > key.lastUsedAt) ? pending : undefined;
  const lastUsed = newer ? newer.at : key.lastUsedAt;
  const lastUsedFrom = newer ? newer.address : key.lastUsedFrom;
  return {
    keyId: key.keyId,
    name: key.name,
    keyPrefix: maskApiKey(key.publicId),
    organizationId: key.organizationId,
    plan: key.plan,
    rateLimit: key.rateLimit ?? planPerMinute(plans[key.plan]),
    access: accessOfList(key.permissions),
    permissions: key.permissions,
    environment: key.environment,
    lastUsed: lastUsed ? lastUsed.toISOString() : null,
    lastUsedFrom: lastUsed ? lastUsedFrom : null,
    createdAt: key.createdAt.toISOString(),
    expirationTs: key.expiresAt ? key.expiresAt.toISOString() : null,
  };
}

/** A stored contact as the API shows it. */
export function toContact(contact: ContactRecord): Schemas['Contact'] {
  return {
    contactId: contact.contactId,
    email: contact.email,
    firstName: contact.firstName,
    lastName: contact.lastName,
    subscribed: contact.subscribed,
    createdAt: contact.createdAt.toISOString(),
    updatedAt: contact.updatedAt.toISOString(),
  };
}

/** A user as the API shows them: never the password hash. */
export function toUser(user: UserRecord): Schemas['User'] {
  return { userId: user.userId, email: user.email, name: user.name, createdAt: user.createdAt.toISOString() };
}

/** An organization as one of its members sees it, with their role. */
export function toOrganization(membership: MembershipRecord): Schemas['Organization'] {
  return {
    organizationId: membership.organizationId,
    name: membership.name,
    plan: membership.plan,
    role: membership.role,
    createdAt: membership.createdAt.toISOString(),
  };
}

/** A member of an organization as the other members see them. */
export function toMember(member: MemberRecord): Schemas['Member'] {
  return {
    userId: member.userId,
    email: member.email,
    name: member.name,
    role: member.role,
    joinedAt: member.joinedAt.toISOString(),
  };
}

/**
 * A session (a user token) as its owner sees it: never the token or its hash. `lastUsed` includes this instance's
 * unwritten use, if newer; `current` marks the token the request was made with.
 */
export function toSession(token: UserTokenRecord, currentTokenId: string, pending?: SessionUse): Schemas['Session'] {
  const stored = token.lastUsedAt && { at: token.lastUsedAt, ...token.lastUsedFrom };
  const last = pending && (!stored || pending.at > stored.at) ? pending : stored;
  return {
    sessionId: token.tokenId,
    current: token.tokenId === currentTokenId,
    createdAt: token.createdAt.toISOString(),
    createdFrom: { address: token.createdFrom.address, userAgent: token.createdFrom.userAgent },
    lastUsedAt: last ? last.at.toISOString() : null,
    lastUsedFrom: last ? { address: last.address, userAgent: last.userAgent } : null,
    expiresAt: token.expiresAt.toISOString(),
  };
}

/** A recorded request as the request log shows it: the query parameters' names only, never a value. */
export function toRequestLogEntry(entry: StoredRequestLog): Schemas['RequestLogEntry'] {
  return {
    requestId: entry.requestId,
    at: entry.at.toISOString(),
    keyId: entry.keyId,
    userId: entry.userId,
    environment: entry.environment,
    operationId: entry.operationId,
    method: entry.method,
    path: entry.path,
    status: entry.status,
    durationMs: entry.durationMs,
    clientAddress: entry.address,
    userAgent: entry.userAgent,
    queryParameters: entry.queryNames,
  };
}
