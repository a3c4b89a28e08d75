// The spec a contract run checks against: the bundled spec this package ships (generated/openapi.yaml),
// or another one given by path or URL. Read only through the bundled form, never the source layout.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';

/** An OpenAPI document as parsed JSON; read field by field. */
// biome-ignore lint/suspicious/noExplicitAny: a parsed document is walked generically.
export type Json = any;

/** The bundled spec shipped with the package. */
export const BUNDLED_SPEC = resolve(import.meta.dirname, '../../generated/openapi.yaml');

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** One documented operation, with its responses fully resolved. */
export interface SpecOperation {
  method: string;
  path: string;
  operationId: string;
  summary: string;
  /** Security requirements; an empty list means the operation needs no credentials. */
  security: Json[];
  /** Resolved response objects by status key ('200', '4XX', 'default'). */
  responses: Record<string, Json>;
  /** Resolved request body, if any. */
  requestBody?: Json;
  /** Resolved parameters (path item and operation level). */
  parameters: Json[];
  /** The operation's `x-rate-limit` (`address`: counted per client address, `peek`: not counted), if any. */
  rateLimit?: string;
  /** `x-sandbox-only: true`: the operation exists only on a sandbox (and may reset it). */
  sandboxOnly?: boolean;
  /** `x-mailroom-refunds-on-success`: rate-limit windows (RateLimit-Policy names) a 2xx answer takes its count back in. */
  refundsOnSuccess?: string[];
}

/** Reads a spec (YAML or JSON) from a file path or an http(s) URL. */
export async function readSpec(source: string = BUNDLED_SPEC): Promise<Json> {
  let text: string;
  if (/^https?:\/\//i.test(source)) {
    const response = await fetch(source, { headers: { Accept: 'application/yaml, application/json' } });
    if (!response.ok) {
      throw new Error(`fetching the spec from ${source} answered ${response.status}`);
    }
    text = await response.text();
  } else {
    text = await readFile(source, 'utf8');
  }
  const doc = parseYaml(text) as Json;
  if (!doc || typeof doc !== 'object' || typeof doc.openapi !== 'string' || !doc.paths) {
    throw new Error(`${source} is not an OpenAPI document (no "openapi" version or no "paths")`);
  }
  return doc;
}

const isObject = (value: unknown): value is Record<string, Json> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** The node a local JSON pointer (`#/components/schemas/ApiKey`) names. */
export function resolvePointer(doc: Json, ref: string): Json {
  if (!ref.startsWith('#/')) {
    throw new Error(`only local $refs are supported, got ${ref}`);
  }
  let node = doc;
  for (const part of ref.slice(2).split('/')) {
    node = node?.[decodeURIComponent(part).replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  if (node === undefined) {
    throw new Error(`$ref ${ref} points at nothing`);
  }
  return node;
}

/**
 * A copy of `node` with every local $ref replaced by what it points at (siblings of a $ref are kept, as
 * OpenAPI 3.1 allows). A $ref inside its own target (a recursive schema) is left as it is.
 */
export function inline(doc: Json, node: Json, seen: readonly string[] = []): Json {
  if (Array.isArray(node)) {
    return node.map((item) => inline(doc, item, seen));
  }
  if (!isObject(node)) {
    return node;
  }
  if (typeof node.$ref === 'string' && !seen.includes(node.$ref)) {
    const { $ref, ...siblings } = node;
    const target = inline(doc, resolvePointer(doc, $ref), [...seen, $ref]);
    return isObject(target) ? { ...target, ...inline(doc, siblings, seen) } : target;
  }
  return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, inline(doc, value, seen)]));
}

