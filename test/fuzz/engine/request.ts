import type { RawChunk } from '../../helpers/raw-http.ts';
import type { Rng } from './random.ts';
import type { FuzzSpec, Operation, Schema } from './spec.ts';
import { typesOf } from './spec.ts';

/** A well-formed request that a class edits before it is rendered as HTTP/1.1. */
export interface Request {
  method: string;
  target: string;
  headers: [string, string][];
  body: Buffer | undefined;
}

/** Credentials a case can use. */
export interface CaseKeys {
  /** A full-access key of the case's organization. */
  full: string;
  /** A read_only key of the same organization. */
  readOnly: string;
  /** A key of the same organization holding only `contacts:read`. */
  contactsReader: string;
  revoked: string;
  expired: string;
  /** Well-formed, with a valid checksum, never issued. */
  unknown: string;
  /** The user token of the organization's owner (what its user-token operations are called with). */
  userToken: string;
  /** A user token that was logged out. */
  loggedOut: string;
}

/** Everything a class needs to build one case. */
export interface CaseContext {
  op: Operation;
  spec: FuzzSpec;
  rng: Rng;
  /** Unique in the run and safe anywhere (URL, header, JSON, email local part): `fz-<seed>-<n>`. */
  marker: string;
  keys: CaseKeys;
  /** The id put in the path: the case's own row, another organization's, or a made-up one. */
  pathId: string;
  host: string;
  /** The valid request for the operation, with `pathId` and a body carrying `marker`. */
  valid(): Request;
}

/** Renders a request as HTTP/1.1 bytes; a body gets a Content-Length unless a framing header is already there. */
export function render(req: Request): Buffer {
  const headers = [...req.headers];
  const framed = headers.some(([name]) => /^(content-length|transfer-encoding)$/i.test(name));
  if (req.body !== undefined && !framed) {
    headers.push(['Content-Length', String(req.body.length)]);
  }
  const head = `${req.method} ${req.target} HTTP/1.1\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), req.body ?? Buffer.alloc(0)]);
}

/** The bytes of a request, or the chunks a class built by hand. */
export function chunksOf(built: Request | RawChunk[]): RawChunk[] {
  return Array.isArray(built) ? built : [render(built)];
}

/** Whether a header carries credentials (a key, a token, or a secret scanner's signature). */
export const isAuth = (name: string) =>
  /^(authorization|x-api-key|github-public-key-(identifier|signature))$/i.test(name);

/** A copy with header `name` set to `value` (replacing any), or removed when `value` is undefined. */
export function header(req: Request, name: string, value: string | undefined): Request {
  const headers = req.headers.filter(([n]) => n.toLowerCase() !== name.toLowerCase());
  return { ...req, headers: value === undefined ? headers : [...headers, [name, value]] };
}

/** A copy with one more header line, keeping any of the same name. */
export function extraHeader(req: Request, name: string, value: string): Request {
  return { ...req, headers: [...req.headers, [name, value]] };
}

/** A copy without credentials, or with `credentials` (header lines) instead. */
export function credentials(req: Request, ...lines: [string, string][]): Request {
  return { ...req, headers: [...req.headers.filter(([n]) => !isAuth(n)), ...lines] };
}

/** A copy with another body (bytes or text) and, when given, Content-Type. */
export function body(req: Request, content: Buffer | string, contentType = 'application/json'): Request {
  const withType = header(req, 'Content-Type', contentType);
  return { ...withType, body: typeof content === 'string' ? Buffer.from(content, 'utf8') : content };
}

/** A copy whose JSON body has `field` set to `value` (or removed when `value` is `REMOVE`). */
export function field(req: Request, name: string, value: unknown): Request {
  const current = JSON.parse(req.body?.toString('utf8') ?? '{}') as Record<string, unknown>;
  if (value === REMOVE) {
    delete current[name];
  } else {
    current[name] = value;
  }
  return body(req, JSON.stringify(current));
}

/** Marker for {@link field}: remove the field. */
export const REMOVE = Symbol('remove');

/** A copy with the query string `query` (already encoded). */
export function query(req: Request, text: string): Request {
  const [path] = req.target.split('?');
  return { ...req, target: `${path}?${text}` };
}

/**
 * The request line and headers as text, for hand-made framing: `extra` is added verbatim, and a request with a body
 * gets its Content-Length unless a framing header is already among the headers or in `extra`.
 */
export function headText(req: Request, extra = ''): string {
  const framed =
    /^(content-length|transfer-encoding)\s*:/im.test(extra) ||
    req.headers.some(([n]) => /^(content-length|transfer-encoding)$/i.test(n));
  const length = req.body !== undefined && !framed ? `Content-Length: ${req.body.length}\r\n` : '';
  return `${req.method} ${req.target} HTTP/1.1\r\n${req.headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}${length}${extra}\r\n`;
}

/** The body of a request as latin-1 text (its bytes unchanged when sent as latin-1), empty when it has none. */
export function bodyBytes(req: Request): string {
  return req.body?.toString('latin1') ?? '';
}

/** The request with `chunkText` as its chunked body, as bytes (declared JSON only where the operation takes JSON). */
export function chunked(req: Request, chunkText: string): Buffer {
  const head = headText(header(req, 'Transfer-Encoding', 'chunked'));
  return Buffer.from(head + chunkText, 'latin1');
}

/** The body of the valid request as text (`{}` when the operation takes none). */
export function bodyText(req: Request): string {
  return req.body?.toString('utf8') ?? '{}';
}

/** A valid value for a schema; strings carry `marker` so created rows can be traced to their case. */
export function validValue(schema: Schema, marker: string): unknown {
  if (schema.format === 'email') {
    return `${marker}@example.com`;
  }
  if (schema.enum && schema.enum.length > 0) {
    return schema.enum[0];
  }
  const types = typesOf(schema);
  if (types.includes('string')) {
    return marker.slice(0, schema.maxLength ?? marker.length).padEnd(schema.minLength ?? 0, 'x');
  }
  if (types.includes('integer') || types.includes('number')) {
    return schema.examples?.[0] ?? schema.minimum ?? 1;
  }
  if (types.includes('boolean')) {
    return true;
  }
  return null;
}

/** A valid JSON body for an object schema: its required fields, then optional ones up to `minProperties` (at least one). */
export function validBody(schema: Schema, marker: string): Record<string, unknown> | unknown[] {
  if (typesOf(schema).includes('array') && schema.items) {
    // A list body (a secret-scanning report): one valid item.
    return [validBody(schema.items, marker)];
  }
  const result: Record<string, unknown> = {};
  const properties = schema.properties ?? {};
  for (const name of schema.required ?? []) {
    result[name] = validValue(properties[name] ?? {}, marker);
  }
  // Optional fields without a format first: a second email would have to be unique too.
  const optional = Object.entries(properties)
    .filter(([name]) => !(name in result))
    .sort(([, a], [, b]) => Number(a.format !== undefined) - Number(b.format !== undefined));
  // At least one field: an optional body sent as `{}` would leave the classes that edit its fields nothing to edit.
  for (const [name, property] of optional) {
    if (Object.keys(result).length >= Math.max(schema.minProperties ?? 0, 1)) {
      break;
    }
    result[name] = validValue(property, marker);
  }
  return result;
}
