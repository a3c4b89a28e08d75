import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import express, { type Express, type RequestHandler } from 'express';
import { serveConsole } from './console.ts';
import type { AppContext, OperationHandler } from './context.ts';
import { errorHandler } from './error-handler.ts';
import { accessLog } from './logger.ts';
import { compileOperations, type OperationTable } from './operations.ts';
import { createPipeline, handleRequest } from './pipeline.ts';
import { accountHandlers } from './routes/accounts.ts';
import { apiKeyHandlers, organizationApiKeyHandlers } from './routes/api-keys.ts';
import { contactHandlers } from './routes/contacts.ts';
import { organizationHandlers } from './routes/organizations.ts';
import { listPermissionsHandler } from './routes/permissions.ts';
import { sandboxHandlers } from './routes/sandbox.ts';
import { secretScanningHandlers } from './routes/secret-scanning.ts';
import { sessionHandlers } from './routes/sessions.ts';
import { statusHandlers } from './routes/status.ts';
import { organizationUsageHandlers, usageHandlers } from './routes/usage.ts';
import { organizationWebhookHandlers, webhookHandlers } from './routes/webhooks.ts';
import { createScenarioHooks } from './scenarios.ts';
import { GENERATED_DIR, type OpenApiDocument, servedSpec } from './spec.ts';

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
  ...sessionHandlers,
  ...organizationHandlers,
  ...organizationApiKeyHandlers,
  ...usageHandlers,
  ...organizationUsageHandlers,
  ...sandboxHandlers,
  ...webhookHandlers,
  ...organizationWebhookHandlers,
  ...secretScanningHandlers,
};

/** What a caller's `X-Request-Id` must look like to be kept; anything else is replaced by a UUID. */
export const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's `X-Request-Id` when it is sane, else a new id. */
export function requestIdFor(given: string | undefined): string {
  return given !== undefined && SANE_REQUEST_ID.test(given) ? given : randomUUID();
}

/** Outside the contract, beside the API: the spec itself and its docs page (and the console: src/server/console.ts). */
const FILES: Record<string, { path: string; type?: string }> = {
  '/openapi.json': { path: resolve(GENERATED_DIR, 'openapi.json') },
  '/openapi.yaml': { path: resolve(GENERATED_DIR, 'openapi.yaml'), type: 'application/yaml' },
  '/docs': { path: resolve(GENERATED_DIR, 'docs', 'index.html') },
  '/docs/': { path: resolve(GENERATED_DIR, 'docs', 'index.html') },
};

/**
 * The reference server: the spec's operations, enforced and implemented, and nothing else. Every request gets an id
 * (kept from the caller's `X-Request-Id` when sane) and an access-log line, then takes the pipeline's trip
 * (pipeline.ts); errors from any stage go to the one error handler.
 */
export function createApp(
  ctx: AppContext,
  bundled: OpenApiDocument,
  options: AppOptions = {},
): { app: Express; operations: OperationTable } {
  const spec = servedSpec(bundled, { sandbox: ctx.sandbox !== undefined });
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', options.trustProxy ?? false);
  app.set('json spaces', 0);

  // The permission list reads what each compiled operation's security names: the table it is part of.
  const listPermissions = listPermissionsHandler(() => table.operations);
  const table = compileOperations(
    spec,
    { ...HANDLERS, listPermissions },
    { validateResponses: options.validateResponses ?? false },
  );
  const hooks = ctx.scenarios ? createScenarioHooks(spec, table.operations, ctx.clock) : undefined;
  const pipeline = createPipeline(ctx, table, hooks);
  const log = ctx.logger.isLevelEnabled('info') ? accessLog(ctx.logger) : undefined;

  // One Express layer for everything (plus the error handler): router layers cost more than the checks they route to.
  app.use(((req, res, next) => {
    const given = req.headers['x-request-id'];
    req.id = requestIdFor(typeof given === 'string' ? given : undefined);
    res.setHeader('X-Request-Id', req.id);
    log?.(req, res);
    const file = req.method === 'GET' || req.method === 'HEAD' ? FILES[req.path] : undefined;
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
    (ctx.sandbox
      ? ctx.sandbox.gate.pass(() => handleRequest(pipeline, req, res))
      : handleRequest(pipeline, req, res)
    ).catch(next);
  }) satisfies RequestHandler);
  app.use(errorHandler(ctx.logger));
  return { app, operations: table };
}
