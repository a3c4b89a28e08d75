import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import type { components, operations } from '../../generated/schema.d.ts';
import type { PasswordHasher } from '../accounts/password.ts';
import type { RateLimiter } from '../rate-limit/limiter.ts';
import type { PlanTable, WindowConfig } from '../rate-limit/plans.ts';
import type { Store } from '../store/types.ts';
import type { AnomalyWatch } from '../webhooks/anomaly.ts';
import type { SecretScanningKeys } from '../webhooks/secret-scanning.ts';
import type { UrlPolicy } from '../webhooks/url-guard.ts';
import type { Caller } from './caller.ts';
import type { ApiKeyPrincipal, UserPrincipal } from './credentials.ts';
import type { KeyCache, TokenCache } from './key-cache.ts';
import type { LastUsedTracker } from './last-used.ts';
import type { Sandbox } from './sandbox/sandbox.ts';
import { sendJson } from './send-json.ts';
import type { SessionUseTracker } from './session-use.ts';
import type { UsageRecorder } from './usage-recorder.ts';

/** What the routes and the pipeline need of webhooks (src/webhooks/): the URL policy, the worker, the watches. */
export interface WebhookContext {
  /** Endpoint URLs may be http and private (--allow-private-webhooks): local development and tests only. */
  allowPrivate: boolean;
  /** How a URL's host is resolved for the private-address check (tests give their own). */
  resolve?: UrlPolicy['resolve'];
  /** Tells this instance's delivery worker the outbox has new events. */
  nudge(): void;
  /** Counts refused answers per key into usage.anomaly events. */
  anomalies: AnomalyWatch;
  /** GitHub's secret-scanning public keys (MAILROOM_SECRET_SCANNING_PUBLIC_KEYS); empty: every report is refused. */
  secretScanningKeys: SecretScanningKeys;
}

/** Everything a route handler may use. */
export interface AppContext {
  store: Store;
  limiter: RateLimiter;
  keys: KeyCache;
  tokens: TokenCache;
  passwords: PasswordHasher;
  lastUsed: LastUsedTracker;
  /** Sessions' (user tokens') last use: when, from which address and user agent; written in batches. */
  sessionUse: SessionUseTracker;
  /** The request log's writer (batched) and its retention: every request with a key or in an organization. */
  usage: UsageRecorder;
  plans: PlanTable;
  /** The per-address window for failed authentications. */
  failedAuth: WindowConfig;
  serverSecret: string;
  clock: () => Date;
  logger: Logger;
  version: string;
  /** Sandbox scenarios (`--scenarios`): honour the mock's `Prefer: code=…` / `__code` selectors. */
  scenarios: boolean;
  webhooks: WebhookContext;
  /** Sandbox mode (`--sandbox`): the reset state and `POST /sandbox/reset`; undefined on any other server. */
  sandbox?: Sandbox;
}

/** A handler for one operation of the spec. */
export type OperationHandler = (req: Request, res: Response, ctx: AppContext) => Promise<void>;

/** Schemas of the spec, by name. */
export type Schemas = components['schemas'];

/** The JSON body an operation answers with for a status. */
export type ResponseBody<
  Op extends keyof operations,
  Status extends keyof operations[Op]['responses'],
> = operations[Op]['responses'][Status] extends { content: { 'application/json': infer Body } } ? Body : never;

/** The JSON request body of an operation. */
export type RequestBody<Op extends keyof operations> = operations[Op]['requestBody'] extends
  | { content: { 'application/json': infer Body } }
  | undefined
  ? Body
  : never;

/** Sends a success body typed by the spec for that operation and status. */
export function send<Op extends keyof operations, Status extends keyof operations[Op]['responses'] & number>(
  res: Response,
  _operation: Op,
  status: Status,
  body: ResponseBody<Op, Status>,
): void {
  sendJson(res, status, body);
}

/** The verified caller of a secured operation, with its rights (caller.ts). */
export function callerFrom(req: Request): Caller {
  if (!req.caller) {
    throw new Error('route reached without a caller');
  }
  return req.caller;
}

/** The client's address (X-Forwarded-For's when the server trusts a proxy): what per-address windows count. */
export function clientAddressOf(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

/** The API-key caller of a secured operation; routes run only after the pipeline authenticated them. */
export function authOf(req: Request): ApiKeyPrincipal {
  const principal = req.caller?.principal;
  if (principal?.scheme !== 'apiKey') {
    throw new Error('route reached without an API-key principal');
  }
  return principal;
}

/** The user-token caller of a secured operation. */
export function userOf(req: Request): UserPrincipal {
  const principal = req.caller?.principal;
  if (principal?.scheme !== 'userToken') {
    throw new Error('route reached without a user-token principal');
  }
  return principal;
}

/**
 * The organization an operation acts on: the API key's own (on `/v1`), or the one in the path that the user-token
 * caller belongs to (set by the authorize stage for operations with an `organizationId` path parameter). This is what
 * lets one implementation serve `/v1/api-keys` and `/organizations/{organizationId}/api-keys`.
 */
export function organizationOf(req: Request): { organizationId: string; plan: string } {
  const organization = req.caller?.organization;
  if (!organization) {
    throw new Error('route reached without an organization: no API key and no membership of the path’s organization');
  }
  return organization;
}
