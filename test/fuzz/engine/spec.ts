import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The part of a JSON Schema the fuzz reads (the spec's schemas use nothing else). */
export interface Schema {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  properties?: Record<string, Schema>;
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  required?: string[];
  additionalProperties?: boolean | Schema;
  minProperties?: number;
  examples?: unknown[];
  default?: unknown;
  $ref?: string;
}

/** A parameter of an operation, resolved. */
export interface Param {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required: boolean;
  schema: Schema;
}

/** The kinds of stored row a case can aim at (each case gets one of its own, seeded for it). */
export type RowKind =
  | 'contact'
  | 'key'
  | 'organization'
  | 'member'
  | 'token'
  | 'login'
  | 'session'
  | 'account'
  | 'endpoint'
  | 'delivery'
  | 'hookOrganization';

/** Which credential an operation takes, from its effective `security` (its own, else the root's), as the server reads it. */
export type Credential = 'apiKey' | 'userToken' | 'scanner' | 'none';

/** One operation of the spec, as the fuzz uses it. */
export interface Operation {
  method: string;
  /** The spec path template, e.g. `/v1/contacts/{contactId}`. */
  path: string;
  operationId: string;
  /** The statuses it documents. */
  statuses: number[];
  params: Param[];
  /** The JSON request body's schema, resolved, when it takes one. */
  body: Schema | undefined;
  /** Whether the body is required (`requestBody.required`); an optional one may be left out. */
  bodyRequired: boolean;
  /** Under /v1: carries rate-limit headers. */
  v1: boolean;
  /** The credential its security asks for: an API key (`bearerAuth`, `apiKeyHeader`), a user token, or none. */
  credential: Credential;
  /** The path's id parameter (its last one) and the kind of row it names, if any. */
  id: { name: string; kind: RowKind } | undefined;
  /** The path names an organization (`{organizationId}`) before its id: the caller's own organization goes there. */
  scoped: boolean;
  /** The kind of row a case of this operation aims at: the path's id, or what the operation spends or checks. */
  row: RowKind | undefined;
  /** Unknown query parameters are ignored (`x-eov-allow-unknown-query-parameters`), not refused. */
  ignoresUnknownQuery: boolean;
  /** A write (anything but GET): a read_only key is refused. */
  write: boolean;
  /** The permission its security requirement names for an API key (`contacts:write`), if any. */
  permission: string | undefined;
}

/** What the fuzz reads of the bundled spec. */
export interface FuzzSpec {
  operations: Operation[];
  /** Each error code's one status (`x-error-statuses`). */
  errorStatuses: Record<string, number>;
  /** The methods each spec path declares, upper case. */
  methodsByPath: Map<string, string[]>;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** generated/openapi.json, the bundled contract. */
export const SPEC_FILE = fileURLToPath(new URL('../../../generated/openapi.json', import.meta.url));

interface RawDocument {
  security?: Record<string, string[]>[];
  paths: Record<string, Record<string, unknown>>;
  components: Record<string, Record<string, unknown>> & {
    schemas: { ErrorCode: { 'x-error-statuses': Record<string, number> } };
  };
}

function resolver(doc: RawDocument) {
  const resolve = <T>(node: unknown, depth = 0): T => {
    if (depth > 32) {
      throw new Error('$ref chain too deep');
    }
    if (Array.isArray(node)) {
      return node.map((item) => resolve(item, depth + 1)) as T;
    }
    if (typeof node !== 'object' || node === null) {
      return node as T;
    }
    const ref = (node as { $ref?: unknown }).$ref;
    if (typeof ref === 'string') {
      const [, kind, name] = /^#\/components\/([^/]+)\/([^/]+)$/.exec(ref) ?? [];
      const target = kind && name ? doc.components[kind]?.[name] : undefined;
      if (target === undefined) {
        throw new Error(`unresolvable $ref ${ref}`);
      }
      return resolve(target, depth + 1);
    }
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, resolve(v, depth + 1)])) as T;
  };
  return resolve;
}

/** The row each path parameter names. */
const ID_KINDS: Record<string, RowKind> = {
  contactId: 'contact',
  keyId: 'key',
  organizationId: 'organization',
  userId: 'member',
  sessionId: 'session',
  endpointId: 'endpoint',
  deliveryId: 'delivery',
};

