import { performance } from 'node:perf_hooks';
import type { Request, Response } from 'express';
import { combineDecisions, type LimitDecision } from '../rate-limit/decision.ts';
import type { LimitSubject } from '../rate-limit/limiter.ts';
import type { ApiKeyWithPlan } from '../store/types.ts';
import { admit, admitNothing } from './admit.ts';
import { type BodyFacts, bodyFactsOf, readBody } from './body.ts';
import { actInOrganization, type Caller, callerOf, refusalOf } from './caller.ts';
import { type AppContext, clientAddressOf } from './context.ts';
import {
  type Authenticator,
  authenticatorFor,
  createAuthenticators,
  type SecurityRequirement,
  type Verdict,
} from './credentials.ts';
import { organizationNotFound } from './errors.ts';
import { runIdempotently } from './idempotency.ts';
import { governingOf, type Match, type Operation, type OperationTable } from './operations.ts';
import { originOf, storableAddress, userAgentOf } from './session-use.ts';
import { type RecordedCaller, requestRecordOf } from './usage-recorder.ts';

// The life of one request, top to bottom (after app.ts has given it a request id). Each stage is a named function
// over the request's `Exchange`, run once, in this order:
//
//   matchOperation   the spec's operation for the method and path, or the 404/405 to answer (operations.ts)
//   authenticate     the credential its security names, verified into a caller (credentials.ts, caller.ts)
//   limit            counted (or peeked, or per address) against the caller's windows (rate-limit/)
//   refuseMiss       a path or method the spec doesn't have: 404 or 405, now that it is authenticated and counted
//   authorize        a user's membership of the organization in the path, and the roles the security names
//   readRequestBody  the whole body, checked and parsed (body.ts)
//   checkInput       parameters and body against the spec (input-check.ts)
//   run              the handler, through the idempotency stage when the operation declares Idempotency-Key
//
// and, once the answer is sent, `recordUsage` puts the request in the request log's buffer (usage-recorder.ts) and
// `watchRefusals` hands its status to the usage.anomaly watch (webhooks/anomaly.ts).
//
// Anything a stage throws goes to the one error handler (error-handler.ts). The sandbox's scenarios (scenarios.ts)
// hook into the stages they force through `StageHooks`; without them the hooks do nothing.

/** A refusal the limit stage makes instead of counting: decided on the windows read without counting them. */
export interface ForcedRefusal {
  decide(windows: LimitDecision): LimitDecision;
  /** More windows read (never counted) with the caller's, e.g. log-in's `account` window of failed attempts. */
  also?: LimitSubject[];
  /** What the refusal says was counted (log-in's failed attempts). */
  what?: string;
}

/** Where the sandbox's forced outcomes hook into the stages (scenarios.ts); each answers undefined to force nothing. */
export interface StageHooks {
  /** Once the caller is verified (or, on a public operation, not asked for): a 401 to answer instead. */
  authenticated(exchange: Exchange): Error | undefined;
  /** At the limit stage: a refusal to decide on the caller's windows instead of counting. */
  limiting(exchange: Exchange): ForcedRefusal | undefined;
  /** After every real check has passed, where the handler would run: an error to raise instead. */
  running(exchange: Exchange): Error | undefined;
}

const NO_HOOKS: StageHooks = {
  authenticated: () => undefined,
  limiting: () => undefined,
  running: () => undefined,
};

/** The authenticator of a security declaration and the roles it requires. */
interface Guard {
  authenticator: Authenticator;
  roles: string[];
}

/** What every request's stages share: the context, the compiled spec, the authenticators and the hooks. */
export interface Pipeline {
  ctx: AppContext;
  table: OperationTable;
  hooks: StageHooks;
  /** The authenticator and roles of a security declaration (an operation's, or a miss's path or namespace's). */
  guardOf(security: SecurityRequirement[]): Guard;
}

