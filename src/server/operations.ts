import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Request, RequestHandler, Response } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import type { SecurityRequirement } from './authenticate.ts';
import type { OperationHandler } from './context.ts';
import { ApiError, type ErrorDetails } from './errors.ts';
import { scrubKeys } from './logger.ts';

/** Where the generated (bundled) spec and docs live. */
export const GENERATED_DIR = resolve(import.meta.dirname, '../../generated');

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** The request header an operation declares to be retried safely (lower case, as Node gives header names). */
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';

/**
 * How an operation spends from rate-limit windows (`x-rate-limit` in the spec): `count` (the default for a secured
 * operation) and `peek` use the caller's windows; `address` counts a public operation against the client address's
 * window (sign-up, log-in); `none` (the default for a public operation) counts nothing.
 */
export type RateLimitMode = 'count' | 'peek' | 'address' | 'none';

/** A minimal view of the bundled OpenAPI document: what the pipeline reads from it. */
export interface OpenApiDocument {
  info: { version: string };
  paths: Record<string, Record<string, unknown>>;
  security?: SecurityRequirement[];
  components?: { parameters?: Record<string, unknown> };
  [key: string]: unknown;
}

interface ParameterObject {
  name: string;
  in: string;
  required?: boolean;
  schema?: { type?: string; [keyword: string]: unknown };
  $ref?: string;
}

interface OperationObject {
  operationId?: string;
  security?: SecurityRequirement[];
  parameters?: ParameterObject[];
  requestBody?: { required?: boolean };
  'x-rate-limit'?: RateLimitMode;
  'x-eov-allow-unknown-query-parameters'?: boolean;
}

/** One operation of the spec with everything the pipeline looks up on it. */
export interface Operation {
  id: string;
  /** Upper-case HTTP method, e.g. `GET`. */
  method: string;
  /** The spec's path template, e.g. `/v1/api-keys/{keyId}`. */
  path: string;
  /** The effective security alternatives (the operation's, else the document's); empty for a public operation. */
  security: SecurityRequirement[];
  rateLimit: RateLimitMode;
  /** `Allow` of a 405 on the operation's path: the methods the spec declares there. */
  allow: string;
  /** Declares the `Idempotency-Key` header parameter: the pipeline's idempotency stage runs its handler. */
  idempotent: boolean;
  /**
   * Acts on the organization in its path (it declares the `organizationId` path parameter): a user-token caller must
   * belong to it, or gets 404.
   */
  organizationScoped: boolean;
  /** Checks parameters and body against the spec; undefined (no promise) when the request carries nothing to check. */
  checkInput(req: Request, res: Response): Promise<void> | undefined;
  handler: OperationHandler;
}

/** The outcome of matching a request: its operation, or the 404/405 to answer after the namespace's security. */
export type Match =
  | { operation: Operation; params: Record<string, string> }
  | { operation: undefined; error: ApiError; security: SecurityRequirement[]; rateLimit: RateLimitMode };

/**
 * What governs a matched request: the operation's own security and rate-limit mode, or, for a miss (404, 405), those of
 * the path or namespace it fell in.
 */
export function governingOf(match: Match): { security: SecurityRequirement[]; rateLimit: RateLimitMode } {
  return match.operation ?? match;
}

/** The spec compiled for the pipeline: every operation, matched once per request. */
export interface OperationTable {
  match(method: string, urlPath: string): Match;
  /** The methods the spec declares on the path a URL path belongs to, or undefined when it belongs to none. */
  methodsOf(urlPath: string): string[] | undefined;
  readonly operations: readonly Operation[];
}

/** Reads the bundled spec from generated/openapi.json. */
export function loadSpec(): OpenApiDocument {
  return JSON.parse(readFileSync(resolve(GENERATED_DIR, 'openapi.json'), 'utf8')) as OpenApiDocument;
}

interface CompiledPath {
  path: string;
  pattern: RegExp;
  byMethod: Map<string, Operation>;
  /** `Allow` of a 405: the methods the spec declares on the path. */
  allow: string;
  /** What a wrong method on this path is answered after: the security its operations share. */
  security: SecurityRequirement[];
  /** How a wrong method on this path counts: as its operations do when they all count per address, else as a miss. */
  rateLimit: RateLimitMode;
}

/**
 * Compiles the spec: one Operation per declared operation, with its handler (by operationId; a missing handler fails
 * start-up), its effective security, its rate-limit mode and its input check.
 */
