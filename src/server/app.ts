import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import express, { type Express, type Request, type RequestHandler, type Response } from 'express';
import { combineDecisions, type LimitDecision } from '../rate-limit/decision.ts';
import type { WindowSubject } from '../rate-limit/limiter.ts';
import type { MembershipRecord } from '../store/types.ts';
import { admit, admitNothing } from './admit.ts';
import {
  type Authenticator,
  authenticatorFor,
  createAuthenticators,
  graceHeaders,
  grants,
  limitSubjectOf,
  refusal,
  type SecurityRequirement,
  unauthorized,
} from './authenticate.ts';
import { serveConsole } from './console.ts';
import type { AppContext, OperationHandler } from './context.ts';
import { ApiError, type ErrorDetails, errorHandler } from './errors.ts';
import { runIdempotently } from './idempotency.ts';
import { accessLog, scrubKeys } from './logger.ts';
import {
  BODY_NOT_JSON,
  BODY_TOO_LARGE,
  compileOperations,
  GENERATED_DIR,
  governingOf,
  type OpenApiDocument,
  type OperationTable,
} from './operations.ts';
import { accountHandlers } from './routes/accounts.ts';
import { apiKeyHandlers, organizationApiKeyHandlers } from './routes/api-keys.ts';
import { contactHandlers } from './routes/contacts.ts';
import { organizationHandlers, organizationNotFound } from './routes/organizations.ts';
import { statusHandlers } from './routes/status.ts';
import { createScenarios } from './scenarios.ts';

/** Options of {@link createApp}. */
export interface AppOptions {
  /** Validate every response against the spec too (tests): a drift answers 500 and is logged. */
  validateResponses?: boolean;
  /** Trust X-Forwarded-For from these proxies (Express `trust proxy`), for per-address limits behind a load balancer. */
  trustProxy?: boolean | string | number;
}

/** Every operation's handler, by the spec's operationId. */
const HANDLERS: Record<string, OperationHandler> = {
  ...statusHandlers,
  ...apiKeyHandlers,
  ...contactHandlers,
  ...accountHandlers,
  ...organizationHandlers,
  ...organizationApiKeyHandlers,
};

/** What a caller's `X-Request-Id` must look like to be kept; anything else is replaced by a UUID. */
export const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The reference server: the spec's operations, enforced and implemented, and nothing else.
 *
 * Every request takes the same trip (`handle` below): match the spec once, then run what the matched operation
 * declares — its security's authenticator, its rate-limit mode, its roles, its input check — and its handler.
 * Errors from any stage go to the one error handler.
 */
