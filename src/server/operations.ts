import type { OperationHandler } from './context.ts';
import type { SecurityRequirement } from './credentials.ts';
import { type ApiError, methodNotAllowed, routeNotFound } from './errors.ts';
import { createInputCheck, type InputCheck } from './input-check.ts';
import {
  METHODS,
  type OpenApiDocument,
  type OperationObject,
  type ParameterObject,
  type RateLimitMode,
  resolveRef,
} from './spec.ts';

// The spec compiled for the pipeline, and the one match of each request against it.
//
// Paths are matched exactly as the spec writes them: case-sensitive, with no trailing slash and no empty segment.
// `/v1/api-keys/validate/` and `/v1//api-keys/validate` are not `/v1/api-keys/validate`: they are 404, answered (and
// counted) like any other path the spec does not have in their namespace, with a message naming the path they were
// probably meant to be.

/** The request header an operation declares to be retried safely (lower case, as Node gives header names). */
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';

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
  /** `Allow` of a 405 on the operation's path: the methods the spec declares there, and HEAD wherever GET is. */
  allow: string;
  /** Declares the `Idempotency-Key` header parameter: the pipeline's idempotency stage runs its handler. */
  idempotent: boolean;
  /**
   * Acts on the organization in its path (it declares the `organizationId` path parameter): a user-token caller must
   * belong to it, or gets 404.
   */
  organizationScoped: boolean;
  /** Checks parameters and body against the spec; undefined (no promise) when the request carries nothing to check. */
  checkInput: InputCheck;
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
  /** The methods the spec declares on the path a URL path belongs to (HEAD with GET), or undefined for none. */
  methodsOf(urlPath: string): string[] | undefined;
  readonly operations: readonly Operation[];
}

interface CompiledPath {
  path: string;
  pattern: RegExp;
  byMethod: Map<string, Operation>;
  /** `Allow` of a 405: the methods the spec declares on the path, HEAD included wherever GET is. */
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
  const compiled = Object.entries(spec.paths).map(([path, item]) =>
    compilePath(spec, path, item, handlers, options.validateResponses ?? false),
  );
  // Literal paths first, so `/v1/api-keys/validate` wins over `/v1/api-keys/{keyId}`.
  compiled.sort((a, b) => Number(a.path.includes('{')) - Number(b.path.includes('{')));
  const operations = compiled.flatMap((p) => [...p.byMethod.values()]);
  const namespaces = namespaceSecurity(operations);
  const find = pathFinder(compiled);

  return {
    operations,
    methodsOf(urlPath) {
      return find(urlPath)?.candidate.allow.split(', ');
    },
    match(method, urlPath) {
      const found = find(urlPath);
      if (!found) {
        const canonical = canonicalPath(urlPath);
        return {
          operation: undefined,
          security: namespaces.get(namespaceOf(urlPath)) ?? [],
          rateLimit: 'count',
          error: routeNotFound(method, urlPath, canonical !== urlPath && find(canonical) ? canonical : undefined),
        };
      }
      const { candidate, groups } = found;
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

/** One path of the spec: its operations by method, its pattern, and what a wrong method on it is answered after. */
function compilePath(
  spec: OpenApiDocument,
  path: string,
  item: Record<string, unknown>,
  handlers: Record<string, OperationHandler>,
  validateResponses: boolean,
): CompiledPath {
  const declared = METHODS.filter((m) => (item[m] as OperationObject | undefined)?.operationId);
  // RFC 9110 §10.2.1: Allow lists every method the resource supports, and HEAD is served wherever GET is.
  const allowed = declared.map((m) => m.toUpperCase());
  if (allowed.includes('GET') && !allowed.includes('HEAD')) {
    allowed.splice(allowed.indexOf('GET') + 1, 0, 'HEAD');
  }
  const allow = allowed.join(', ');
  const byMethod = new Map<string, Operation>();
  for (const method of declared) {
    const op = item[method] as OperationObject & { operationId: string };
    const handler = handlers[op.operationId];
    if (!handler) {
      throw new Error(`no handler for operation ${op.operationId} (${method.toUpperCase()} ${path})`);
    }
    const security = op.security ?? spec.security ?? [];
    const parameters = [...((item.parameters as ParameterObject[] | undefined) ?? []), ...(op.parameters ?? [])].map(
      (p) => resolveRef(spec, p) as ParameterObject,
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
      checkInput: createInputCheck(spec, path, op, parameters, validateResponses),
      handler,
    });
  }
  const operations = [...byMethod.values()];
  return {
    path,
    pattern: new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{(\w+)\\?\}/g, '(?<$1>[^/]+)')}$`),
    byMethod,
    allow,
    security: sharedSecurity(operations),
    rateLimit: operations.length > 0 && operations.every((o) => o.rateLimit === 'address') ? 'address' : 'count',
  };
}

/**
 * Finds the spec path of a URL path, exactly as written: literal paths by a map lookup, templated ones by their
 * patterns in turn.
 */
function pathFinder(
  compiled: CompiledPath[],
): (urlPath: string) => { candidate: CompiledPath; groups?: Record<string, string> } | undefined {
  const literal = new Map(compiled.filter((c) => !c.path.includes('{')).map((c) => [c.path, c]));
  const templated = compiled.filter((c) => c.path.includes('{'));
  return (urlPath) => {
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
    return undefined;
  };
}

/**
 * A path the spec doesn't have is answered after the security of its namespace (its first segment), so an API
 * namespace doesn't tell unauthenticated callers which routes exist, and counts like any other request.
 */
function namespaceSecurity(operations: Operation[]): Map<string, SecurityRequirement[]> {
  const namespaces = new Map<string, SecurityRequirement[]>();
  for (const namespace of new Set(operations.map((o) => namespaceOf(o.path)))) {
    namespaces.set(namespace, sharedSecurity(operations.filter((o) => namespaceOf(o.path) === namespace)));
  }
  return namespaces;
}

/** `/v1/api-keys/{keyId}` → `v1`; `/livez` → `livez`. */
function namespaceOf(path: string): string {
  return path.split('/')[1] ?? '';
}

/** A URL path without empty segments or a trailing slash: what a near miss was probably meant to be. */
function canonicalPath(urlPath: string): string {
  const collapsed = urlPath.replace(/\/{2,}/g, '/');
  return collapsed.length > 1 && collapsed.endsWith('/') ? collapsed.slice(0, -1) : collapsed;
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