export function compileOperations(
  spec: OpenApiDocument,
  handlers: Record<string, OperationHandler>,
  options: { validateResponses?: boolean } = {},
): OperationTable {
  const compiled: CompiledPath[] = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    const byMethod = new Map<string, Operation>();
    const validate = pathValidator(spec, path, options.validateResponses ?? false);
    const allow = METHODS.filter((m) => (item[m] as OperationObject | undefined)?.operationId)
      .map((m) => m.toUpperCase())
      .join(', ');
    for (const method of METHODS) {
      const op = item[method] as OperationObject | undefined;
      if (!op?.operationId) {
        continue;
      }
      const handler = handlers[op.operationId];
      if (!handler) {
        throw new Error(`no handler for operation ${op.operationId} (${method.toUpperCase()} ${path})`);
      }
      const security = op.security ?? spec.security ?? [];
      const parameters = [...((item.parameters as ParameterObject[] | undefined) ?? []), ...(op.parameters ?? [])].map(
        (p) => resolveParameter(spec, p),
      );
      byMethod.set(method.toUpperCase(), {
        id: op.operationId,
        method: method.toUpperCase(),
        path,
        security,
        rateLimit: op['x-rate-limit'] ?? (security.length === 0 ? 'none' : 'count'),
        allow,
        idempotent: parameters.some((p) => p.in === 'header' && p.name.toLowerCase() === IDEMPOTENCY_KEY_HEADER),
        organizationScoped: parameters.some((p) => p.in === 'path' && p.name === 'organizationId'),
        checkInput: inputCheck(op, parameters, validate, options.validateResponses ?? false),
        handler,
      });
    }
    const operations = [...byMethod.values()];
    compiled.push({
      path,
      pattern: new RegExp(
        `^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{(\w+)\\?\}/g, '(?<$1>[^/]+)')}/?$`,
      ),
      byMethod,
      allow,
      security: sharedSecurity(operations),
      rateLimit: operations.length > 0 && operations.every((o) => o.rateLimit === 'address') ? 'address' : 'count',
    });
  }
  // Literal paths first, so `/v1/api-keys/validate` wins over `/v1/api-keys/{keyId}`.
  compiled.sort((a, b) => Number(a.path.includes('{')) - Number(b.path.includes('{')));
  const operations = compiled.flatMap((p) => [...p.byMethod.values()]);
  // A path the spec doesn't have is answered after the security of its namespace (its first segment), so an API
  // namespace doesn't tell unauthenticated callers which routes exist, and counts like any other request.
  const namespaces = new Map<string, SecurityRequirement[]>();
  for (const namespace of new Set(operations.map((o) => namespaceOf(o.path)))) {
    namespaces.set(namespace, sharedSecurity(operations.filter((o) => namespaceOf(o.path) === namespace)));
  }

  // Literal paths are looked up directly (with or without a trailing slash); only templated ones are tried in turn.
  const literal = new Map<string, CompiledPath>();
  for (const candidate of compiled.filter((c) => !c.path.includes('{'))) {
    literal.set(candidate.path, candidate);
    literal.set(`${candidate.path}/`, candidate);
  }
  const templated = compiled.filter((c) => c.path.includes('{'));

  const find = (urlPath: string): { candidate?: CompiledPath; groups?: Record<string, string> } => {
    const exact = literal.get(urlPath);
    if (exact) {
      return { candidate: exact };
    }
    for (const candidate of templated) {
      const found = candidate.pattern.exec(urlPath);
      if (found) {
        return { candidate, groups: found.groups };
      }
    }
    return {};
  };

  return {
    operations,
    methodsOf(urlPath) {
      const { candidate } = find(urlPath);
      return candidate ? [...candidate.byMethod.keys()] : undefined;
    },
    match(method, urlPath) {
      const { candidate, groups } = find(urlPath);
      if (!candidate) {
        return {
          operation: undefined,
          security: namespaces.get(namespaceOf(urlPath)) ?? [],
          rateLimit: 'count',
          error: routeNotFound(method, urlPath),
        };
      }
      // HEAD is answered wherever GET is (RFC 9110): the GET operation runs and Node sends no body.
      const operation =
        candidate.byMethod.get(method) ?? (method === 'HEAD' ? candidate.byMethod.get('GET') : undefined);
      if (!operation) {
        return {
          operation: undefined,
          security: candidate.security,
          rateLimit: candidate.rateLimit,
          error: methodNotAllowed(method, urlPath, candidate.allow),
        };
      }
      const params: Record<string, string> = {};
      for (const [name, raw] of Object.entries(groups ?? {})) {
        params[name] = safeDecode(raw);
      }
      return { operation, params };
    },
  };
}