/** One request on its way through the stages: what each stage found, read by the ones after it. */
export interface Exchange {
  readonly req: Request;
  readonly res: Response;
  readonly match: Match;
  /** The operation, or undefined for a path or method the spec doesn't have (answered at `refuseMiss`). */
  readonly operation: Operation | undefined;
  /** Its path parameters, decoded (empty for a miss). */
  readonly params: Record<string, string>;
  /** The client's address (X-Forwarded-For's when the server trusts a proxy): what per-address windows count. */
  readonly address: string;
  /** What the headers say of the body (announced, JSON). */
  readonly body: BodyFacts;
  /** What the security requirement that admits the caller names: an API key's permission, a user's role (`owner`). */
  roles: string[];
  /** The verified caller; undefined on public operations. */
  caller?: Caller;
  /** The stored key a refused API key named (revoked, expired, or the wrong secret): its 401 is recorded as its use. */
  refusedKey?: ApiKeyWithPlan;
  /** The address's failed-authentication window as it stood: carried by answers that fail before `limit` counted. */
  gate?: LimitDecision;
}

/** What a 429 of the per-address window of sign-up and log-in says it counted. */
const ADDRESS_REQUESTS = 'requests from this address';

/** The pipeline of a compiled spec, with the sandbox's hooks when scenarios are on. */
export function createPipeline(ctx: AppContext, table: OperationTable, hooks: StageHooks = NO_HOOKS): Pipeline {
  const authenticators = createAuthenticators(ctx);
  // Chosen once per distinct security declaration (by identity); a miss's path or namespace gets its own on first use.
  const guards = new Map<SecurityRequirement[], Guard>();
  const guardOf = (security: SecurityRequirement[]): Guard => {
    let guard = guards.get(security);
    if (!guard) {
      guard = authenticatorFor(authenticators, security);
      guards.set(security, guard);
    }
    return guard;
  };
  // Every operation's now, so a spec naming a scheme no authenticator serves fails at start-up, not on a request.
  for (const operation of table.operations) {
    if (operation.security.length > 0) {
      guardOf(operation.security);
    }
  }
  return { ctx, table, hooks, guardOf };
}

/**
 * One request's trip through the contract. A stage with nothing to wait for returns undefined rather than a settled
 * promise, and is awaited only when it returns one: an await costs a promise and a microtask turn even when there is
 * nothing to wait for, and most requests have no membership to read, no body and no input check that reads anything.
 */
export async function handleRequest(pipeline: Pipeline, req: Request, res: Response): Promise<void> {
  const exchange = matchOperation(pipeline, req, res);
  watchAnswer(pipeline, exchange);
  await authenticate(pipeline, exchange);
  await limit(pipeline, exchange);
  const operation = refuseMiss(exchange);
  const authorizing = authorize(pipeline, exchange, operation);
  if (authorizing) {
    await authorizing;
  }
  const reading = readRequestBody(exchange);
  if (reading) {
    await reading;
  }
  const checking = checkInput(exchange, operation);
  if (checking) {
    await checking;
  }
  await run(pipeline, exchange, operation);
}

/** Matches the request against the spec, once: the operation and its path parameters, or the miss to answer. */
function matchOperation(pipeline: Pipeline, req: Request, res: Response): Exchange {
  const match = pipeline.table.match(req.method, req.path);
  if (match.operation) {
    req.params = match.params;
    req.specPath = match.operation.path;
  }
  return {
    req,
    res,
    match,
    operation: match.operation,
    params: match.operation ? match.params : {},
    address: clientAddressOf(req),
    body: bodyFactsOf(req),
    roles: [],
  };
}

/**
 * Once the answer is sent ('finish', one listener for both): `recordUsage` puts the request in the request log's buffer,
 * and a refusal (401, 403, 429) of a request made with a key counts toward its usage.anomaly (`watchRefusals`).
 */
function watchAnswer(pipeline: Pipeline, exchange: Exchange): void {
  const { usage, clock } = pipeline.ctx;
  const recording = usage.options.enabled;
  const at = recording ? clock() : undefined;
  const started = recording ? performance.now() : 0;
  // 'finish' is emitted once: `on` spares the wrapper `once` makes.
  exchange.res.on('finish', () => {
    if (at) {
      recordUsage(pipeline, exchange, at, performance.now() - started);
    }
    watchRefusals(pipeline, exchange);
  });
}

/** A refusal (401, 403, 429) of a request made with a key counts toward its usage.anomaly. */
function watchRefusals(pipeline: Pipeline, exchange: Exchange): void {
  const principal = exchange.caller?.principal;
  const key = principal?.scheme === 'apiKey' ? principal.key : undefined;
  pipeline.ctx.webhooks.anomalies.observe(exchange.res.statusCode, key, exchange.req.headers);
}

