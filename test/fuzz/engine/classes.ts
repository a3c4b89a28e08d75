import { gzipSync } from 'node:zlib';
import type { RawChunk } from '../../helpers/raw-http.ts';
import {
  body,
  bodyBytes,
  bodyText,
  type CaseContext,
  chunked,
  credentials,
  extraHeader,
  field,
  header,
  headText,
  isAuth,
  query,
  REMOVE,
  type Request,
  render,
  validValue,
} from './request.ts';
import { type FuzzSpec, type Operation, type Schema, typesOf } from './spec.ts';

// The classes of hostile input, one line each, in tables by group. A class says which operations it applies to, what
// the contract requires of the answer, and how to build the request from the operation's valid one. Schema classes
// are derived from the spec: every keyword of every parameter and body field, violated (and met at its bounds).
//
// Expectations: a status number (exactly that), 'refuse' (any 4xx), 'accept' (any 2xx) or 'any' (only the checks
// every answer must pass). Rows: every case on a path with an id gets a row of its own, seeded for it (or another
// organization's, for 'foreign'), so the run can tell afterwards whether a refused request changed anything.

/** What the answer must be. */
export type Expectation = number | 'accept' | 'refuse' | 'any';

/** The groups of classes, in report order. */
export const GROUPS = [
  'control',
  'auth',
  'header',
  'framing',
  'slow',
  'method',
  'encoding',
  'schema',
  'password',
  'query',
  'id',
  'webhook',
] as const;
/** One of {@link GROUPS}. */
export type Group = (typeof GROUPS)[number];

/** A class of input. */
export interface FuzzClass {
  group: Group;
  name: string;
  /** The operations it applies to (default: all). */
  applies: (op: Operation, spec: FuzzSpec) => boolean;
  expect: (op: Operation, spec: FuzzSpec) => Expectation;
  build: (ctx: CaseContext) => Request | RawChunk[];
  /** Whose row the path's id names: the case's own organization's (default) or another's; 'none' for made-up ids. */
  row: 'own' | 'foreign' | 'none';
  /** Waits for one of the server's time limits. */
  slow: boolean;
  /** A HEAD request (its answer has no body). */
  head: boolean;
}

interface ClassOptions {
  applies?: (op: Operation, spec: FuzzSpec) => boolean;
  row?: 'own' | 'foreign' | 'none';
  slow?: boolean;
  head?: boolean;
}

/** One class: group, name, expectation, builder, options. */
function c(
  group: Group,
  name: string,
  expect: Expectation | ((op: Operation, spec: FuzzSpec) => Expectation),
  build: (ctx: CaseContext) => Request | RawChunk[],
  options: ClassOptions = {},
): FuzzClass {
  return {
    group,
    name,
    applies: options.applies ?? (() => true),
    expect: typeof expect === 'function' ? expect : () => expect,
    build,
    row: options.row ?? 'own',
    slow: options.slow ?? false,
    head: options.head ?? false,
  };
}

// Which operations.
const v1 = { applies: (op: Operation) => op.v1 };
const keyed = { applies: (op: Operation) => op.credential === 'apiKey' };
const userTokens = { applies: (op: Operation) => op.credential === 'userToken' };
const secured = { applies: (op: Operation) => op.credential !== 'none' };
const writes = { applies: (op: Operation) => op.credential === 'apiKey' && op.write };
/**
 * Operations whose body classes apply: a secret-scanning report is a list, signed over its bytes as GitHub sends it
 * (no gzip, no object to add a member to); its own classes are in the `webhook` group.
 */
const withBody = { applies: (op: Operation) => op.body !== undefined && op.credential !== 'scanner' };
/** The operations that save a webhook URL (create, update). */
const savesUrl = { applies: (op: Operation) => op.body?.properties?.url !== undefined };
/** GitHub's secret-scanning report. */
const reports = { applies: (op: Operation) => op.credential === 'scanner' };
/** The API-key operations that need a permission other than `held`. */
const lacking = (held: string) => ({
  applies: (op: Operation) => op.credential === 'apiKey' && op.permission !== undefined && op.permission !== held,
});
/** The operations that create a key (they take `permissions`, `access` and `environment`). */
const keyCreates = { applies: (op: Operation) => op.body?.properties?.permissions !== undefined };
const withId = { applies: (op: Operation) => op.id !== undefined };
const gets = { applies: (op: Operation) => op.method === 'GET' };
const cursors = { applies: (op: Operation) => op.params.some((p) => p.name === 'cursor') };
/** The operations that take a query parameter `name` (the usage reads' from, to, granularity, groupBy, limit, status). */
const takes = (name: string) => ({
  applies: (op: Operation) => op.params.some((p) => p.name === name && p.in === 'query'),
});
const choosesPassword = { applies: (op: Operation) => ['signUp', 'changePassword'].includes(op.operationId) };
const changesPassword = { applies: (op: Operation) => op.operationId === 'changePassword' };
const withSessionId = { applies: (op: Operation) => op.id?.kind === 'session', row: 'none' as const };
const not = (name: string) => (op: Operation, spec: FuzzSpec) => !spec.methodsByPath.get(op.path)?.includes(name);

