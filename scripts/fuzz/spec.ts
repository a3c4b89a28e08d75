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
  /** Under /v1: needs a key, carries rate-limit headers. */
  v1: boolean;
  /** The path's id parameter and the kind of row it names, if any. */
  id: { name: string; kind: 'contact' | 'key' } | undefined;
  /** A write (anything but GET): a read_only key is refused. */
  write: boolean;
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
export const SPEC_FILE = fileURLToPath(new URL('../../generated/openapi.json', import.meta.url));

interface RawDocument {
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

/** Reads the operations, error statuses and path methods from the bundled spec. */
export function loadFuzzSpec(file = SPEC_FILE): FuzzSpec {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as RawDocument;
  const resolve = resolver(doc);
  const operations: Operation[] = [];
  const methodsByPath = new Map<string, string[]>();
  for (const [path, item] of Object.entries(doc.paths)) {
    const shared = resolve<Param[] | undefined>(item.parameters) ?? [];
    const declared = METHODS.filter((m) => m in item);
    methodsByPath.set(
      path,
      declared.map((m) => m.toUpperCase()),
    );
    for (const method of declared) {
      const op = item[method] as {
        operationId: string;
        parameters?: unknown[];
        requestBody?: unknown;
        responses: Record<string, unknown>;
      };
      const params = [...shared, ...(resolve<Param[] | undefined>(op.parameters) ?? [])];
      const body = resolve<{ content?: { 'application/json'?: { schema?: Schema } } } | undefined>(op.requestBody)
        ?.content?.['application/json']?.schema;
      const idParam = params.find((p) => p.in === 'path');
      operations.push({
        method: method.toUpperCase(),
        path,
        operationId: op.operationId,
        statuses: Object.keys(op.responses).map(Number),
        params,
        body,
        v1: path === '/v1' || path.startsWith('/v1/'),
        id: idParam ? { name: idParam.name, kind: idParam.name === 'contactId' ? 'contact' : 'key' } : undefined,
        write: method !== 'get',
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