/**
 * Verifies the credential the governing security names. An address that keeps failing is refused with 429 before
 * any lookup; each failure is counted for the address, and its 401 (or anything thrown meanwhile) carries the address
 * window's headers. The verified principal becomes the caller, whose notices (a rotated key's Deprecation and Sunset)
 * every answer carries from here on, errors included.
 */
async function authenticate(pipeline: Pipeline, exchange: Exchange): Promise<void> {
  const { ctx } = pipeline;
  const { req, res, match } = exchange;
  const { security } = governingOf(match);
  if (security.length > 0) {
    const guard = pipeline.guardOf(security);
    exchange.roles = guard.roles;
    const gate = await ctx.limiter.checkFailedAuth(exchange.address);
    if (!gate.allowed) {
      admit(res, gate, 'failed authentication attempts from this address');
    }
    exchange.gate = gate;
    let verdict: Verdict;
    try {
      verdict = await guard.authenticator.verify(req.headers);
    } catch (error) {
      throw refusedAtGate(exchange, error);
    }
    if (!verdict.ok) {
      exchange.refusedKey = verdict.key;
      admitNothing(res, await ctx.limiter.recordFailedAuth(exchange.address));
      throw verdict.error;
    }
    exchange.caller = callerOf(verdict.principal);
    req.caller = exchange.caller;
    if (verdict.principal.scheme === 'apiKey') {
      ctx.lastUsed.mark(verdict.principal.key.keyId, ctx.clock(), storableAddress(exchange.address));
    } else if (verdict.principal.scheme === 'userToken') {
      // A session's last use (when, from where), written in batches like an API key's lastUsed.
      ctx.sessionUse.mark(verdict.principal.token.tokenId, ctx.clock(), originOf(exchange.address, req.headers));
    }
    const { notices } = exchange.caller;
    if (notices) {
      for (const [name, value] of Object.entries(notices)) {
        res.setHeader(name, value);
      }
    }
  }
  const forced = match.operation ? pipeline.hooks.authenticated(exchange) : undefined;
  if (forced) {
    throw refusedAtGate(exchange, forced);
  }
}

/**
 * Counts the request against the windows its operation's `x-rate-limit` mode names: the client address's (`address`:
 * sign-up, log-in), else the caller's (`count`; `peek` reads them without counting and never refuses for them); a
 * public operation (`none`) counts nothing. A forced refusal (sandbox) is decided on the same windows, read without
 * counting, so forcing a 429 never makes the caller's next real request refused.
 */
async function limit(pipeline: Pipeline, exchange: Exchange): Promise<void> {
  const { ctx, hooks } = pipeline;
  const { req, res, caller } = exchange;
  const { rateLimit: mode } = governingOf(exchange.match);
  const byAddress = mode === 'address';
  const subject: LimitSubject | undefined = byAddress
    ? { window: 'address', id: exchange.address }
    : mode !== 'none'
      ? caller?.limitSubject
      : undefined;
  if (!subject) {
    return;
  }
  const what = byAddress ? ADDRESS_REQUESTS : undefined;
  const forced = exchange.operation ? hooks.limiting(exchange) : undefined;
  if (forced) {
    let windows = await withGateHeaders(exchange, () => ctx.limiter.peek(subject));
    for (const also of forced.also ?? []) {
      windows = combineDecisions(windows, await ctx.limiter.peek(also));
    }
    req.rateLimit = windows;
    admit(res, forced.decide(windows), forced.what ?? what);
  }
  const peek = mode === 'peek';
  let decision: LimitDecision;
  try {
    decision = await (peek ? ctx.limiter.peek(subject) : ctx.limiter.consume(subject));
  } catch (error) {
    throw refusedAtGate(exchange, error);
  }
  req.rateLimit = decision;
  if (peek) {
    // Reads the windows without counting, and never refuses for them: it is how a caller learns when to retry.
    admitNothing(res, decision);
  } else {
    admit(res, decision, what);
  }
}

/** A path or method the spec doesn't have: its 404 or 405, answered once authenticated and counted like any request. */
function refuseMiss(exchange: Exchange): Operation {
  if (!exchange.match.operation) {
    throw exchange.match.error;
  }
  return exchange.match.operation;
}

/**
 * What the caller may do here: a user token acting on the organization in the path must belong to it (another
 * organization's id is the same 404 as one that does not exist, before any role is checked, so a non-member learns
 * nothing about it); then what the security requirement names: the permission an API key needs (read from the spec's
 * scopes, `contacts:write`), or a user's role (`owner`).
 */
