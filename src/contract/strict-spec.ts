// The strict copy of the spec that the contract run's tools check against. The published spec keeps the
// tolerant-reader rule (clients ignore unknown fields, so the server may add some); a contract run holds the
// server to exactly what is documented. Made at run time from the bundled spec, never written to the repo:
//   - every response object schema is closed with `unevaluatedProperties: false` (JSON Schema 2020-12, so
//     it also closes `allOf` compositions, which `additionalProperties: false` cannot);
//   - every `format: date-time` in a response must end in `Z` (the spec promises UTC in words);
//   - each error response's code is pinned to the codes whose status (the ErrorCode table) is that status.
// The document is inlined (no $ref left in paths) and declares `jsonSchemaDialect` 2020-12, which is what
// makes Prism validate with Ajv's 2020 dialect.
import {
  errorCodePath,
  errorStatusTable,
  inline,
  type Json,
  listOperations,
  resolvePointer,
  type SpecOperation,
} from './spec.ts';

/** The JSON Schema dialect the strict copy declares. */
export const DIALECT_2020 = 'https://json-schema.org/draft/2020-12/schema';

/** What the strict copy changed, for the run's report. */
export interface StrictnessSummary {
  /** Object schemas closed with unevaluatedProperties: false. */
  closedObjects: number;
  /** Date-time fields that must end in Z. */
  utcTimestamps: number;
  /** Error responses whose code is pinned to their status, e.g. "409 createContact: DUPLICATE_RESOURCE". */
  pinnedErrorResponses: number;
  /** Error-code table the pins come from (code → status). */
  errorStatuses: Record<string, number>;
}

/** The strict copy and what it changed. */
export interface StrictSpec {
  doc: Json;
  operations: SpecOperation[];
  summary: StrictnessSummary;
}

const isObject = (value: unknown): value is Record<string, Json> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const SCHEMA_MAPS = ['properties', 'patternProperties', '$defs', 'dependentSchemas'];
const SCHEMA_SINGLES = ['items', 'contains', 'propertyNames', 'additionalProperties'];
const SCHEMA_LISTS = ['prefixItems'];
const COMPOSITIONS = ['allOf', 'anyOf', 'oneOf'];
const CONDITIONALS = ['if', 'then', 'else'];

/** True when the schema describes an object (itself or through a composition). */
function describesObject(schema: Json): boolean {
  if (!isObject(schema)) {
    return false;
  }
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  if (types.includes('object') || isObject(schema.properties) || Array.isArray(schema.required)) {
    return true;
  }
  return COMPOSITIONS.some((key) => Array.isArray(schema[key]) && schema[key].some(describesObject));
}

/**
 * Closes every object schema with `unevaluatedProperties: false`, except the branches of a composition: their
 * parent closes them together (a closed `allOf` branch would refuse the other branches' properties).
 */
export function closeObjects(schema: Json, counter = { closed: 0 }, isBranch = false): Json {
  if (!isObject(schema)) {
    return schema;
  }
  const out: Record<string, Json> = { ...schema };
  for (const key of SCHEMA_MAPS) {
    if (isObject(out[key])) {
      out[key] = Object.fromEntries(
        Object.entries<Json>(out[key]).map(([name, sub]) => [name, closeObjects(sub, counter)]),
      );
    }
  }
  for (const key of SCHEMA_SINGLES) {
    if (isObject(out[key])) {
      out[key] = closeObjects(out[key], counter);
    }
  }
  for (const key of SCHEMA_LISTS) {
    if (Array.isArray(out[key])) {
      out[key] = out[key].map((sub: Json) => closeObjects(sub, counter));
    }
  }
  for (const key of [...COMPOSITIONS, ...CONDITIONALS]) {
    if (Array.isArray(out[key])) {
      out[key] = out[key].map((sub: Json) => closeObjects(sub, counter, true));
    } else if (isObject(out[key])) {
      out[key] = closeObjects(out[key], counter, true);
    }
  }
  if (
    !isBranch &&
    describesObject(out) &&
    out.additionalProperties === undefined &&
    out.unevaluatedProperties === undefined
  ) {
    out.unevaluatedProperties = false;
    counter.closed += 1;
  }
  return out;
}

