// The rules about state the spec declares, read once per run: which operations create, read, list, update, delete
// and rotate each resource (`x-mailroom-resource`), what a rotation's replacement inherits (`x-mailroom-inherits`),
// which answers carry a secret (`x-mailroom-secret`), which operations the rate limit does not count
// (`x-rate-limit: peek`) and which windows a success takes its count back in (`x-mailroom-refunds-on-success`). Nothing here names a path: a resource gets the checks by declaring its operations.
import { inline, type Json, listOperations, pathPattern, type SpecOperation } from '../spec.ts';

/** The roles an operation can play for its resource. */
export const RESOURCE_ROLES = ['create', 'read', 'list', 'update', 'delete', 'rotate'] as const;
export type ResourceRole = (typeof RESOURCE_ROLES)[number];

/** One operation of a resource, with what the state checks need of it. */
export interface RuleOperation {
  operationId: string;
  method: string;
  path: string;
  pattern: RegExp;
  /** Path template parameters, in order. */
  pathParams: string[];
  /** The security schemes it accepts, by name, with the scopes each asks for. */
  schemes: Record<string, string[]>;
  /** Example request bodies (the request body's named examples, else its schema's `examples`). */
  examples: Json[];
  /** Names of its query parameters. */
  query: string[];
  /** Names of its header parameters, in lower case (`idempotency-key`). */
  headers: string[];
  rateLimit?: string;
}

/** A resource as the spec declares it. */
export interface ResourceRule {
  name: string;
  operations: Partial<Record<ResourceRole, RuleOperation>>;
  /** The field of a create answer holding a credential that must stop working (401) once the thing is deleted. */
  credential?: string;
  /** Fields the replacement of a rotation keeps (`x-mailroom-inherits`). */
  inherits: string[];
  /** The property naming one thing: the last path parameter of its read, update or delete. */
  idField?: string;
}

/** An answer that carries a secret (`x-mailroom-secret`). */
export interface SecretRule {
  operationId: string;
  method: string;
  path: string;
  pattern: RegExp;
  /** The field of `data` holding the secret. */
  field: string;
  /** The field of `data` holding the secret masked (`mr_a1b2c3d4_****`): what precedes the stars is public. */
  masked?: string;
}

/** Everything the state model reads from the spec. */
export interface StateRules {
  resources: ResourceRule[];
  secrets: SecretRule[];
  /** Every operation, for matching requests (with its `x-rate-limit`). */
  operations: Array<SpecOperation & { pattern: RegExp }>;
  /** Security schemes that take an API key in a header (`apiKeyHeader`). */
  apiKeySchemes: string[];
  /** GET operations without path parameters, for using a credential: peek ones (not counted) and counted ones. */
  probes: RuleOperation[];
}

const isObject = (value: unknown): value is Record<string, Json> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

function ruleOperation(doc: Json, path: string, method: string, op: Json): RuleOperation {
  const body = inline(doc, op.requestBody ?? {});
  const media = body?.content?.['application/json'] ?? {};
  const examples: Json[] = isObject(media.examples)
    ? Object.values<Json>(media.examples)
        .map((example) => example?.value)
        .filter((value) => value !== undefined)
    : [];
  if (examples.length === 0 && Array.isArray(media.schema?.examples)) {
    examples.push(...media.schema.examples);
  }
  const security: Json[] = Array.isArray(op.security) ? op.security : (doc.security ?? []);
  const schemes: Record<string, string[]> = {};
  for (const requirement of security) {
    for (const [name, scopes] of Object.entries<Json>(requirement ?? {})) {
      schemes[name] = Array.isArray(scopes) ? scopes.map(String) : [];
    }
  }
  const parameters: Json[] = inline(doc, [...(doc.paths[path]?.parameters ?? []), ...(op.parameters ?? [])]);
  return {
    operationId: String(op.operationId ?? `${method} ${path}`),
    method: method.toUpperCase(),
    path,
    pattern: pathPattern(path),
    pathParams: [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] as string),
    schemes,
    examples,
    query: parameters.filter((p) => p?.in === 'query').map((p) => String(p.name)),
    headers: parameters.filter((p) => p?.in === 'header').map((p) => String(p.name).toLowerCase()),
    rateLimit: typeof op['x-rate-limit'] === 'string' ? op['x-rate-limit'] : undefined,
  };
}

/** Reads the state rules of a (bundled) spec document. */
export function readStateRules(doc: Json): StateRules {
  const resources = new Map<string, ResourceRule>();
  const secrets: SecretRule[] = [];
  const probes: RuleOperation[] = [];
  for (const [path, item] of Object.entries<Json>(doc.paths ?? {})) {
    for (const [method, op] of Object.entries<Json>(item ?? {})) {
      if (!isObject(op) || !op.responses) {
        continue;
      }
      const rule = ruleOperation(doc, path, method, op);
      if (rule.method === 'GET' && rule.pathParams.length === 0 && Object.keys(rule.schemes).length > 0) {
        probes.push(rule);
      }
      const declared = op['x-mailroom-resource'];
      if (isObject(declared) && typeof declared.name === 'string') {
        const role = declared.role as ResourceRole;
        if (!RESOURCE_ROLES.includes(role)) {
          throw new Error(`${rule.operationId}: x-mailroom-resource role must be one of ${RESOURCE_ROLES.join(', ')}`);
        }
        const resource = resources.get(declared.name) ?? { name: declared.name, operations: {}, inherits: [] };
        resources.set(declared.name, resource);
        resource.operations[role] = rule;
        if (typeof declared.credential === 'string') {
          resource.credential = declared.credential;
        }
        if (Array.isArray(op['x-mailroom-inherits'])) {
          resource.inherits = op['x-mailroom-inherits'].map(String);
        }
      }
      const secret = op['x-mailroom-secret'];
      if (isObject(secret) && typeof secret.field === 'string') {
        secrets.push({
          operationId: rule.operationId,
          method: rule.method,
          path: rule.path,
          pattern: rule.pattern,
          field: secret.field,
          masked: typeof secret.masked === 'string' ? secret.masked : undefined,
        });
      }
    }
  }
  for (const resource of resources.values()) {
    const { read, update, delete: remove } = resource.operations;
    resource.idField = (read ?? update ?? remove)?.pathParams.at(-1);
  }
  const apiKeySchemes = Object.entries<Json>(doc.components?.securitySchemes ?? {})
    .filter(([, scheme]) => scheme?.type === 'apiKey' && scheme?.in === 'header')
    .map(([name]) => name);
  return {
    resources: [...resources.values()],
    secrets,
    apiKeySchemes,
    operations: listOperations(doc).map((op) => ({ ...op, pattern: pathPattern(op.path) })),
    probes,
  };
}

/** The rule operation a request is for, among `candidates` (literal paths win over templated ones). */
export function matchRule<T extends { method: string; pattern: RegExp; path: string }>(
  candidates: T[],
  method: string,
  url: string,
): T | undefined {
  const path = url.split('?')[0] ?? url;
  return candidates
    .filter((c) => c.method === method.toUpperCase() && c.pattern.test(path))
    .sort((a, b) => (a.path.match(/\{/g) ?? []).length - (b.path.match(/\{/g) ?? []).length)[0];
}