// Small helpers for the tables.
const raw = (text: string): RawChunk[] => [Buffer.from(text, 'latin1')];
const v = (x: CaseContext) => x.valid();
const flipLast = (key: string) => `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
const withHead = (x: CaseContext, lines: string) => raw(headText(v(x), lines) + bodyBytes(v(x)));
const bodyOf = (x: CaseContext) => Buffer.from(bodyText(v(x)), 'utf8');
const inPieces = (text: string, size: number, pauseMs: number): RawChunk[] =>
  Array.from({ length: Math.ceil(text.length / size) }, (_, i): RawChunk[] => [
    text.slice(i * size, (i + 1) * size),
    { pauseMs },
  ]).flat();
const deep = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
/**
 * The body field a text class aims at: the first string without a format that the server stores. A password is
 * hashed, never stored, so any text is a valid password (and a wrong one on log-in or as a current password).
 */
const textField = (op: Operation): string | undefined =>
  Object.entries(op.body?.properties ?? {}).find(
    ([name, p]) => typesOf(p).includes('string') && p.format === undefined && !/password$/i.test(name),
  )?.[0];
/** The field a password-choosing operation takes its new password in. */
const newPasswordField = (op: Operation) => (op.operationId === 'changePassword' ? 'newPassword' : 'password');
/** The valid body with the new password set to `password` (or to what `password` makes of the valid body). */
const choosing = (x: CaseContext, password: string | ((valid: Record<string, unknown>) => unknown)): Request => {
  const valid = v(x);
  const fields = JSON.parse(bodyText(valid)) as Record<string, unknown>;
  return field(valid, newPasswordField(x.op), typeof password === 'string' ? password : password(fields));
};
const COMMON_PASSWORDS = ['basketball', 'PASSWORD123', '1q2w3e4r5t', 'qwertyuiop', 'Iloveyou123', 'football123'];

/** The valid body with its text field (else a field `name`) set to raw JSON text. */
const rawField = (x: CaseContext, jsonText: string): Request => {
  const valid = v(x);
  const name = textField(x.op) ?? 'name';
  const fields = { ...(JSON.parse(bodyText(valid)) as Record<string, unknown>), [name]: '\u0001raw\u0001' };
  return body(valid, Buffer.from(JSON.stringify(fields).replace('"\\u0001raw\\u0001"', jsonText), 'latin1'));
};
/** The valid body's JSON text with one more member (`"name":value`) before its closing brace. */
const withMember = (x: CaseContext, member: string): string => {
  const text = bodyText(v(x));
  return text === '{}' ? `{${member}}` : `${text.slice(0, -1)},${member}}`;
};
/** A CL.TE smuggling attempt: a chunked body that ends early, followed by a DELETE of the case's own row. */
const smuggle = (x: CaseContext, framing: string): RawChunk[] => {
  const auth = v(x)
    .headers.filter(([name]) => isAuth(name))
    .map(([name, value]) => `${name}: ${value}\r\n`);
  const hidden = `DELETE ${v(x).target} HTTP/1.1\r\nHost: ${x.host}\r\n${auth.join('')}\r\n`;
  const payload = `0\r\n\r\n${hidden}`;
  return raw(headText(v(x), `${framing.replace('{n}', String(payload.length))}`) + payload);
};

/** What an unknown query parameter gets: 422, unless the operation ignores them (`x-eov-allow-unknown-query-parameters`). */
const unknownQuery = (op: Operation): Expectation => (op.ignoresUnknownQuery ? 'accept' : 422);

/** Classes that don't depend on a particular schema. */
// biome-ignore format: one line per class, so adding one is one line
export const FIXED_CLASSES: FuzzClass[] = [
  c('control', 'the valid request', 'accept', v),

  c('auth', 'no credentials', 401, (x) => credentials(v(x)), secured),
  c('auth', 'a malformed key', 401, (x) => credentials(v(x), ['X-API-Key', 'not-a-key']), keyed),
  c('auth', 'a key with a wrong checksum', 401, (x) => credentials(v(x), ['X-API-Key', flipLast(x.keys.full)]), keyed),
  c('auth', 'a well-formed key never issued', 401, (x) => credentials(v(x), ['X-API-Key', x.keys.unknown]), keyed),
  c('auth', 'a revoked key', 401, (x) => credentials(v(x), ['Authorization', `Bearer ${x.keys.revoked}`]), keyed),
  c('auth', 'an expired key', 401, (x) => credentials(v(x), ['X-API-Key', x.keys.expired]), keyed),
  c('auth', 'two headers, different keys', 401, (x) => credentials(v(x), ['X-API-Key', x.keys.full], ['Authorization', `Bearer ${x.keys.unknown}`]), keyed),
  c('auth', 'Basic instead of Bearer', 401, (x) => credentials(v(x), ['Authorization', `Basic ${Buffer.from(`${x.keys.full}:`).toString('base64')}`]), keyed),
  c('auth', 'an empty Bearer', 401, (x) => credentials(v(x), ['Authorization', 'Bearer ']), keyed),
  c('auth', 'a 10 KB key', 401, (x) => credentials(v(x), ['X-API-Key', `mr_${'a'.repeat(10_000)}`]), keyed),
  c('auth', 'SQL in the key', 401, (x) => credentials(v(x), ['X-API-Key', "mr_' OR '1'='1_x"]), keyed),
  c('auth', 'the key in the query string instead', 401, (x) => query(credentials(v(x)), `api_key=${x.keys.full}`), keyed),
  c('auth', 'a read_only key writing', 403, (x) => credentials(v(x), ['X-API-Key', x.keys.readOnly]), writes),
  c('auth', 'a key without the operation’s permission', 403, (x) => credentials(v(x), ['X-API-Key', x.keys.contactsReader]), lacking('contacts:read')),
  c('auth', 'a user token instead of an API key', 401, (x) => credentials(v(x), ['Authorization', `Bearer ${x.keys.userToken}`]), keyed),
  c('auth', 'an API key instead of a user token', 401, (x) => credentials(v(x), ['Authorization', `Bearer ${x.keys.full}`]), userTokens),
  c('auth', 'a logged-out user token', 401, (x) => credentials(v(x), ['Authorization', `Bearer ${x.keys.loggedOut}`]), userTokens),
  c('auth', 'a lowercase bearer scheme', 'any', (x) => credentials(v(x), ['Authorization', `bearer ${x.keys.full}`]), keyed),

  c('header', 'headers over 16 KiB', 431, (x) => header(v(x), 'X-Padding', 'p'.repeat(17 * 1024))),
  c('header', 'a URL over 16 KiB', 431, (x) => query(v(x), `pad=${'p'.repeat(17 * 1024)}`)),
  c('header', '90 more headers (under 100 in all)', 'accept', (x) => ({ ...v(x), headers: [...v(x).headers, ...Array.from({ length: 90 }, (_, i): [string, string] => [`x-${i}`, '1'])] })),
  c('header', '1,500 small headers', 431, (x) => ({ ...v(x), headers: [...v(x).headers, ...Array.from({ length: 1500 }, (_, i): [string, string] => [`x-${i}`, '1'])] })),
  c('header', 'an X-Request-Id over 128 characters', 'accept', (x) => header(v(x), 'X-Request-Id', 'r'.repeat(300))),
  c('header', 'an X-Request-Id with quotes and spaces', 'accept', (x) => header(v(x), 'X-Request-Id', '"a b" <c>;d')),
  c('header', 'an X-Request-Id of latin-1 bytes', 'accept', (x) => header(v(x), 'X-Request-Id', '\u00e9\u00ff\u0080')),
  c('header', 'two X-Request-Ids', 'accept', (x) => extraHeader(v(x), 'X-Request-Id', 'second')),
  c('header', 'bytes over 0x7F in a header value', 'accept', (x) => header(v(x), 'X-Note', '\u00a0\u00ff')),
  c('header', 'Accept: text/html', 'accept', (x) => header(v(x), 'Accept', 'text/html')),
  c('header', 'X-Forwarded-For garbage', 'accept', (x) => header(v(x), 'X-Forwarded-For', 'not-an-ip, ::zz, 999.1.1.1')),
  c('header', 'Expect: foo (ignored)', 'accept', (x) => header(v(x), 'Expect', 'foo')),
  c('header', 'Expect: 100-continue', 'accept', (x) => header(v(x), 'Expect', '100-continue')),
  c('header', 'Upgrade: websocket', 'accept', (x) => header(header(v(x), 'Upgrade', 'websocket'), 'Connection', 'Upgrade')),
  c('header', 'Upgrade: h2c', 'accept', (x) => header(header(v(x), 'Upgrade', 'h2c'), 'Connection', 'Upgrade, HTTP2-Settings')),
  c('header', 'Range: bytes=0-1', 'accept', (x) => header(v(x), 'Range', 'bytes=0-1')),
  c('header', 'an 8 KB cookie', 'accept', (x) => header(v(x), 'Cookie', `c=${'k'.repeat(8 * 1024)}`)),
  c('header', 'an empty Host', 'accept', (x) => header(v(x), 'Host', '')),
  c('header', 'two Host headers', 400, (x) => extraHeader(v(x), 'Host', 'evil.example')),
  c('header', 'a Host that is not host:port', 400, (x) => header(v(x), 'Host', 'a b/c')),
  c('header', 'no Host', 400, (x) => header(v(x), 'Host', undefined)),
  c('header', 'Content-Type: text/plain', 415, (x) => header(v(x), 'Content-Type', 'text/plain'), withBody),
  c('header', 'JSON declared as UTF-16', 'refuse', (x) => header(v(x), 'Content-Type', 'application/json; charset=utf-16'), withBody),
  c('header', 'JSON declared as latin-1', 415, (x) => header(v(x), 'Content-Type', 'application/json; charset=latin1'), withBody),
  c('header', 'a body without Content-Type', 'refuse', (x) => header(v(x), 'Content-Type', undefined), withBody),
  c('header', 'Content-Type: multipart/form-data', 415, (x) => header(v(x), 'Content-Type', 'multipart/form-data; boundary=x'), withBody),
  c('header', 'Content-Encoding: gzip on a plain body', 'refuse', (x) => header(v(x), 'Content-Encoding', 'gzip'), withBody),
  c('header', 'Content-Encoding: br', 'refuse', (x) => header(v(x), 'Content-Encoding', 'br'), withBody),
  c('header', 'Content-Encoding: identity', 'accept', (x) => header(v(x), 'Content-Encoding', 'identity'), withBody),
  c('header', 'a JSON body on a GET', 'any', (x) => body(v(x), '{"a":1}'), gets),
  c('header', 'Content-Length: 0 on a GET', 'accept', (x) => header(v(x), 'Content-Length', '0'), gets),

  c('framing', 'a NUL in a header value', 400, (x) => withHead(x, 'X-Note: a\u0000b\r\n')),
  c('framing', 'a CR in a header value', 400, (x) => withHead(x, 'X-Note: a\rb\r\n')),
  c('framing', 'an obs-folded header', 400, (x) => withHead(x, 'X-Note: a\r\n folded\r\n')),
  c('framing', 'a space before the colon', 400, (x) => withHead(x, 'X-Note : a\r\n')),
  c('framing', 'a header line without a colon', 400, (x) => withHead(x, 'X-Note\r\n')),
  c('framing', 'a non-ASCII header name', 400, (x) => withHead(x, 'X-N\u00f6te: a\r\n')),
  c('framing', 'bare LF line endings', 'any', (x) => raw(headText(v(x)).replaceAll('\r\n', '\n') + bodyBytes(v(x)))),
  c('framing', 'a Content-Length that is not a number', 400, (x) => raw(headText(header(v(x), 'Content-Length', 'abc')) + bodyText(v(x)))),
  c('framing', 'a negative Content-Length', 400, (x) => raw(headText(header(v(x), 'Content-Length', '-1')) + bodyText(v(x)))),
  c('framing', 'a Content-Length with a plus sign', 400, (x) => raw(headText(header(v(x), 'Content-Length', `+${bodyOf(x).length}`)) + bodyText(v(x)))),
  c('framing', 'a 20-digit Content-Length', 400, (x) => raw(headText(header(v(x), 'Content-Length', '9'.repeat(20))) + bodyText(v(x)))),
  c('framing', 'two different Content-Lengths', 400, (x) => raw(headText(v(x), `Content-Length: ${bodyOf(x).length}\r\nContent-Length: ${bodyOf(x).length + 1}\r\n`) + bodyText(v(x)))),
  c('framing', 'two equal Content-Lengths', 400, (x) => raw(headText(v(x), `Content-Length: ${bodyOf(x).length}\r\nContent-Length: ${bodyOf(x).length}\r\n`) + bodyText(v(x)))),
  c('framing', 'CL.TE: a DELETE smuggled after a short chunked body', 400, (x) => smuggle(x, 'Content-Length: {n}\r\nTransfer-Encoding: chunked\r\n')),
  c('framing', 'TE.TE: chunked then an unknown coding, with a smuggled DELETE', 400, (x) => smuggle(x, 'Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n')),
  c('framing', 'Transfer-Encoding: xchunked', 400, (x) => raw(headText(v(x), 'Transfer-Encoding: xchunked\r\n') + bodyText(v(x)))),
  c('framing', 'Transfer-Encoding: identity', 400, (x) => raw(headText(v(x), 'Transfer-Encoding: identity\r\n') + bodyText(v(x)))),
  c('framing', 'Transfer-Encoding: chunked, identity', 400, (x) => raw(headText(v(x), 'Transfer-Encoding: chunked, identity\r\n') + bodyText(v(x)))),
  c('framing', 'a chunk size that is not hex', 400, (x) => [chunked(v(x), `zz\r\n${bodyText(v(x))}\r\n0\r\n\r\n`)]),
  c('framing', 'a chunk size that is not hex, without Content-Type', 400, (x) => [chunked(header(v(x), 'Content-Type', undefined), `zz\r\n${bodyText(v(x))}\r\n0\r\n\r\n`)], withBody),
  c('framing', 'a chunk size that overflows', 400, (x) => [chunked(v(x), `${'f'.repeat(20)}\r\n${bodyText(v(x))}\r\n0\r\n\r\n`)]),
  c('framing', 'chunk extensions over 16 KiB', 400, (x) => [chunked(v(x), `${bodyOf(x).length.toString(16)};${'e'.repeat(17 * 1024)}\r\n${bodyText(v(x))}\r\n0\r\n\r\n`)]),
  c('framing', 'chunk data longer than its size', 400, (x) => [chunked(v(x), `1\r\n${bodyText(v(x))}\r\n0\r\n\r\n`)]),
  c('framing', 'a valid chunked body', 'accept', (x) => [chunked(v(x), `${bodyOf(x).length.toString(16)}\r\n${bodyText(v(x))}\r\n0\r\n\r\n`)], withBody),
  c('framing', 'a chunked body with extensions and trailers', 'accept', (x) => [chunked(v(x), `${bodyOf(x).length.toString(16)};a=b\r\n${bodyText(v(x))}\r\n0\r\nX-Trailer: t\r\n\r\n`)], withBody),
  c('framing', 'an unknown method FOO', 400, (x) => raw(headText({ ...v(x), method: 'FOO' }))),
  c('framing', 'a lowercase method', 400, (x) => raw(headText({ ...v(x), method: v(x).method.toLowerCase() }))),
  c('framing', 'HTTP/9.9', 400, (x) => raw(headText(v(x)).replace(' HTTP/1.1\r\n', ' HTTP/9.9\r\n'))),
  c('framing', 'HTTP/0.9 (no version)', 'refuse', (x) => raw(`GET ${v(x).target}\r\n\r\n`)),
  c('framing', 'a path with backslashes', 400, (x) => raw(headText({ ...v(x), target: v(x).target.replaceAll('/', '\\') }))),
  c('framing', 'a space in the target', 400, (x) => raw(headText({ ...v(x), target: `${v(x).target} x` }))),
  c('framing', 'two spaces after the method', 'any', (x) => raw(headText(v(x)).replace(' ', '  ') + bodyBytes(v(x)))),
  c('framing', 'the absolute-form target', 'accept', (x) => ({ ...v(x), target: `http://${x.host}${v(x).target}` })),
  c('framing', 'empty lines before the request line', 'accept', (x) => [Buffer.concat([Buffer.from('\r\n\r\n'), render(v(x))])]),
  c('framing', 'a TLS ClientHello', 400, () => [Buffer.from('1603010200010001fc0303', 'hex')]),
  c('framing', 'the HTTP/2 preface', 400, () => raw('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')),
  c('framing', 'random bytes', 'refuse', (x) => [Buffer.from(Array.from({ length: 64 }, () => x.rng.int(0, 255)))], { row: 'none' }),
  c('framing', 'two requests pipelined', 'accept', (x) => [Buffer.concat([render(header(v(x), 'Connection', 'keep-alive')), Buffer.from(`GET /livez HTTP/1.1\r\nHost: ${x.host}\r\nConnection: close\r\n\r\n`)])]),
  c('framing', 'a Content-Length shorter than the body', 'any', (x) => raw(headText(header(v(x), 'Content-Length', '1')) + bodyText(v(x)))),

  c('slow', 'headers that never finish', 400, (x) => [Buffer.from(headText(v(x)).slice(0, -4)), { pauseMs: 60_000 }], { slow: true }),
  c('slow', 'headers sent a few bytes at a time', 400, (x) => inPieces(headText(v(x)), 8, 250), { slow: true }),
  c('slow', 'a body shorter than its Content-Length', 400, (x) => [Buffer.from(`${headText(header(v(x), 'Content-Length', '50'))}{"`), { pauseMs: 60_000 }], { slow: true }),
  c('slow', 'a chunked body that never ends', 400, (x) => [chunked(v(x), `2\r\n{}\r\n`), { pauseMs: 60_000 }], { slow: true }),

  ...['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND', 'SEARCH', 'PURGE'].map((method) =>
    c('method', `${method} where the path has none`, 405, (x) => ({ ...v(x), method }), { applies: not(method) }),
  ),
  c('method', 'HEAD on a GET route', 200, (x) => ({ ...v(x), method: 'HEAD' }), { ...gets, head: true }),
  c('method', 'CONNECT to the path', 405, (x) => raw(headText({ ...v(x), method: 'CONNECT', body: undefined }))),

  c('encoding', 'invalid UTF-8 inside a string', 'refuse', (x) => rawField(x, '"\u00ff\u00fe"'), withBody),
  c('encoding', 'a lone surrogate escape', 'refuse', (x) => rawField(x, '"a\\ud800b"'), withBody),
  c('encoding', 'an overlong UTF-8 sequence', 'refuse', (x) => rawField(x, '"\u00c0\u00af"'), withBody),
  c('encoding', 'a NUL escape in a string', 422, (x) => rawField(x, '"a\\u0000b"'), { applies: (op) => textField(op) !== undefined }),
  c('encoding', 'a UTF-8 byte order mark', 'any', (x) => body(v(x), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bodyOf(x)])), withBody),
  c('encoding', 'a UTF-16 body', 'refuse', (x) => body(v(x), Buffer.from(bodyText(v(x)), 'utf16le')), withBody),
  c('encoding', 'a gzip body', 'accept', (x) => header(body(v(x), gzipSync(bodyOf(x))), 'Content-Encoding', 'gzip'), withBody),
  c('encoding', 'a gzip bomb', 413, (x) => header(body(v(x), gzipSync(`{"a":"${'0'.repeat(2_000_000)}"}`)), 'Content-Encoding', 'gzip'), withBody),
  c('encoding', 'deflate that is not deflate', 'refuse', (x) => header(v(x), 'Content-Encoding', 'deflate'), withBody),
  c('encoding', 'arrays nested 40,000 deep', 'refuse', (x) => rawField(x, deep(40_000)), withBody),
  c('encoding', 'arrays nested 1,000 deep', 'refuse', (x) => rawField(x, deep(1000)), withBody),
  c('encoding', 'an object of 10,000 keys', 'refuse', (x) => body(v(x), JSON.stringify(Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, i])))), withBody),
  c('encoding', 'a duplicated key', 'any', (x) => body(v(x), `${bodyText(v(x)).slice(0, -1)},${bodyText(v(x)).slice(1)}`), withBody),
  c('encoding', 'a __proto__ field', 422, (x) => body(v(x), withMember(x, '"__proto__":{"x":1}')), withBody),
  c('encoding', 'a constructor field', 422, (x) => body(v(x), withMember(x, '"constructor":{"prototype":1}')), withBody),
  c('schema', 'key create: access and permissions that disagree', 422, (x) => field(field(v(x), 'access', 'read_only'), 'permissions', ['contacts:write']), keyCreates),
  c('schema', 'key create: a permission given twice', 422, (x) => field(v(x), 'permissions', ['contacts:read', 'contacts:read']), keyCreates),
  c('schema', 'key create: an environment in capitals', 422, (x) => field(v(x), 'environment', 'STAGING'), keyCreates),
  c('encoding', 'a body over 100 KiB', 413, (x) => body(v(x), `{"pad":"${'p'.repeat(101 * 1024)}"}`), withBody),
  c('encoding', 'an empty body', (op) => (op.bodyRequired ? 'refuse' : 'accept'), (x) => body(v(x), ''), withBody),
  ...['null', '[]', '"text"', '42', 'true'].map((json) => c('encoding', `the body ${json}`, 'refuse', (x) => body(v(x), json), withBody)),
  c('encoding', 'trailing garbage after the JSON', 400, (x) => body(v(x), `${bodyText(v(x))}x`), withBody),
  c('encoding', 'a JSON comment', 400, (x) => body(v(x), `/* c */${bodyText(v(x))}`), withBody),
  c('encoding', 'single-quoted JSON', 400, (x) => body(v(x), bodyText(v(x)).replaceAll('"', "'")), withBody),
  c('encoding', 'NaN and Infinity literals', 400, (x) => rawField(x, 'NaN'), withBody),
  c('encoding', 'a number of 1e400', 'refuse', (x) => rawField(x, '1e400'), withBody),

  c('query', 'an unknown query parameter', unknownQuery, (x) => query(v(x), 'unexpected=1')),
  c('query', 'a bracketed query parameter', unknownQuery, (x) => query(v(x), 'a[b]=1')),
  c('query', 'a malformed percent-encoding', 'refuse', (x) => query(v(x), 'a=%ZZ'), v1),
  c('query', 'a hand-made cursor dated 0000-01-01', 422, (x) => query(v(x), `cursor=${Buffer.from('{"c":"0000-01-01T00:00:00.000Z","i":"ct_aaaaaaaaaaaaaaaa"}').toString('base64url')}`), cursors),
  c('query', 'a hand-made cursor of a plausible position', 422, (x) => query(v(x), `cursor=${Buffer.from(`{"c":"${new Date(x.rng.int(0, 2 ** 41)).toISOString()}","i":"ct_${'a'.repeat(16)}"}`).toString('base64url')}`), cursors),
  c('query', 'usage: from after to', 422, (x) => query(v(x), 'from=2026-11-22T00:00:00Z&to=2026-11-21T00:00:00Z'), takes('from')),
  c('query', 'usage: a period over the retention', 422, (x) => query(v(x), 'from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z'), takes('from')),
  c('query', 'usage: a from in year 0000', 422, (x) => query(v(x), 'from=0000-01-01T00:00:00Z'), takes('from')),
  c('query', 'usage: a from far in the future', 422, (x) => query(v(x), 'from=9999-12-31T23:59:59Z'), takes('from')),
  c('query', 'usage: an instant without a zone', 422, (x) => query(v(x), 'to=2026-11-22T00:00:00'), takes('to')),
  c('query', 'usage: an unknown granularity', 422, (x) => query(v(x), `granularity=${x.rng.pick(['week', 'HOUR', 'minute', ''])}`), takes('granularity')),
  c('query', 'usage: an unknown groupBy', 422, (x) => query(v(x), `groupBy=${x.rng.pick(['country', 'KEY', 'status', ''])}`), takes('groupBy')),
  c('query', 'a limit out of bounds', 422, (x) => query(v(x), `limit=${x.rng.pick(['0', '101', '-1', '1e2', '0x10', '99999999999999999999'])}`), takes('limit')),
  c('query', 'a status filter out of range', 422, (x) => query(v(x), `status=${x.rng.pick(['99', '600', 'abc', '4xx'])}`), takes('status')),
  c('query', 'SQL in a filter', 422, (x) => query(v(x), `operationId=${encodeURIComponent("x' OR '1'='1")}`), takes('operationId')),
  c('query', 'a fragment after the target', 400, (x) => ({ ...v(x), target: `${v(x).target}#fragment` })),
  c('query', 'a query of 1,000 parameters', unknownQuery, (x) => query(v(x), Array.from({ length: 1000 }, (_, i) => `p${i}=1`).join('&'))),

  c('password', 'a password on the common-password list', 422, (x) => choosing(x, x.rng.pick(COMMON_PASSWORDS)), choosesPassword),
  c('password', 'a common password in full-width letters', 422, (x) => choosing(x, 'ｑｗｅｒｔｙｕｉｏｐ'), choosesPassword),
  c('password', 'a password that is the email', 422, (x) => choosing(x, (b) => b.email), { applies: (op) => op.operationId === 'signUp' }),
  c('password', 'a new password equal to the current one', 422, (x) => choosing(x, (b) => b.currentPassword), changesPassword),
  c('password', 'a wrong current password', 422, (x) => field(v(x), 'currentPassword', 'not the password at all'), changesPassword),
  c('password', 'a password of 256 astral characters', 'accept', (x) => choosing(x, '𝕬'.repeat(256)), choosesPassword),
  c('password', 'a password of control characters and a NUL', 'accept', (x) => choosing(x, '\u0000\u0001\t\u001f\u007f tail of it'), choosesPassword),
  c('password', 'a log-in password with a NUL', 401, (x) => field(v(x), 'password', 'a\u0000b wrong'), { applies: (op) => op.operationId === 'logIn' }),
  c('password', 'a new password with combining accents (NFD)', 'accept', (x) => field(v(x), 'newPassword', 'cafe\u0301 au lait, s’il vous plaît'), changesPassword),

  c('id', 'a session id never issued', 404, (x) => ({ ...v(x), target: v(x).target.replace(x.pathId, 'tok_zzzzzzzzzzzzzzzz') }), withSessionId),
  c('id', 'an API key id as a session id', 404, (x) => ({ ...v(x), target: v(x).target.replace(x.pathId, 'key_4f7a2c9d1e0b3a68') }), withSessionId),
  c('id', "another organization's row", 404, (x) => v(x), { ...withId, row: 'foreign' }),
  c('id', 'an id of 65 characters', 'refuse', (x) => ({ ...v(x), target: v(x).target.replace(x.pathId, 'a'.repeat(65)) }), { ...withId, row: 'none' }),
  c('id', 'a NUL in the id', 'refuse', (x) => ({ ...v(x), target: v(x).target.replace(x.pathId, `${x.pathId}%00`) }), withId),
  c('id', 'a dot-dot segment', 'refuse', (x) => ({ ...v(x), target: v(x).target.replace(x.pathId, '..') }), { ...withId, row: 'none' }),
  c('id', 'an encoded slash in the id', 'refuse', (x) => ({ ...v(x), target: v(x).target.replace(x.pathId, `${x.pathId}%2F..`) }), withId),
  c('id', 'SQL in the id', 'refuse', (x) => ({ ...v(x), target: v(x).target.replace(x.pathId, "x'%20OR%20'1'%3D'1") }), { ...withId, row: 'none' }),
  c('id', 'a unicode id', 'refuse', (x) => ({ ...v(x), target: v(x).target.replace(x.pathId, encodeURIComponent('ct_ÿ€𝕬')) }), { ...withId, row: 'none' }),
  c('id', 'the id in upper case', 'refuse', (x) => ({ ...v(x), target: v(x).target.replace(x.pathId, x.pathId.toUpperCase()) }), withId),
  c('id', 'a trailing slash', 404, (x) => ({ ...v(x), target: `${v(x).target}/` }), withId),
  c('id', 'a doubled slash', 404, (x) => ({ ...v(x), target: v(x).target.replace(/^(\/[^/]+)\//, '$1//') }), withId),

  // Where a webhook may point (server-side request forgery): every one refused with 422 on `url`, nothing stored.
  ...[
    ['a loopback address', 'https://127.0.0.1/hook'],
    ['a loopback address in another notation', 'https://2130706433/hook'],
    ['a private address', 'https://10.0.0.7/hook'],
    ['the cloud metadata address', 'https://169.254.169.254/latest/meta-data/'],
    ['IPv6 loopback', 'https://[::1]/hook'],
    ['an IPv4-mapped loopback', 'https://[::ffff:127.0.0.1]/hook'],
    ['an IPv6 unique-local address', 'https://[fd00::1]/hook'],
    ['the unspecified address', 'https://0.0.0.0/hook'],
    ['credentials in the URL', 'https://user:secret@93.184.215.14/hook'],
    ['plain http', 'http://93.184.215.14/hook'],
    ['another scheme', 'file:///etc/passwd'],
    ['a javascript: URL', 'javascript:alert(1)'],
    ['no URL at all', 'hooks dot example dot com'],
    ['a fragment', 'https://93.184.215.14/hook#x'],
  ].map(([what, url]) => c('webhook', `a webhook URL: ${what}`, 422, (x) => field(v(x), 'url', url), savesUrl)),
  c('webhook', 'an event type that does not exist', 422, (x) => field(v(x), 'enabledEvents', ['api_key.deleted']), { applies: (op) => op.body?.properties?.enabledEvents !== undefined }),
  c('webhook', 'every event type twice', 422, (x) => field(v(x), 'enabledEvents', ['*', '*']), { applies: (op) => op.body?.properties?.enabledEvents !== undefined }),

  // GitHub's secret-scanning reports: signed over their bytes (the run signs what the class built), bounded.
  c('webhook', 'a report without its signature', 401, (x) => header(v(x), 'Github-Public-Key-Signature', undefined), reports),
  c('webhook', 'a report signed over other bytes', 401, (x) => header(v(x), 'Github-Public-Key-Signature', 'MEUCIQDx9Lk3vX0Sd5z2Tn1aA0wVh6bTn4bq7F3y0xq5GmWfGAIgY6y1nD7qYw0o2b3m2lWcS4kV6b1p3u0uX0tWl8h9s5E='), reports),
  c('webhook', 'a report under an unknown key identifier', 401, (x) => header(v(x), 'Github-Public-Key-Identifier', 'f'.repeat(64)), reports),
  c('webhook', 'a report of 1,001 tokens', 422, (x) => body(v(x), JSON.stringify(Array.from({ length: 1001 }, (_, i) => ({ token: `mr_${i}`, type: 'mailroom_api_key' })))), reports),
  c('webhook', 'a report that is an object', 422, (x) => body(v(x), JSON.stringify({ token: x.keys.unknown, type: 'mailroom_api_key' })), reports),
  c('webhook', 'an empty report', 422, (x) => body(v(x), '[]'), reports),
  c('webhook', 'a report whose token is a number', 422, (x) => body(v(x), JSON.stringify([{ token: 42, type: 'mailroom_api_key' }])), reports),
  c('webhook', 'a report that is not JSON', 400, (x) => body(v(x), '[{"token": '), reports),
  c('webhook', 'a report of a key never issued', 'accept', (x) => body(v(x), JSON.stringify([{ token: x.keys.unknown, type: 'mailroom_api_key', url: '', source: 'content' }])), reports),
  c('webhook', 'a report of a key with a wrong checksum', 'accept', (x) => body(v(x), JSON.stringify([{ token: flipLast(x.keys.unknown), type: 'mailroom_api_key' }])), reports),
  c('webhook', 'a report of the same junk token 1,000 times', 'accept', (x) => body(v(x), JSON.stringify(Array.from({ length: 1000 }, () => ({ token: 'mr_zzzzzzzz_nope', type: 'mailroom_api_key' })))), reports),
];

// ---------------------------------------------------------------------------------------------------------------
// Schema classes: one per keyword a field's schema has, violated; and its bounds, met.

/** Values of JSON types the schema does not allow. */
function otherTypes(schema: Schema): unknown[] {
  const allowed = typesOf(schema);
  const samples: [string, unknown][] = [
    ['string', 'text'],
    ['integer', 7],
    ['number', 2.5],
    ['boolean', true],
    ['null', null],
    ['array', ['x']],
    ['object', { x: 1 }],
  ];
  return samples
    .filter(([type]) => !allowed.includes(type) && !(type === 'integer' && allowed.includes('number')))
    .map(([, value]) => value);
}

/** A keyword's violations of a field schema: [name, applies, values that break it]. */
type Violation = [string, (s: Schema) => boolean, (s: Schema) => unknown[]];

/** Each JSON Schema keyword the spec uses, and values that break it (one line each). */
// biome-ignore format: one line per keyword
export const KEYWORD_VIOLATIONS: Violation[] = [
  ['type', () => true, otherTypes],
  ['minLength', (s) => (s.minLength ?? 0) > 0, (s) => ['x'.repeat((s.minLength ?? 1) - 1)]],
  ['maxLength', (s) => s.maxLength !== undefined, (s) => ['x'.repeat((s.maxLength ?? 0) + 1), '\u{1d56c}'.repeat((s.maxLength ?? 0) + 1)]],
  ['minimum', (s) => s.minimum !== undefined, (s) => [(s.minimum ?? 0) - 1, -0.5, -(2 ** 53)]],
  ['maximum', (s) => s.maximum !== undefined, (s) => [(s.maximum ?? 0) + 1, 2 ** 63, 1e300]],
  ['integer', (s) => typesOf(s).includes('integer'), (s) => [(s.minimum ?? 0) + 0.5]],
  ['enum', (s) => s.enum !== undefined, (s) => [String(s.enum?.[0]).toUpperCase(), `${String(s.enum?.[0])} `, 'admin']],
  ['format: email', (s) => s.format === 'email', () => ['no-at-sign', 'a@', '@example.com', 'a@@example.com', 'a b@example.com', '<a@example.com>', 'a@example.com\n']],
];

/** Bounds that must be accepted: [name, applies, values at the bound]. */
// biome-ignore format: one line per bound
export const KEYWORD_BOUNDS: Violation[] = [
  ['maxLength exactly, astral characters', (s) => s.maxLength !== undefined && s.format === undefined, (s) => ['\u{1d56c}'.repeat(s.maxLength ?? 0)]],
  ['minLength exactly', (s) => (s.minLength ?? 0) > 0 && s.format === undefined, (s) => ['m'.repeat(s.minLength ?? 1)]],
  ['minimum exactly', (s) => s.minimum !== undefined, (s) => [s.minimum]],
  ['maximum exactly', (s) => s.maximum !== undefined, (s) => [s.maximum]],
  ['null where nullable', (s) => typesOf(s).includes('null') && s.type !== undefined, () => [null]],
];

/** Query values that are not a plain decimal integer (the spec's integer means digits only). */
export const LENIENT_INTEGERS = ['0x10', '1e1', '1.0', '010', '%205', '+5', '5%20', '1_0', 'Infinity', '١٠'];

/**
 * What a body that meets a bound of field `name` gets: accepted, except by an operation that checks credentials in its
 * body (public, declaring 401: log-in), where another valid value is the wrong password, and for a password change's
 * current password, where it is a wrong one too (422 naming it), and for a webhook URL, which must be a URL too.
 */
const boundMet = (op: Operation, name: string): Expectation =>
  // A webhook URL is checked past its schema: text of its minimum or maximum length is no URL (422 on url).
  name === 'currentPassword' || name === 'url'
    ? 422
    : op.credential === 'none' && op.statuses.includes(401)
      ? 401
      : 'accept';

/** The operation's own schema of body field `name`, if it has one. */
const propertyOf = (op: Operation, name: string): Schema | undefined => op.body?.properties?.[name];

/**
 * The classes of one operation's body: one per (field, keyword), applying to every operation whose own schema of that
 * field has the keyword, and built from that schema (`password` has minLength 10 on sign-up but 1 on log-in); then a
 * required field missing, an unknown field, an empty object.
 */
function bodyClasses(op: Operation): FuzzClass[] {
  const classes: FuzzClass[] = [];
  const schema = op.body as Schema;
  for (const name of Object.keys(schema.properties ?? {})) {
    // Each keyword broken (422) and each bound met exactly (accepted, unless the operation refuses by state).
    const kinds: Array<[Violation[], string, Expectation | ((op: Operation) => Expectation)]> = [
      [KEYWORD_VIOLATIONS, ' broken', 422],
      [KEYWORD_BOUNDS, '', (other) => boundMet(other, name)],
    ];
    for (const [violations, suffix, expect] of kinds) {
      for (const [keyword, appliesTo, values] of violations) {
        if (!appliesTo(schema.properties?.[name] as Schema)) {
          continue;
        }
        // Another operation's field of the same name may give this violation no value (another type or bound).
        const applies = (other: Operation) => {
          const property = propertyOf(other, name);
          return property !== undefined && appliesTo(property) && values(property).length > 0;
        };
        const build = (x: CaseContext) => field(v(x), name, x.rng.pick(values(propertyOf(x.op, name) as Schema)));
        classes.push(c('schema', `body.${name}: ${keyword}${suffix}`, expect, build, { applies }));
      }
    }
  }
  for (const name of schema.required ?? []) {
    classes.push(
      c('schema', `body.${name}: required, missing`, 422, (x) => field(v(x), name, REMOVE), {
        applies: (other) => other.body?.required?.includes(name) ?? false,
      }),
    );
  }
  if (schema.additionalProperties === false) {
    classes.push(
      c('schema', 'body: additionalProperties, an unknown field', 422, (x) => field(v(x), 'unexpected', 1), {
        applies: (other) => other.body?.additionalProperties === false,
      }),
    );
  }
  if ((schema.minProperties ?? 0) > 0) {
    classes.push(
      c('schema', 'body: minProperties, an empty object', 422, (x) => body(v(x), '{}'), {
        applies: (other) => (other.body?.minProperties ?? 0) > 0,
      }),
    );
  }
  return classes;
}

/** The classes of one operation's query parameters: each keyword broken, not a number, lenient integers, repeated. */
function queryClasses(op: Operation): FuzzClass[] {
  const classes: FuzzClass[] = [];
  for (const param of op.params.filter((p) => p.in === 'query')) {
    const on = { applies: (other: Operation) => other.operationId === op.operationId };
    const q = (value: string) => `${param.name}=${value}`;
    for (const [keyword, appliesTo, values] of KEYWORD_VIOLATIONS) {
      if (appliesTo(param.schema) && keyword !== 'type') {
        classes.push(
          c(
            'schema',
            `query.${param.name}: ${keyword} broken`,
            422,
            (x) => query(v(x), q(encodeURIComponent(String(x.rng.pick(values(param.schema)))))),
            on,
          ),
        );
      }
    }
    if (typesOf(param.schema).includes('integer')) {
      classes.push(
        c(
          'schema',
          `query.${param.name}: not a number`,
          422,
          (x) => query(v(x), q(x.rng.pick(['abc', '', '5abc', 'null']))),
          on,
        ),
      );
      classes.push(
        c(
          'schema',
          `query.${param.name}: a lenient integer (0x10, 1e1, 010, …)`,
          422,
          (x) => query(v(x), q(x.rng.pick(LENIENT_INTEGERS))),
          on,
        ),
      );
    }
    classes.push(
      c(
        'schema',
        `query.${param.name}: repeated`,
        422,
        (x) => query(v(x), `${q(String(validValue(param.schema, 'a')))}&${q(String(validValue(param.schema, 'b')))}`),
        on,
      ),
    );
  }
  return classes;
}

/** The classes of one operation's path parameters: a value over maxLength. */
function pathClasses(op: Operation): FuzzClass[] {
  const classes: FuzzClass[] = [];
  for (const param of op.params.filter((p) => p.in === 'path')) {
    const on = { applies: (other: Operation) => other.path === op.path, row: 'none' as const };
    if (param.schema.maxLength !== undefined) {
      classes.push(
        c(
          'schema',
          `path.${param.name}: maxLength broken`,
          'refuse',
          (x) => ({ ...v(x), target: v(x).target.replace(x.pathId, 'k'.repeat((param.schema.maxLength ?? 0) + 1)) }),
          on,
        ),
      );
    }
  }
  return classes;
}

/** One class per distinct name: the same keyword on the same field of another operation is the same class. */
function mergeByName(classes: readonly FuzzClass[]): FuzzClass[] {
  const byName = new Map<string, FuzzClass>();
  for (const cls of classes) {
    const known = byName.get(cls.name);
    if (known) {
      const first = known.applies;
      known.applies = (op, s) => first(op, s) || cls.applies(op, s);
    } else {
      byName.set(cls.name, cls);
    }
  }
  return [...byName.values()];
}

/** The schema classes derived from the spec: body fields, then each operation's query and path parameters. */
function fieldClasses(spec: FuzzSpec): FuzzClass[] {
  return mergeByName([
    ...spec.operations.filter((op) => op.body !== undefined).flatMap(bodyClasses),
    ...spec.operations.flatMap((op) => [...queryClasses(op), ...pathClasses(op)]),
  ]);
}

/** Every class of the run: the fixed tables plus the schema classes derived from `spec`. */
export function allClasses(spec: FuzzSpec): FuzzClass[] {
  return [...FIXED_CLASSES, ...fieldClasses(spec)];
}