/** The 404 of a path the spec doesn't have. */
export function routeNotFound(method: string, urlPath: string): ApiError {
  return new ApiError('RESOURCE_NOT_FOUND', `No route ${method} ${scrubKeys(urlPath)}`);
}

/** The 405 of a method the path doesn't declare, with `Allow`. */
export function methodNotAllowed(method: string, urlPath: string, allow: string): ApiError {
  return new ApiError('METHOD_NOT_ALLOWED', `${method} is not allowed on ${scrubKeys(urlPath)}; allowed: ${allow}`, {
    headers: { Allow: allow },
  });
}

/** `/v1/api-keys/{keyId}` → `v1`; `/livez` → `livez`. */
function namespaceOf(path: string): string {
  return path.split('/')[1] ?? '';
}

/** The security every one of `operations` declares (compared by scheme names), or none when they differ. */
function sharedSecurity(operations: Operation[]): SecurityRequirement[] {
  const schemes = (op: Operation) =>
    op.security
      .map((alternative) => Object.keys(alternative).sort().join('+'))
      .sort()
      .join('|');
  const first = operations[0];
  if (!first || operations.some((op) => schemes(op) !== schemes(first))) {
    return [];
  }
  // Roles belong to an operation, not to its neighbours: a miss needs only the credential.
  return first.security.map((alternative) => Object.fromEntries(Object.keys(alternative).map((name) => [name, []])));
}

