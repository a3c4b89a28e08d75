import { createRequire } from 'node:module';
import type { Request, RequestHandler, Response } from 'express';
import type * as OpenApiValidatorModule from 'express-openapi-validator';
import { type BodyFacts, checkBodyFraming } from './body.ts';
import { type ErrorDetails, invalidData, payloadTooLarge, unsupportedMediaType } from './errors.ts';
import { shareSchemaValidators } from './schema-validator-cache.ts';
import type { OpenApiDocument, OperationObject, ParameterObject } from './spec.ts';

// The input check of one operation: the body's framing against what the operation declares, numbers in the query as
// written, then express-openapi-validator over parameters and body. Its errors are named here: 415, 413, or a 422 with
// per-field details.

// express-openapi-validator (with Ajv, a $ref parser, multer and a YAML parser: about 170 modules) is loaded with the
// first validator built, not with the server; warmInputChecks loads it in the background right after start-up.
const require = createRequire(import.meta.url);
let validatorModule: typeof OpenApiValidatorModule | undefined;
function openApiValidator(): typeof OpenApiValidatorModule {
  validatorModule ??= require('express-openapi-validator') as typeof OpenApiValidatorModule;
  return validatorModule;
}

/** Checks a request's parameters and body against its operation; undefined when there is nothing to check. */
export type InputCheck = (req: Request, res: Response, body: BodyFacts) => Promise<void> | undefined;

const DECIMAL_INTEGER = /^-?(0|[1-9][0-9]*)$/;
const DECIMAL_NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;

/**
 * The input check of one operation. Numbers in the query are checked as written first (the validator would read
 * `0x10`, `1e1`, ` 5` or `010` as numbers); then express-openapi-validator checks parameters and body. An operation
 * without anything to check, called without a query string or a body, is not run through the validator at all.
 */
export function createInputCheck(
  spec: OpenApiDocument,
  path: string,
  op: OperationObject,
  parameters: ParameterObject[],
  validateResponses: boolean,
): InputCheck {
  // Built on the first request that needs it, not at start-up: compiling a path's schemas (Ajv, the OpenAPI 3.1
  // meta-schema, a copy of the spec) costs a few hundred milliseconds of CPU per path, most of a sandbox's start-up.
  let validate: RequestHandler | undefined;
  const validator = () => {
    validate ??= pathValidator(spec, path, validateResponses);
    return validate;
  };
  const numeric = parameters
    .filter((p) => p.in === 'query' && (p.schema?.type === 'integer' || p.schema?.type === 'number'))
    .map((p) => ({ name: p.name, pattern: p.schema?.type === 'integer' ? DECIMAL_INTEGER : DECIMAL_NUMBER }));
  const hasInput = op.requestBody !== undefined || parameters.some(needsChecking);
  const ignoresQuery = op['x-eov-allow-unknown-query-parameters'] === true;
  const declaredBody = op.requestBody === undefined ? undefined : { required: op.requestBody.required === true };

  async function check(req: Request, res: Response, body: BodyFacts, hasQuery: boolean): Promise<void> {
    checkBodyFraming(body, declaredBody, req.headers['content-type']);
    if (hasQuery && numeric.length > 0) {
      const details: ErrorDetails = Object.create(null);
      for (const { name, pattern } of numeric) {
        const raw = req.query[name];
        if (typeof raw === 'string' && !pattern.test(raw)) {
          details[`query.${name}`] = ['must be a number written in plain decimal digits'];
        }
      }
      if (Object.keys(details).length > 0) {
        throw invalidData(details);
      }
    }
    await new Promise<void>((done, fail) => validator()(req, res, (err?: unknown) => (err ? fail(err) : done())));
  }

  return (req, res, body) => {
    const hasQuery = req.url.includes('?');
    if (!validateResponses && !hasInput && (!hasQuery || ignoresQuery) && req.body === undefined) {
      return undefined;
    }
    return check(req, res, body, hasQuery);
  };
}