export function createApp(
  ctx: AppContext,
  spec: OpenApiDocument,
  options: AppOptions = {},
): { app: Express; operations: OperationTable } {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', options.trustProxy ?? false);
  app.set('json spaces', 0);

  const table = compileOperations(spec, HANDLERS, { validateResponses: options.validateResponses ?? false });
  const authenticators = createAuthenticators(ctx);
  // The authenticator of each distinct security declaration, chosen once. Fails at start-up, not on a request, when
  // the spec names a scheme no authenticator serves.
  const chosen = new Map<SecurityRequirement[], ReturnType<typeof authenticatorFor>>();
  const guardOf = (security: SecurityRequirement[]) => {
    let guard = chosen.get(security);
    if (!guard) {
      guard = authenticatorFor(authenticators, security);
      chosen.set(security, guard);
    }
    return guard;
  };
  for (const operation of table.operations) {
    if (operation.security.length > 0) {
      guardOf(operation.security);
    }
  }
  const scenarios = ctx.scenarios ? createScenarios(spec, table.operations, ctx.clock) : undefined;
  const readRawBody = express.raw({ type: () => true, limit: BODY_LIMIT_BYTES });
  const log = ctx.logger.isLevelEnabled('info') ? accessLog(ctx.logger) : undefined;

  /**
   * Runs the authenticator. An address that keeps failing is refused with 429 before any lookup; each failure is
   * counted for the address, and its 401 (or anything thrown meanwhile) carries the address window's headers.
   * Returns the address window as it stood, for answers that fail before the caller's own windows are known.
   */
  async function authenticate(req: Request, res: Response, authenticator: Authenticator): Promise<LimitDecision> {
    const address = clientAddress(req);
    const gate = await ctx.limiter.checkFailedAuth(address);
    if (!gate.allowed) {
      admit(res, gate, 'failed authentication attempts from this address');
    }
    let verdict: Awaited<ReturnType<Authenticator['verify']>>;
    try {
      verdict = await authenticator.verify(req);
    } catch (error) {
      admitNothing(res, gate);
      throw error;
    }
    if (!verdict.ok) {
      const counted = await ctx.limiter.recordFailedAuth(address);
      admitNothing(res, counted);
      throw unauthorized(verdict);
    }
    req.auth = verdict.principal;
    return gate;
  }

  /**
   * The user's membership of the organization in the path. Another organization's id answers the same 404 as one that
   * does not exist, before any role is checked, so a non-member learns nothing about it.
   */
  async function membershipOf(userId: string, organizationId: string): Promise<MembershipRecord> {
    const membership = await ctx.store.getMembership(userId, organizationId);
    if (!membership) {
      throw organizationNotFound(scrubKeys(organizationId));
    }
    return membership;
  }

  /** Reads the whole body before anything runs, so a request whose framing fails never reaches a handler. */
  async function readBody(req: Request, res: Response): Promise<void> {
    await new Promise<void>((done, fail) =>
      readRawBody(req, res, (err?: unknown) => (err ? fail(bodyError(err)) : done())),
    );
    // A framing error (a bad chunk, a connection cut mid-body) ends the stream without an error the body reader
    // reports: only a message Node parsed to its end is complete.
    if (!req.complete) {
      throw new ApiError('BAD_REQUEST', 'The request body was incomplete or malformed');
    }
    req.body = isJson(req) ? parseJson(req.body as Buffer, req.headers['content-type'] ?? '') : undefined;
  }

  /** One request's trip through the contract. */
  async function handle(req: Request, res: Response): Promise<void> {
    const match = table.match(req.method, req.path);
    const operation = match.operation;
    const { security, rateLimit: mode } = governingOf(match);
    let roles: string[] = [];
    let gate: LimitDecision | undefined;
    if (security.length > 0) {
      const guard = guardOf(security);
      roles = guard.roles;
      gate = await authenticate(req, res, guard.authenticator);
    }
    const principal = req.auth;
    const grace = principal && graceHeaders(principal);
    if (grace) {
      // A rotated key in its grace period says so on every answer, errors included (Deprecation, Sunset).
      for (const [name, value] of Object.entries(grace)) {
        res.setHeader(name, value);
      }
    }
    // Sandbox scenarios: the outcome `Prefer: code=…` or `?__code=…` forces, produced at the stage that produces it.
    const forced = scenarios && match.operation ? scenarios.force(req, { ...match, principal, roles }) : undefined;
    if (forced?.stage === 'authenticate') {
      if (gate) {
        admitNothing(res, gate);
      }
      throw forced.error;
    }
    if (mode === 'address') {
      const address: WindowSubject = { window: 'address', id: clientAddress(req) };
      if (forced?.stage === 'limit') {
        // A forced refusal reads the address's window (and any the scenario names) without counting.
        let windows = await ctx.limiter.peek(address);
        for (const subject of forced.also ?? []) {
          windows = combineDecisions(windows, await ctx.limiter.peek(subject));
        }
        req.rateLimit = windows;
        admit(res, forced.decide(windows), forced.what ?? ADDRESS_REQUESTS);
      }
      req.rateLimit = await ctx.limiter.consume(address);
      admit(res, req.rateLimit, ADDRESS_REQUESTS);
    } else if (principal && mode !== 'none') {
      const subject = limitSubjectOf(principal);
      const peek = mode === 'peek' || forced?.stage === 'limit';
      try {
        req.rateLimit = peek ? await ctx.limiter.peek(subject) : await ctx.limiter.consume(subject);
      } catch (error) {
        // The caller's windows could not be read (a plan missing from the server's table): answer with the
        // address window, the one that applies to a caller not yet counted.
        if (gate) {
          admitNothing(res, gate);
        }
        throw error;
      }
      if (forced?.stage === 'limit') {
        admit(res, forced.decide(req.rateLimit));
      } else if (mode === 'peek') {
        // Reads the windows without counting, and never refuses for them: it is how a caller learns when to retry.
        admitNothing(res, req.rateLimit);
      } else {
        admit(res, req.rateLimit);
      }
    }
    if (!operation) {
      throw match.error;
    }
    if (operation.organizationScoped && principal?.scheme === 'userToken') {
      principal.membership = await membershipOf(principal.userId, match.params.organizationId ?? '');
    }
    for (const role of roles) {
      if (principal && !grants(principal, role)) {
        throw new ApiError('FORBIDDEN', refusal(principal, role));
      }
    }
    req.params = match.params;
    req.specPath = operation.path;
    if (hasBody(req)) {
      await readBody(req, res);
    }
    const checking = operation.checkInput(req, res);
    if (checking) {
      await checking;
    }
    if (forced?.stage === 'operation') {
      throw forced.error(req);
    }
    // A public operation (sign-up) runs idempotently too, in the anonymous scope.
    if (operation.idempotent) {
      await runIdempotently(req, res, ctx, principal, () => operation.handler(req, res, ctx));
    } else {
      await operation.handler(req, res, ctx);
    }
  }

  // Outside the contract, beside the API: the spec itself, its docs page and the console (src/server/console.ts).
  const files: Record<string, { path: string; type?: string }> = {
    '/openapi.json': { path: resolve(GENERATED_DIR, 'openapi.json') },
    '/openapi.yaml': { path: resolve(GENERATED_DIR, 'openapi.yaml'), type: 'application/yaml' },
    '/docs': { path: resolve(GENERATED_DIR, 'docs', 'index.html') },
    '/docs/': { path: resolve(GENERATED_DIR, 'docs', 'index.html') },
  };
  // One Express layer for everything (plus the error handler): router layers cost more than the checks they route to.
  app.use(((req, res, next) => {
    const given = req.headers['x-request-id'];
    req.id = typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', req.id);
    log?.(req, res);
    const file = req.method === 'GET' || req.method === 'HEAD' ? files[req.path] : undefined;
    if (file) {
      if (file.type) {
        res.type(file.type);
      }
      res.sendFile(file.path, (err) => err && next(err));
      return;
    }
    if (serveConsole(req, res, next)) {
      return;
    }
    handle(req, res).catch(next);
  }) satisfies RequestHandler);
  app.use(errorHandler(ctx.logger));
  return { app, operations: table };
}