function safeDecode(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function resolveParameter(spec: OpenApiDocument, parameter: ParameterObject): ParameterObject {
  const prefix = '#/components/parameters/';
  if (parameter.$ref?.startsWith(prefix)) {
    return spec.components?.parameters?.[parameter.$ref.slice(prefix.length)] as ParameterObject;
  }
  return parameter;
}

/** An optional header whose schema is a bare string accepts anything: there is nothing for the validator to check. */
function needsChecking(parameter: ParameterObject): boolean {
  const schema = parameter.schema ?? {};
  const bareString = Object.keys(schema).every((k) => k === 'type' || k === 'description') && schema.type === 'string';
  return !(parameter.in === 'header' && !parameter.required && bareString);
}

const DECIMAL_INTEGER = /^-?(0|[1-9][0-9]*)$/;
const DECIMAL_NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;

/**
 * The input check of one operation. Numbers in the query are checked as written first (the validator would read
 * `0x10`, `1e1`, ` 5` or `010` as numbers); then express-openapi-validator checks parameters and body. An operation
 * without anything to check, called without a query string or a body, is not run through the validator at all.
 */
function inputCheck(
  op: OperationObject,
  parameters: ParameterObject[],
  validate: RequestHandler,
  validateResponses: boolean,
): Operation['checkInput'] {
  const numeric = parameters
    .filter((p) => p.in === 'query' && (p.schema?.type === 'integer' || p.schema?.type === 'number'))
    .map((p) => ({ name: p.name, pattern: p.schema?.type === 'integer' ? DECIMAL_INTEGER : DECIMAL_NUMBER }));
  const hasInput = op.requestBody !== undefined || parameters.some(needsChecking);
  const ignoresQuery = op['x-eov-allow-unknown-query-parameters'] === true;
  return (req, res) => {
    const hasQuery = req.url.includes('?');
    if (!validateResponses && !hasInput && (!hasQuery || ignoresQuery) && req.body === undefined) {
      return undefined;
    }
    return check(req, res, hasQuery);
  };
  async function check(req: Request, res: Response, hasQuery: boolean): Promise<void> {
    // The validator lets a missing body through when a JSON Content-Type is sent with nothing after it.
    const announced = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    const json = /^application\/([a-z0-9.+-]+\+)?json\b/i.test(req.headers['content-type'] ?? '');
    if (op.requestBody?.required === true && json && !announced) {
      throw new ApiError('BAD_REQUEST', BODY_EMPTY);
    }
    // The validator checks the media type of a required body only: an optional one sent as anything but JSON (or with
    // no Content-Type) would be read as no body at all, its fields silently dropped.
    if (op.requestBody !== undefined && announced && !json) {
      throw unsupportedMediaType(req.get('content-type') ?? 'none');
    }
    if (hasQuery && numeric.length > 0) {
      const details: ErrorDetails = Object.create(null);
      for (const { name, pattern } of numeric) {
        const raw = req.query[name];
        if (typeof raw === 'string' && !pattern.test(raw)) {
          details[`query.${name}`] = ['must be a number written in plain decimal digits'];
        }
      }
      if (Object.keys(details).length > 0) {
        throw new ApiError('VALIDATION_ERROR', 'The given data was invalid', { details });
      }
    }
    await new Promise<void>((done, fail) => validate(req, res, (err?: unknown) => (err ? fail(err) : done())));
  }
}

/**
 * express-openapi-validator for one path of the spec. Each path gets its own validator over a copy of the spec that
 * holds only that path, so the validator's own route lookup, which our match has already done, is a single check
 * instead of a search through every route. HEAD is validated as the path's GET.
 */
function pathValidator(spec: OpenApiDocument, path: string, validateResponses: boolean): RequestHandler {
  const item = { ...spec.paths[path] } as Record<string, unknown>;
  if (item.get && !item.head) {
    item.head = item.get;
  }
  const middleware = OpenApiValidator.middleware({
    apiSpec: { ...structuredClone(spec), paths: { [path]: item } } as never,
    validateApiSpec: false,
    validateRequests: { allowUnknownQueryParameters: false, coerceTypes: false, allErrors: true },
    validateResponses: validateResponses ? { removeAdditional: false } : false,
    validateSecurity: false,
    validateFormats: true,
    ignoreUndocumented: false,
  });
  return (req, res, next) => {
    let i = 0;
    const step = (err?: unknown): void => {
      const handler = middleware[i++];
      if (err || !handler) {
        next(err === undefined ? undefined : inputError(err, req));
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
  };
}

interface ValidatorErrorItem {
  path: string;
  message: string;
  params?: Record<string, unknown>;
}

/** The validator's errors, named where they arise: 415, 413 or a 422 with per-field details; anything else is a bug. */
function inputError(err: unknown, req: Request): unknown {
  if (err instanceof OpenApiValidator.error.UnsupportedMediaType) {
    return unsupportedMediaType(req.get('content-type') ?? 'none');
  }
  if (err instanceof OpenApiValidator.error.RequestEntityTooLarge) {
    return new ApiError('PAYLOAD_TOO_LARGE', BODY_TOO_LARGE);
  }
  if (err instanceof OpenApiValidator.error.BadRequest) {
    return new ApiError('VALIDATION_ERROR', 'The given data was invalid', {
      details: validationDetails(err.errors as ValidatorErrorItem[]),
    });
  }
  return err;
}

/** The one message of a required body sent empty. */
export const BODY_EMPTY = 'The request body is empty: send a JSON object';

/** The one message of a 413. */
export const BODY_TOO_LARGE = 'The request body exceeds the 100 KiB limit';

/** The message of a 400 for a body that doesn't parse. */
export const BODY_NOT_JSON = 'The request body is not valid JSON';

/** The 415 of a body sent as another media type than JSON. */
export function unsupportedMediaType(contentType: string): ApiError {
  return new ApiError('UNSUPPORTED_MEDIA_TYPE', `Unsupported media type ${contentType}: send application/json`);
}

/** `/body/name` → `name`, `/query/limit` → `query.limit`, `/params/keyId` → `keyId`, `/body` → `body`. */
export function fieldOf(path: string): string {
  const parts = path.split(/[./]/).filter(Boolean);
  const [where, ...rest] = parts;
  if (where === 'body') {
    return rest.length > 0 ? rest.join('.') : 'body';
  }
  if (where === 'params' || where === 'path') {
    return rest.join('.') || 'path';
  }
  if (where === 'query' || where === 'headers') {
    return [where, ...rest].join('.');
  }
  return parts.join('.') || 'request';
}

/** Groups the validator's messages by field, as easymail's `details` does. */
export function validationDetails(items: ValidatorErrorItem[]): ErrorDetails {
  // Field names come from the caller's body (`__proto__`, `constructor`): no prototype to collide with.
  const details: ErrorDetails = Object.create(null);
  for (const item of items) {
    let field = fieldOf(item.path);
    let message = item.message;
    const extra = item.params?.additionalProperty;
    if (typeof extra === 'string') {
      field = field === 'body' || field === 'query' ? extra : `${field}.${extra}`;
      message = 'is not an allowed field';
    } else if (item.message === 'must NOT have additional properties') {
      message = 'is not an allowed field';
    } else if (/^Unknown query parameter/i.test(item.message)) {
      message = 'is not an allowed query parameter';
    }
    const messages = details[field] ?? [];
    messages.push(message);
    details[field] = messages;
  }
  return details;
}