/** An optional header whose schema is a bare string accepts anything: there is nothing for the validator to check. */
function needsChecking(parameter: ParameterObject): boolean {
  const schema = parameter.schema ?? {};
  const bareString = Object.keys(schema).every((k) => k === 'type' || k === 'description') && schema.type === 'string';
  return !(parameter.in === 'header' && !parameter.required && bareString);
}

/**
 * express-openapi-validator for one path of the spec. Each path gets its own validator over a copy of the spec that
 * holds only that path and the components it reaches (specOfPath), so the validator's own route lookup, which our match
 * has already done, is a single check instead of a search through every route, and it bundles and compiles no other
 * path's schemas. HEAD is validated as the path's GET.
 */
function pathValidator(spec: OpenApiDocument, path: string, validateResponses: boolean): RequestHandler {
  shareSchemaValidators();
  const OpenApiValidator = openApiValidator();
  const item = { ...spec.paths[path] } as Record<string, unknown>;
  if (item.get && !item.head) {
    item.head = item.get;
  }
  const middleware = OpenApiValidator.middleware({
    apiSpec: structuredClone(specOfPath(spec, path, item)) as never,
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

const COMPONENT_REF = /^#\/components\/([^/]+)\/([^/]+)$/;

/**
 * The spec as one path's validator needs it: that path item, and of the components only those it reaches through
 * `$ref`s, directly or through other components (the security schemes all; no webhooks). The library bundles and
 * compiles all it is given: with every component, building one path's validator cost about 0.1 s of CPU, most of it
 * the other paths' responses and schemas. A `$ref` into a component (`#/components/schemas/A/properties/b`) or
 * anywhere else keeps every component.
 */
export function specOfPath(spec: OpenApiDocument, path: string, item: Record<string, unknown>): OpenApiDocument {
  const { webhooks: _webhooks, ...rest } = spec;
  const components = (spec.components ?? {}) as Record<string, Record<string, unknown> | undefined>;
  const kept: Record<string, Record<string, unknown>> = {};
  const pending: unknown[] = [item];
  while (pending.length > 0) {
    const node = pending.pop();
    if (node === null || typeof node !== 'object') {
      continue;
    }
    for (const [key, value] of Object.entries(node)) {
      if (key !== '$ref' || typeof value !== 'string') {
        pending.push(value);
        continue;
      }
      const [, kind = '', escaped = ''] = COMPONENT_REF.exec(value) ?? [];
      const name = escaped.replaceAll('~1', '/').replaceAll('~0', '~');
      const target = components[kind]?.[name];
      if (target === undefined) {
        return { ...rest, paths: { [path]: item } };
      }
      kept[kind] ??= {};
      const ofKind = kept[kind];
      if (!(name in ofKind)) {
        ofKind[name] = target;
        pending.push(target);
      }
    }
  }
  return {
    ...rest,
    paths: { [path]: item },
    components: {
      ...kept,
      ...(components.securitySchemes ? { securitySchemes: components.securitySchemes } : {}),
    } as OpenApiDocument['components'],
  };
}

interface ValidatorErrorItem {
  path: string;
  message: string;
  params?: Record<string, unknown>;
}

/** The validator's errors, named where they arise: 415, 413 or a 422 with per-field details; anything else is a bug. */
function inputError(err: unknown, req: Request): unknown {
  const OpenApiValidator = openApiValidator();
  if (err instanceof OpenApiValidator.error.UnsupportedMediaType) {
    return unsupportedMediaType(req.get('content-type') ?? 'none');
  }
  if (err instanceof OpenApiValidator.error.RequestEntityTooLarge) {
    return payloadTooLarge();
  }
  if (err instanceof OpenApiValidator.error.BadRequest) {
    return invalidData(validationDetails(err.errors as ValidatorErrorItem[]));
  }
  return err;
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