const BODY_LIMIT_BYTES = 100 * 1024;

/** What a 429 of the per-address window of sign-up and log-in says it counted. */
const ADDRESS_REQUESTS = 'requests from this address';

/** The client's address (X-Forwarded-For's when the server trusts a proxy): what per-address windows count. */
function clientAddress(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

/** Whether the request's framing announces a body (chunked, or a non-zero Content-Length). */
function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) !== 0);
}

/** `application/json` or a `+json` type such as `application/merge-patch+json`. */
function isJson(req: Request): boolean {
  const mediaType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return mediaType === 'application/json' || /^application\/[a-z0-9.!#$%&'*^_`|~-]+\+json$/.test(mediaType);
}

/** What reading the body can go wrong with, named where it arises (raw-body's errors carry a `type`). */
function bodyError(err: unknown): unknown {
  const { type, status } = (err ?? {}) as { type?: string; status?: number };
  if (type === 'entity.too.large') {
    return new ApiError('PAYLOAD_TOO_LARGE', BODY_TOO_LARGE);
  }
  if (type === 'encoding.unsupported' || status === 415) {
    return new ApiError('UNSUPPORTED_MEDIA_TYPE', UNSUPPORTED_ENCODING);
  }
  if (type === 'request.aborted' || type === 'request.size.invalid') {
    return new ApiError('BAD_REQUEST', 'The request body was incomplete');
  }
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new ApiError('BAD_REQUEST', 'The request body could not be read');
  }
  return err;
}

const UNSUPPORTED_ENCODING = 'Unsupported body encoding or charset: send UTF-8 JSON';
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * JSON as sent: UTF-8 only (an invalid byte is refused, never replaced by U+FFFD), and no lone surrogate in any
 * string (`"\ud800"` is valid JSON but not text), so what is stored is exactly what the caller wrote.
 */
function parseJson(bytes: Buffer, contentType: string): unknown {
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType)?.[1]?.toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new ApiError('UNSUPPORTED_MEDIA_TYPE', UNSUPPORTED_ENCODING);
  }
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw new ApiError('BAD_REQUEST', 'The request body is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError('BAD_REQUEST', BODY_NOT_JSON);
  }
  const details: ErrorDetails = Object.create(null);
  findIllFormed(value, details);
  if (Object.keys(details).length > 0) {
    throw new ApiError('VALIDATION_ERROR', 'The given data was invalid', { details });
  }
  return value;
}

// Iterative, not recursive: a 100 KiB body can nest tens of thousands of levels deep.
function findIllFormed(root: unknown, details: ErrorDetails): void {
  const pending: [unknown, string][] = [[root, '']];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [value, path] = next;
    const field = path === '' ? 'body' : path;
    if (typeof value === 'string') {
      if (!value.isWellFormed()) {
        details[field] = ['must be valid Unicode text (it contains a lone surrogate)'];
      }
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) {
        if (!key.isWellFormed()) {
          details[field] = ['must not have a field name with a lone surrogate'];
        }
        pending.push([item, path === '' ? key : `${path}.${key}`]);
      }
    }
  }
}