function authorize(pipeline: Pipeline, exchange: Exchange, operation: Operation): Promise<void> | undefined {
  const { caller } = exchange;
  if (!caller) {
    return undefined;
  }
  if (operation.organizationScoped && caller.principal.scheme === 'userToken') {
    return actInPathOrganization(pipeline, exchange, caller, caller.principal.userId).then(() =>
      checkRoles(exchange, caller, operation),
    );
  }
  checkRoles(exchange, caller, operation);
  return undefined;
}

/** A user token acting on the organization in the path: the user's membership of it, else its 404. */
async function actInPathOrganization(pipeline: Pipeline, exchange: Exchange, caller: Caller, userId: string) {
  const organizationId = exchange.params.organizationId ?? '';
  const membership = await pipeline.ctx.store.getMembership(userId, organizationId);
  if (!membership) {
    throw organizationNotFound(organizationId);
  }
  actInOrganization(caller, membership);
}

/** The 403 of the first role or permission the security requirement names that the caller does not hold. */
function checkRoles(exchange: Exchange, caller: Caller, operation: Operation): void {
  for (const required of exchange.roles) {
    const refused = refusalOf(caller, required, operation);
    if (refused) {
      throw refused;
    }
  }
}

/** Reads the whole body before anything runs, so a request whose framing fails never reaches a handler. */
function readRequestBody(exchange: Exchange): Promise<void> | undefined {
  return exchange.body.announced ? readBody(exchange.req, exchange.res, exchange.body) : undefined;
}

/** Checks parameters and body against the operation's spec (undefined when there is nothing to wait for). */
function checkInput(exchange: Exchange, operation: Operation): Promise<void> | undefined {
  return operation.checkInput(exchange.req, exchange.res, exchange.body);
}

/** Runs the handler; an operation that declares Idempotency-Key (sign-up too, anonymously) runs it idempotently. */
function run(pipeline: Pipeline, exchange: Exchange, operation: Operation): Promise<void> {
  const forced = pipeline.hooks.running(exchange);
  if (forced) {
    throw forced;
  }
  const { ctx } = pipeline;
  const { req, res } = exchange;
  return operation.idempotent
    ? runIdempotently(req, res, ctx, exchange.caller, () => operation.handler(req, res, ctx))
    : operation.handler(req, res, ctx);
}

/**
 * Puts a finished request in the request log's buffer: made with an API key (a refused one too, when the key it names
 * exists), or with a user token acting in an organization. Nothing is written here: the recorder writes its buffer in
 * batches (usage-recorder.ts). A request whose client went away before the answer was sent is not recorded (there is
 * no 'finish').
 */
function recordUsage(pipeline: Pipeline, exchange: Exchange, at: Date, durationMs: number): void {
  const who = recordedCallerOf(exchange);
  if (!who) {
    return;
  }
  const { req, res } = exchange;
  pipeline.ctx.usage.record(
    requestRecordOf({
      who,
      at,
      durationMs,
      operation: exchange.operation,
      method: req.method,
      url: req.url,
      status: res.statusCode,
      userAgent: userAgentOf(req.headers),
      address: storableAddress(exchange.address),
      requestId: req.id,
    }),
  );
}

/** Whom a request is recorded for, or undefined when it is not recorded (no credential known, no organization). */
function recordedCallerOf(exchange: Exchange): RecordedCaller | undefined {
  const principal = exchange.caller?.principal;
  const key = principal?.scheme === 'apiKey' ? principal.key : exchange.refusedKey;
  if (key) {
    return { keyId: key.keyId, organizationId: key.organizationId, environment: key.environment };
  }
  const organizationId = exchange.caller?.organization?.organizationId;
  return principal?.scheme === 'userToken' && organizationId ? { userId: principal.userId, organizationId } : undefined;
}

/**
 * Runs `step`; if it throws before the caller's own windows are known, the answer carries the address's
 * failed-authentication window (the one that applies to a caller not yet counted), as a 401 does.
 */
async function withGateHeaders<T>(exchange: Exchange, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw refusedAtGate(exchange, error);
  }
}

/** `error`, answered with the address window's headers when the request passed the authentication gate. */
function refusedAtGate(exchange: Exchange, error: unknown): unknown {
  if (exchange.gate) {
    admitNothing(exchange.res, exchange.gate);
  }
  return error;
}
