// What the store offers, in one place: the `Store` interface (each table family's interface, from its sql-*.ts
// file), the records it reads and writes, the driver seam (db.ts) and the errors it throws (errors.ts).
import type { StoreKind } from './db.ts';
import type { ApiKeyStore } from './sql-api-keys.ts';
import type { ContactStore } from './sql-contacts.ts';
import type { IdempotencyStore } from './sql-idempotency.ts';
import type { KeyChangeStore } from './sql-key-changes.ts';
import type { MembershipStore } from './sql-memberships.ts';
import type { OrganizationStore } from './sql-organizations.ts';
import type { StateStore } from './sql-state.ts';
import type { UsageStore } from './sql-usage.ts';
import type { UserTokenStore } from './sql-user-tokens.ts';
import type { UserStore } from './sql-users.ts';
import type { WebhookStore } from './sql-webhooks.ts';

export type { Db, DbResult, Queryable, StoreKind } from './db.ts';
export * from './errors.ts';
export type {
  ApiKeyRecord,
  ApiKeyWithPlan,
  ExpiryEvent,
  KeyEvents,
  NewApiKey,
  RotationOutcome,
} from './sql-api-keys.ts';
export type { ContactCursor, ContactInput, ContactPatch, ContactRecord } from './sql-contacts.ts';
export type { IdempotencyClaim, IdempotencyRecord, IdempotencyScope } from './sql-idempotency.ts';
export type { MemberRecord, MemberRole, MembershipRecord } from './sql-memberships.ts';
export type { OrganizationRecord } from './sql-organizations.ts';
export type { CapturedTable, StoreState } from './sql-state.ts';
export type {
  RequestLogCursor,
  RequestLogQuery,
  RequestLogRecord,
  StoredRequestLog,
  UsageCountsRecord,
  UsageGranularity,
  UsageGroupBy,
} from './sql-usage.ts';
export type { NewUserToken, SessionOrigin, SessionUse, UserTokenRecord } from './sql-user-tokens.ts';
export type { SignUpInput, UserRecord } from './sql-users.ts';
export type {
  AttemptOutcome,
  ClaimedDelivery,
  NewWebhookEndpoint,
  WebhookDeliveryRecord,
  WebhookEndpointPatch,
  WebhookEndpointRecord,
} from './sql-webhooks.ts';
export type {
  ApiKeyStore,
  ContactStore,
  IdempotencyStore,
  KeyChangeStore,
  MembershipStore,
  OrganizationStore,
  StateStore,
  UsageStore,
  UserStore,
  UserTokenStore,
  WebhookStore,
};

/** The data layer of Mailroom: every table family's statements. Both back-ends implement it with the same SQL (see sql-store.ts). */
export interface Store
  extends OrganizationStore,
    ApiKeyStore,
    ContactStore,
    IdempotencyStore,
    UserStore,
    UserTokenStore,
    MembershipStore,
    KeyChangeStore,
    StateStore,
    UsageStore,
    WebhookStore {
  readonly kind: StoreKind;
  /** Cheap round trip for health checks; throws StoreUnavailableError when down. */
  ping(): Promise<void>;
  /** Closes connections; idempotent. */
  close(): Promise<void>;
}
