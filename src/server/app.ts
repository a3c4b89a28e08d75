import { resolve } from 'node:path';
import express, { type Express, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import { pinoHttp } from 'pino-http';
import { KEY_WINDOW_NAME, KEY_WINDOW_SECONDS, type WindowConfig } from '../rate-limit/plans.ts';
import type { AppContext, OperationHandler } from './context.ts';
import { ApiError } from './errors.ts';
import { scrubKeys } from './logger.ts';
import { authenticate, requireWriteAccess } from './middleware/authenticate.ts';
import { errorHandler } from './middleware/error-handler.ts';
import { rateLimit } from './middleware/rate-limit.ts';
import { requestId } from './middleware/request-id.ts';
import { routeMatch } from './middleware/route-match.ts';
import { apiKeyHandlers } from './routes/api-keys.ts';
import { contactHandlers } from './routes/contacts.ts';
import { statusHandlers } from './routes/status.ts';
import { compilePaths, GENERATED_DIR, isV1Path, listOperations, matchPath, type OpenApiDocument } from './spec.ts';

/** Options of {@link createApp}. */
export interface AppOptions {
  /** Validate every response against the spec too (tests): a drift answers 500 and is logged. */
  validateResponses?: boolean;
  /** Trust X-Forwarded-For from these proxies (Express `trust proxy`), for per-address limits behind a load balancer. */
  trustProxy?: boolean | string | number;
}

const handlersById: Record<string, OperationHandler> = { ...statusHandlers, ...apiKeyHandlers, ...contactHandlers };

/** Each operation's handler by `METHOD /spec/path`; fails at start-up when an operation of the spec has none. */
function handlersByRoute(spec: OpenApiDocument): Map<string, OperationHandler> {
  const byRoute = new Map<string, OperationHandler>();
  for (const operation of listOperations(spec)) {
    const handler = handlersById[operation.operationId];
    if (!handler) {
      throw new Error(
        `no handler for operation ${operation.operationId} (${operation.method.toUpperCase()} ${operation.path})`,
      );
    }
    byRoute.set(`${operation.method.toUpperCase()} ${operation.path}`, handler);
  }
  return byRoute;
}

const BODY_LIMIT = '100kb';

/** The windows that apply to a request: the caller's plan (and key) when authenticated, else the per-address one. */
function windowsFor(ctx: AppContext, req: Request): WindowConfig[] {
  const auth = req.auth;
  if (!auth) {
    return [ctx.failedAuth];
  }
  const windows = [...(ctx.plans[auth.plan]?.windows ?? [])];
  if (auth.key.rateLimit) {
    windows.push({ name: KEY_WINDOW_NAME, limit: auth.key.rateLimit, windowSeconds: KEY_WINDOW_SECONDS });
  }
  return windows.length > 0 ? windows : [ctx.failedAuth];
}

/** `METHOD /path` of every operation that declares no parameters and no request body. */
function operationsWithoutInput(spec: OpenApiDocument): Set<string> {
  const bare = new Set<string>();
  for (const op of listOperations(spec)) {
    const item = spec.paths[op.path] as Record<string, { parameters?: unknown[]; requestBody?: unknown }>;
    const operation = item[op.method];
    const pathParams = (item as { parameters?: unknown[] }).parameters ?? [];
    if (pathParams.length === 0 && (operation?.parameters ?? []).length === 0 && !operation?.requestBody) {
      bare.add(`${op.method.toUpperCase()} ${op.path}`);
    }
  }
  return bare;
}

function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Runs a list of middleware in order, as Express would. */
function runAll(handlers: RequestHandler[], req: Request, res: Response, done: NextFunction): void {
  let i = 0;
  const step = (err?: unknown): void => {
    const handler = handlers[i++];
    if (err || !handler) {
      done(err);
      return;
    }
    try {
      const result = handler(req, res, step) as unknown;
      if (result instanceof Promise) {
        result.catch(step);
      }
    } catch (error) {
      step(error);
    }
  };
  step();
}

/** The reference server: the spec's operations, enforced and implemented, and nothing else. */
export function createApp(ctx: AppContext, spec: OpenApiDocument, options: AppOptions = {}): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', options.trustProxy ?? false);
  app.set('json spaces', 0);

  app.use(requestId());
  // The request line is an info log; when info is off (e.g. benchmarks at warn), skip the per-request logger entirely.
  // Errors are still logged by the error handler.
  if (ctx.logger.isLevelEnabled('info')) {
    app.use(
      pinoHttp({
        logger: ctx.logger,
        genReqId: (req) => (req as express.Request).id,
        quietReqLogger: true,
        customSuccessMessage: (req, res, time) => `${req.method} ${req.url} ${res.statusCode} ${Math.round(time)}ms`,
        customErrorMessage: (req, res) => `${req.method} ${req.url} ${res.statusCode}`,
        customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
        // Only what a request line needs: no headers at all, so credentials can't leak through them.
        serializers: {
          req: (req: { id: string; method: string; url: string }) => ({
            id: req.id,
            method: req.method,
            url: scrubKeys(req.url),
          }),
          res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
        },
      }),
    );
  }

  const paths = compilePaths(spec);
  const matchRoute = routeMatch(paths);
  const parseJson = express.json({ limit: BODY_LIMIT, type: ['application/json', 'application/*+json'] });
  const validate = OpenApiValidator.middleware({
    apiSpec: structuredClone(spec) as never,
    validateRequests: { allowUnknownQueryParameters: false, coerceTypes: false, allErrors: true },
    validateResponses: options.validateResponses ? { removeAdditional: false } : false,
    validateSecurity: false,
    validateFormats: true,
    ignoreUndocumented: false,
  });
  const unparameterized = operationsWithoutInput(spec);
  const handlers = handlersByRoute(spec);

  const parseBody: RequestHandler = (req, res, next) => (hasBody(req) ? parseJson(req, res, next) : next());
  const validateRequest: RequestHandler = (req, res, next) => {
    // Nothing to validate: an operation without parameters or body, called without a query string or body. The
    // validator would only re-match the route, so skip it (responses are still validated in tests).
    const bare = !options.validateResponses && !req.url.includes('?') && !hasBody(req);
    if (bare && unparameterized.has(`${req.method} ${req.specPath}`)) {
      next();
      return;
    }
    runAll(validate, req, res, next);
  };
  const handle: RequestHandler = (req, res, next) => {
    const handler = handlers.get(`${req.method} ${req.specPath}`);
    if (!handler) {
      next(new ApiError('RESOURCE_NOT_FOUND', `No route ${req.method} ${scrubKeys(req.path)}`));
      return;
    }
    handler(req, res, ctx).catch(next);
  };

  // One flat pipeline per kind of path instead of Express router layers: the profile showed routing, not
  // enforcement, as the largest cost of a request.
  const v1Steps = [
    authenticate(ctx),
    rateLimit(ctx.limiter),
    matchRoute,
    requireWriteAccess(),
    parseBody,
    validateRequest,
    handle,
  ];
  const publicSteps = [matchRoute, parseBody, validateRequest, handle];
  app.use((req, res, next) => {
    if (isV1Path(req.path)) {
      runAll(v1Steps, req, res, next);
    } else if (matchPath(paths, req.path)) {
      runAll(publicSteps, req, res, next);
    } else {
      next();
    }
  });

  // Served beside the API, outside the contract: the spec itself and its docs page.
  app.get('/openapi.json', (_req, res) => res.sendFile(resolve(GENERATED_DIR, 'openapi.json')));
  app.get('/openapi.yaml', (_req, res) =>
    res.type('application/yaml').sendFile(resolve(GENERATED_DIR, 'openapi.yaml')),
  );
  app.get(['/docs', '/docs/'], (_req, res) => res.sendFile(resolve(GENERATED_DIR, 'docs', 'index.html')));
  app.use((req, _res, next) =>
    next(new ApiError('RESOURCE_NOT_FOUND', `No route ${req.method} ${scrubKeys(req.path)}`)),
  );
  app.use(errorHandler(ctx.logger, (req) => windowsFor(ctx, req)));
  return app;
}