/** Every operation of the spec, in document order, with responses, parameters and body resolved. */
export function listOperations(doc: Json): SpecOperation[] {
  const operations: SpecOperation[] = [];
  for (const [path, rawItem] of Object.entries<Json>(doc.paths ?? {})) {
    const item = inline(doc, rawItem);
    for (const method of METHODS) {
      const op = item?.[method];
      if (!isObject(op)) {
        continue;
      }
      const parameters = [...(item.parameters ?? []), ...(op.parameters ?? [])];
      operations.push({
        method: method.toUpperCase(),
        path,
        operationId: String(op.operationId ?? `${method} ${path}`),
        summary: String(op.summary ?? ''),
        security: Array.isArray(op.security) ? op.security : (doc.security ?? []),
        responses: op.responses ?? {},
        requestBody: op.requestBody,
        parameters,
        rateLimit: typeof op['x-rate-limit'] === 'string' ? op['x-rate-limit'] : undefined,
        refundsOnSuccess: Array.isArray(op['x-mailroom-refunds-on-success'])
          ? op['x-mailroom-refunds-on-success'].filter((name): name is string => typeof name === 'string')
          : undefined,
        sandboxOnly: op['x-sandbox-only'] === true,
      });
    }
  }
  return operations;
}

/** A path template as a regular expression (`/v1/contacts/{contactId}` matches `/v1/contacts/ct_1`). */
export function pathPattern(template: string): RegExp {
  const escaped = template
    .split(/(\{[^}]+\})/)
    .map((part) => (part.startsWith('{') ? '[^/]+' : part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${escaped}/?$`);
}

/**
 * The operation a request is for, or undefined. Literal paths win over templated ones (`/v1/api-keys/validate`
 * before `/v1/api-keys/{keyId}`), as OpenAPI requires.
 */
export function matchOperation(operations: SpecOperation[], method: string, url: string): SpecOperation | undefined {
  const path = url.split('?')[0] ?? url;
  const candidates = operations.filter((op) => op.method === method.toUpperCase() && pathPattern(op.path).test(path));
  return candidates.sort((a, b) => templateCount(a.path) - templateCount(b.path))[0];
}

const templateCount = (path: string) => (path.match(/\{/g) ?? []).length;

/** The response object documented for `status`: the exact code, then `4XX`-style ranges, then `default`. */
export function responseFor(operation: SpecOperation, status: number): Json | undefined {
  const responses = operation.responses;
  return responses[String(status)] ?? responses[`${String(status)[0]}XX`] ?? responses.default;
}

/**
 * The error-code → HTTP status table the spec declares on its ErrorCode schema: `x-error-statuses`
 * (`{ CODE: 409 }`) or `x-error-codes` (`{ CODE: 409 }`, `{ CODE: { status: 409 } }` or
 * `[{ code, status }]`). Empty when the spec declares none.
 */
export function errorStatusTable(doc: Json): Map<string, number> {
  const schemas: Record<string, Json> = doc.components?.schemas ?? {};
  const candidates = [schemas.ErrorCode, ...Object.values(schemas)].filter(isObject);
  const table = new Map<string, number>();
  for (const schema of candidates) {
    const raw = schema['x-error-statuses'] ?? schema['x-error-codes'];
    if (raw === undefined) {
      continue;
    }
    const entries: Array<[string, Json]> = Array.isArray(raw)
      ? raw.map((entry: Json) => [String(entry?.code), entry?.status])
      : Object.entries(raw);
    for (const [code, value] of entries) {
      const status = Number(isObject(value) ? value.status : value);
      if (Number.isInteger(status)) {
        table.set(code, status);
      }
    }
    return table;
  }
  return table;
}

/** Where the error code sits in error bodies: the property path to the schema that carries the status table. */
export function errorCodePath(doc: Json, schema: Json, path: string[] = [], depth = 0): string[] | undefined {
  if (!isObject(schema) || depth > 20) {
    return undefined;
  }
  if (typeof schema.$ref === 'string') {
    const target = resolvePointer(doc, schema.$ref);
    if (isObject(target) && (target['x-error-statuses'] || target['x-error-codes'])) {
      return path;
    }
    return errorCodePath(doc, target, path, depth + 1);
  }
  if (schema['x-error-statuses'] || schema['x-error-codes']) {
    return path;
  }
  for (const [name, property] of Object.entries<Json>(schema.properties ?? {})) {
    const found = errorCodePath(doc, property, [...path, name], depth + 1);
    if (found) {
      return found;
    }
  }
  for (const branch of [...(schema.allOf ?? []), ...(schema.oneOf ?? []), ...(schema.anyOf ?? [])]) {
    const found = errorCodePath(doc, branch, path, depth + 1);
    if (found) {
      return found;
    }
  }
  return undefined;
}