/** Requires every `format: date-time` string to end in `Z` (UTC), as the spec says in words. */
export function requireUtc(schema: Json, counter = { utc: 0 }): Json {
  if (Array.isArray(schema)) {
    return schema.map((sub) => requireUtc(sub, counter));
  }
  if (!isObject(schema)) {
    return schema;
  }
  const out: Record<string, Json> = Object.fromEntries(
    Object.entries<Json>(schema).map(([key, value]) => [
      key,
      key === 'examples' || key === 'example' || key === 'const' || key === 'enum' || key === 'default'
        ? value
        : requireUtc(value, counter),
    ]),
  );
  if (out.format === 'date-time') {
    counter.utc += 1;
    if (out.pattern === undefined) {
      out.pattern = 'Z$';
    } else {
      out.allOf = [...(out.allOf ?? []), { pattern: 'Z$' }];
    }
  }
  return out;
}

/** The codes a response status may carry: exact status, or a `4XX`-style range. */
function codesForStatus(table: Map<string, number>, statusKey: string): string[] | undefined {
  if (/^[1-5]\d\d$/.test(statusKey)) {
    return [...table].filter(([, status]) => String(status) === statusKey).map(([code]) => code);
  }
  if (/^[1-5]XX$/i.test(statusKey)) {
    return [...table].filter(([, status]) => String(status)[0] === statusKey[0]).map(([code]) => code);
  }
  return undefined; // `default`: any code
}

/** `{ properties: { error: { properties: { code: <pin> } } } }` for the path ['error', 'code']. */
function pinAt(path: string[], codes: string[]): Json {
  // No code has this status: nothing may be sent there (`not: {}` names the place; `false` would not).
  let node: Json = codes.length > 0 ? { enum: codes } : { not: {}, description: 'no error code has this status' };
  for (const name of [...path].reverse()) {
    node = { properties: { [name]: node } };
  }
  return node;
}

/** Builds the strict copy of `source` (which is not modified). */
export function buildStrictSpec(source: Json): StrictSpec {
  const table = errorStatusTable(source);
  const counters = { closed: 0, utc: 0 };
  let pinned = 0;
  const doc: Json = structuredClone(source);
  doc.jsonSchemaDialect = DIALECT_2020;
  for (const [path, rawItem] of Object.entries<Json>(source.paths ?? {})) {
    const item = isObject(rawItem) && typeof rawItem.$ref === 'string' ? resolvePointer(source, rawItem.$ref) : rawItem;
    const strictItem = inline(source, rawItem);
    for (const [method, rawOp] of Object.entries<Json>(item ?? {})) {
      if (!isObject(rawOp) || !isObject(rawOp.responses)) {
        continue;
      }
      for (const [statusKey, rawResponse] of Object.entries<Json>(rawOp.responses)) {
        const response = strictItem[method].responses[statusKey];
        const rawContent =
          isObject(rawResponse) && typeof rawResponse.$ref === 'string'
            ? resolvePointer(source, rawResponse.$ref).content
            : rawResponse?.content;
        for (const [mediaType, media] of Object.entries<Json>(response?.content ?? {})) {
          if (!isObject(media?.schema)) {
            continue;
          }
          let schema = requireUtc(closeObjects(media.schema, counters), counters);
          const codes = table.size > 0 ? codesForStatus(table, statusKey) : undefined;
          const codePath =
            codes && /^[45]/.test(statusKey) ? errorCodePath(source, rawContent?.[mediaType]?.schema) : undefined;
          if (codes && codePath && codePath.length > 0) {
            schema = { allOf: [schema, pinAt(codePath, codes)] };
            pinned += 1;
          }
          media.schema = schema;
        }
      }
    }
    doc.paths[path] = strictItem;
  }
  return {
    doc,
    operations: listOperations(doc),
    summary: {
      closedObjects: counters.closed,
      utcTimestamps: counters.utc,
      pinnedErrorResponses: pinned,
      errorStatuses: Object.fromEntries(table),
    },
  };
}