/**
 * Operations without an id in the path that still spend a row of their own: log-out revokes the token it is called
 * with (each case logs out a token seeded for it, never the one its organization's other cases use), log-in
 * checks an account's password and issues it a token (each case logs in to an account seeded for it), and a password
 * change or ending the other sessions acts on the caller's own account (each case calls as an account of its own).
 */
const OPERATION_ROWS: Record<string, RowKind> = {
  // An organization holds at most 20 webhook endpoints: each create calls with a key of an organization of its own.
  createWebhookEndpoint: 'hookOrganization',
  logOut: 'token',
  logIn: 'login',
  changePassword: 'account',
  endOtherSessions: 'account',
};

/** The schemes the server authenticates, by name (src/server/credentials.ts); anything else is an API key. */
function credentialOf(security: readonly Record<string, string[]>[]): Credential {
  const schemes = security.flatMap((requirement) => Object.keys(requirement));
  if (schemes.length === 0) {
    return 'none';
  }
  if (schemes.includes('githubSecretScanning')) {
    return 'scanner';
  }
  return schemes.every((scheme) => scheme === 'userToken') ? 'userToken' : 'apiKey';
}

/** Reads the operations, error statuses and path methods from the bundled spec. */
export function loadFuzzSpec(file = SPEC_FILE): FuzzSpec {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as RawDocument;
  const resolve = resolver(doc);
  const operations: Operation[] = [];
  const methodsByPath = new Map<string, string[]>();
  for (const [path, item] of Object.entries(doc.paths)) {
    const shared = resolve<Param[] | undefined>(item.parameters) ?? [];
    // The fuzz's server is no sandbox: a sandbox-only operation (x-sandbox-only) is an unknown path there.
    const declared = METHODS.filter(
      (m) => m in item && (item[m] as { 'x-sandbox-only'?: boolean })['x-sandbox-only'] !== true,
    );
    if (declared.length === 0) {
      continue;
    }
    methodsByPath.set(
      path,
      declared.map((m) => m.toUpperCase()),
    );
    for (const method of declared) {
      const op = item[method] as {
        operationId: string;
        parameters?: unknown[];
        requestBody?: unknown;
        security?: Record<string, string[]>[];
        'x-eov-allow-unknown-query-parameters'?: boolean;
        responses: Record<string, unknown>;
      };
      const params = [...shared, ...(resolve<Param[] | undefined>(op.parameters) ?? [])];
      const requestBody = resolve<
        { required?: boolean; content?: { 'application/json'?: { schema?: Schema } } } | undefined
      >(op.requestBody);
      const body = requestBody?.content?.['application/json']?.schema;
      const pathParams = params.filter((p) => p.in === 'path');
      const idParam = pathParams.at(-1);
      const idKind = idParam ? ID_KINDS[idParam.name] : undefined;
      if (idParam && !idKind) {
        throw new Error(`${method.toUpperCase()} ${path}: the fuzz knows no row for path parameter ${idParam.name}`);
      }
      const credential = credentialOf(op.security ?? doc.security ?? []);
      operations.push({
        method: method.toUpperCase(),
        path,
        operationId: op.operationId,
        statuses: Object.keys(op.responses).map(Number),
        params,
        body,
        bodyRequired: requestBody?.required === true,
        v1: path === '/v1' || path.startsWith('/v1/'),
        credential,
        id: idParam && idKind ? { name: idParam.name, kind: idKind } : undefined,
        scoped: pathParams.length > 1 && pathParams[0]?.name === 'organizationId',
        row: idKind ?? OPERATION_ROWS[op.operationId],
        ignoresUnknownQuery: op['x-eov-allow-unknown-query-parameters'] === true,
        write: method !== 'get',
        permission: (op.security ?? [])
          .flatMap((alternative) => Object.values(alternative).flat())
          .find((scope) => scope.includes(':')),
      });
    }
  }
  return { operations, errorStatuses: doc.components.schemas.ErrorCode['x-error-statuses'], methodsByPath };
}

/** The JSON types a schema allows. */
export function typesOf(schema: Schema): string[] {
  if (schema.type === undefined) {
    return ['string', 'number', 'integer', 'boolean', 'null', 'array', 'object'];
  }
  return Array.isArray(schema.type) ? schema.type : [schema.type];
}
