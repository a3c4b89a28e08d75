// Edge values derived from the spec: for every bounded field of a request body (and every bounded integer
// query parameter), the value at the bound must be accepted and echoed in a response that validates, and
// the value one past it must be refused with 422. A spec narrowed below what the server accepts (a smaller
// maxLength or maximum) then fails the run: either the echo breaks the narrowed response schema, or the
// server accepts what the narrowed spec says it must refuse.
import type { Json, SpecOperation } from './spec.ts';

/** One value at (or one past) a bound the spec sets. */
export interface EdgeValue {
  operation: SpecOperation;
  where: 'body' | 'query';
  field: string;
  value: unknown;
  /** Accepted (2xx) or refused with 422. */
  accepted: boolean;
  /** e.g. "name at maxLength 100". */
  why: string;
}

const types = (schema: Json): string[] => (Array.isArray(schema?.type) ? schema.type : [schema?.type]);

/** A valid email address of exactly `length` characters (labels ≤ 63), unique by `tag`; undefined if too short. */
export function emailOfLength(length: number, tag: string): string | undefined {
  const local = `e.${tag}`.slice(0, 64);
  let rest = length - local.length - 1 - '.com'.length;
  if (rest < 1) {
    return undefined;
  }
  const labels: string[] = [];
  while (rest > 0) {
    // A label, then a dot and at least one more character if anything is left after it.
    const size = rest <= 63 ? rest : Math.min(63, rest - 2);
    labels.push('d'.repeat(size));
    rest -= size + (rest > size ? 1 : 0);
  }
  return `${local}@${labels.join('.')}.com`;
}

/**
 * An absolute URL of exactly `length` characters, on 127.0.0.1's discard port (a target checked by a contract run
 * accepts loopback endpoints: mailroom serve --allow-private-webhooks); undefined when no URL is that short.
 */
export function urlOfLength(length: number, tag: string): string | undefined {
  const head = 'http://127.0.0.1:9/';
  if (length < head.length) {
    return undefined;
  }
  const path = `${tag.replace(/[^A-Za-z0-9._-]/g, '-')}-`.slice(0, length - head.length);
  return head + path + 'x'.repeat(length - head.length - path.length);
}

/** A string of exactly `length` characters that starts with `tag` when there is room. */
export function stringOfLength(length: number, tag: string): string {
  const head = `${tag} `.slice(0, length);
  return head + 'x'.repeat(length - head.length);
}

function stringEdges(schema: Json): Array<{ length: number; accepted: boolean; why: string }> {
  const edges: Array<{ length: number; accepted: boolean; why: string }> = [];
  if (Number.isInteger(schema.maxLength)) {
    edges.push({ length: schema.maxLength, accepted: true, why: `at maxLength ${schema.maxLength}` });
    edges.push({ length: schema.maxLength + 1, accepted: false, why: `one over maxLength ${schema.maxLength}` });
  }
  if (Number.isInteger(schema.minLength) && schema.minLength >= 1) {
    edges.push({ length: schema.minLength, accepted: true, why: `at minLength ${schema.minLength}` });
    edges.push({ length: schema.minLength - 1, accepted: false, why: `one under minLength ${schema.minLength}` });
  }
  return edges;
}

function integerEdges(schema: Json): Array<{ value: number; accepted: boolean; why: string }> {
  const edges: Array<{ value: number; accepted: boolean; why: string }> = [];
  if (typeof schema.maximum === 'number') {
    edges.push({ value: schema.maximum, accepted: true, why: `at maximum ${schema.maximum}` });
    edges.push({ value: schema.maximum + 1, accepted: false, why: `one over maximum ${schema.maximum}` });
  }
  if (typeof schema.minimum === 'number') {
    edges.push({ value: schema.minimum, accepted: true, why: `at minimum ${schema.minimum}` });
    edges.push({ value: schema.minimum - 1, accepted: false, why: `one under minimum ${schema.minimum}` });
  }
  return edges;
}

/** Only plain bounded values can be generated for any spec: no pattern, enum, const or unknown format. */
function generatable(schema: Json): boolean {
  return (
    schema &&
    typeof schema === 'object' &&
    schema.pattern === undefined &&
    schema.enum === undefined &&
    schema.const === undefined &&
    (schema.format === undefined || schema.format === 'email')
  );
}

/** Every edge value of every operation's JSON request body and integer query parameters. */
export function edgeValues(operations: SpecOperation[], tag: () => string): EdgeValue[] {
  const out: EdgeValue[] = [];
  for (const operation of operations) {
    const schema = operation.requestBody?.content?.['application/json']?.schema;
    for (const [field, property] of Object.entries<Json>(schema?.properties ?? {})) {
      if (!generatable(property)) {
        continue;
      }
      if (types(property).includes('string')) {
        for (const edge of stringEdges(property)) {
          // A URL field (an endpoint's) is checked as an absolute URL beyond its length: an accepted edge is one.
          const isUrl = field === 'url' && edge.accepted;
          const value =
            property.format === 'email'
              ? emailOfLength(edge.length, tag())
              : isUrl
                ? urlOfLength(edge.length, tag())
                : stringOfLength(edge.length, tag());
          if (value !== undefined) {
            out.push({ operation, where: 'body', field, value, accepted: edge.accepted, why: `${field} ${edge.why}` });
          }
        }
      } else if (types(property).includes('integer')) {
        for (const edge of integerEdges(property)) {
          out.push({
            operation,
            where: 'body',
            field,
            value: edge.value,
            accepted: edge.accepted,
            why: `${field} ${edge.why}`,
          });
        }
      }
    }
    for (const parameter of operation.parameters) {
      if (parameter?.in === 'query' && generatable(parameter.schema) && types(parameter.schema).includes('integer')) {
        for (const edge of integerEdges(parameter.schema)) {
          out.push({
            operation,
            where: 'query',
            field: parameter.name,
            value: edge.value,
            accepted: edge.accepted,
            why: `?${parameter.name} ${edge.why}`,
          });
        }
      }
    }
  }
  return out;
}

/** The operation's first request example, the body every edge value is set into. */
export function exampleBody(operation: SpecOperation): Json {
  const media = operation.requestBody?.content?.['application/json'];
  const first = media?.examples ? Object.values<Json>(media.examples)[0]?.value : media?.example;
  return first && typeof first === 'object' ? structuredClone(first) : {};
}
