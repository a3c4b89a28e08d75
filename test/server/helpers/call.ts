// Calling the server over real HTTP: every reply is checked against what every response must satisfy, and recorded
// as (method, spec path, status) for the coverage test.
import { expect } from 'vitest';
import { allowOf, type Envelope, ERROR_STATUSES, type ErrorBody, SPEC_OPERATIONS, specPathOf } from './spec.ts';

// Coverage registry: every checked response is recorded as "METHOD specPath status".

const exercised = new Set<string>();

/** The (method, spec path, status) triples seen by `call` in this test file's process. */
export function exercisedResponses(): ReadonlySet<string> {
  return exercised;
}

/** Registry key of one response. */
export function coverageKey(method: string, specPath: string, status: number): string {
  return `${method.toUpperCase()} ${specPath} ${status}`;
}

/** How `call` builds a request. */
export interface CallOptions {
  /** Sent as `Authorization: Bearer` and/or `X-API-Key`, per `scheme`. */
  key?: string;
  scheme?: 'bearer' | 'x-api-key' | 'both';
  /** Serialised with JSON.stringify and sent as application/json. */
  body?: unknown;
  /** Sent byte for byte (as application/json unless `contentType` says otherwise). */
  raw?: string | Uint8Array<ArrayBuffer>;
  /** null: no Content-Type at all (fetch adds none to a Uint8Array body). */
  contentType?: string | null;
  headers?: Record<string, string>;
}

/** The rate-limit headers of a /v1 response, parsed. */
export interface RateHeaders {
  limit: number;
  remaining: number;
  reset: number;
  policy: { name: string; q: number; w: number }[];
  binding: { name: string; r: number; t: number };
  retryAfter: number | undefined;
}

/** A checked response. */
export interface Reply<T> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
  requestId: string;
  /** Present on every response the spec declares the rate-limit headers for (every /v1 one, and the account side). */
  rate: RateHeaders | undefined;
}

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const NON_NEGATIVE_INTEGER = /^(0|[1-9]\d*)$/;

function integerHeader(headers: Headers, name: string): number {
  const value = headers.get(name);
  expect(value, `${name} header`).not.toBeNull();
  expect(value, `${name} is a non-negative integer`).toMatch(NON_NEGATIVE_INTEGER);
  return Number(value);
}

function parseRateHeaders(headers: Headers, status: number): RateHeaders {
  const limit = integerHeader(headers, 'x-ratelimit-limit');
  const remaining = integerHeader(headers, 'x-ratelimit-remaining');
  const reset = integerHeader(headers, 'x-ratelimit-reset');
  expect(limit, 'X-RateLimit-Limit ≥ 1').toBeGreaterThanOrEqual(1);
  expect(remaining, 'X-RateLimit-Remaining ≤ X-RateLimit-Limit').toBeLessThanOrEqual(limit);

  const policyText = headers.get('ratelimit-policy') ?? '';
  const policy = policyText.split(', ').map((item) => {
    const match = /^"([^"\\]+)";q=(\d+);w=(\d+)$/.exec(item);
    expect(match, `RateLimit-Policy item ${JSON.stringify(item)} of ${JSON.stringify(policyText)}`).not.toBeNull();
    return { name: String(match?.[1]), q: Number(match?.[2]), w: Number(match?.[3]) };
  });

  const rateText = headers.get('ratelimit') ?? '';
  const rateMatch = /^"([^"\\]+)";r=(\d+);t=(\d+)$/.exec(rateText);
  expect(rateMatch, `RateLimit ${JSON.stringify(rateText)}`).not.toBeNull();
  const binding = { name: String(rateMatch?.[1]), r: Number(rateMatch?.[2]), t: Number(rateMatch?.[3]) };
  expect(binding.r, 'RateLimit r equals X-RateLimit-Remaining').toBe(remaining);
  expect(binding.t, 'RateLimit t equals X-RateLimit-Reset').toBe(reset);
  const bindingPolicy = policy.find((p) => p.name === binding.name);
  expect(bindingPolicy, `the binding window ${binding.name} is listed in RateLimit-Policy`).toBeDefined();
  expect(bindingPolicy?.q, 'X-RateLimit-Limit is the binding window quota').toBe(limit);
  expect(reset, 'X-RateLimit-Reset is within the binding window').toBeLessThanOrEqual(bindingPolicy?.w ?? 0);

  const retryAfterText = headers.get('retry-after');
  if (status === 429) {
    expect(retryAfterText, 'Retry-After on a 429').toMatch(NON_NEGATIVE_INTEGER);
    expect(Number(retryAfterText), 'Retry-After ≥ 1').toBeGreaterThanOrEqual(1);
    expect(remaining, 'X-RateLimit-Remaining is 0 on a 429').toBe(0);
  } else if (status !== 409) {
    expect(retryAfterText, 'Retry-After only on a 429 (and a 409 IDEMPOTENCY_KEY_IN_USE)').toBeNull();
  }
  return { limit, remaining, reset, policy, binding, retryAfter: retryAfterText ? Number(retryAfterText) : undefined };
}

function checkEnvelope(status: number, body: unknown, requestId: string): void {
  expect(body, 'the body is a JSON object').toBeTypeOf('object');
  expect(body).not.toBeNull();
  expect(Array.isArray(body), 'the body is not an array').toBe(false);
  const envelope = body as Record<string, unknown>;
  if (status >= 400) {
    expect(Object.keys(envelope).sort(), 'error envelope keys').toEqual(['error', 'meta', 'success']);
    expect(envelope.success).toBe(false);
    const error = envelope.error as Record<string, unknown>;
    expect(error).toBeTypeOf('object');
    expect(
      Object.keys(error).every((k) => ['code', 'message', 'details'].includes(k)),
      'error keys',
    ).toBe(true);
    expect(error.code).toBeTypeOf('string');
    expect(ERROR_STATUSES[String(error.code)], `the status of ${String(error.code)}`).toBe(status);
    expect(error.message).toBeTypeOf('string');
    expect(String(error.message).length).toBeGreaterThan(0);
    if (error.details !== undefined) {
      for (const messages of Object.values(error.details as Record<string, unknown>)) {
        expect(Array.isArray(messages) && messages.every((m) => typeof m === 'string'), 'details are string[]').toBe(
          true,
        );
      }
    }
    expect(envelope.meta, 'meta is exactly { requestId }').toEqual({ requestId });
  } else {
    expect(envelope.success).toBe(true);
    expect('data' in envelope, 'a success envelope has data').toBe(true);
    expect('error' in envelope).toBe(false);
  }
}

/**
 * Sends one request over real HTTP and checks what every response must satisfy: a JSON envelope (errors: code
 * matching the status, `meta.requestId` equal to `X-Request-Id`), a sane `X-Request-Id`, and on `/v1` the
 * rate-limit headers with consistent values. Records (method, spec path, status) for the coverage test.
 */
export async function call<T = Envelope>(
  baseUrl: string,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = {};
  if (options.key !== undefined) {
    const scheme = options.scheme ?? 'bearer';
    if (scheme === 'bearer' || scheme === 'both') {
      headers.authorization = `Bearer ${options.key}`;
    }
    if (scheme === 'x-api-key' || scheme === 'both') {
      headers['x-api-key'] = options.key;
    }
  }
  let body: string | Uint8Array<ArrayBuffer> | undefined;
  if (options.raw !== undefined) {
    body = options.raw;
  } else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
  }
  if ((body !== undefined || options.contentType !== undefined) && options.contentType !== null) {
    headers['content-type'] = options.contentType ?? 'application/json';
  }
  Object.assign(headers, options.headers);

  const response = await fetch(`${baseUrl}${path}`, { method, headers, body });
  const text = await response.text();
  const status = response.status;
  const where = `${method} ${path} → ${status} ${text.slice(0, 300)}`;

  expect(response.headers.get('content-type'), `JSON content type (${where})`).toMatch(/^application\/json\b/);
  const requestId = response.headers.get('x-request-id') ?? '';
  expect(requestId, `X-Request-Id (${where})`).toMatch(SANE_REQUEST_ID);
  let parsed: unknown;
  expect(() => {
    parsed = JSON.parse(text);
  }, `JSON body (${where})`).not.toThrow();

  const urlPath = new URL(path, baseUrl).pathname;
  const matched = specPathOf(urlPath);
  const operation = matched
    ? SPEC_OPERATIONS.find((op) => op.path === matched.path && op.method === method.toUpperCase())
    : undefined;
  if (!(operation?.unenveloped && status < 300)) {
    checkEnvelope(status, parsed, requestId);
  }
  // Whether this answer must carry the rate-limit headers: as the spec declares for the operation's status; for a
  // path or method the spec lacks, as the server's namespace does (every /v1 answer does; elsewhere when present).
  const declared = operation
    ? operation.rateLimited.includes(status)
    : urlPath === '/v1' || urlPath.startsWith('/v1/') || response.headers.has('x-ratelimit-limit');
  let rate: RateHeaders | undefined;
  if (declared) {
    rate = parseRateHeaders(response.headers, status);
  } else {
    expect(response.headers.get('x-ratelimit-limit'), `no rate-limit headers undeclared (${where})`).toBeNull();
  }
  if (status === 401) {
    expect(response.headers.get('www-authenticate'), `WWW-Authenticate (${where})`).toMatch(/^Bearer realm="mailroom"/);
  }
  if (status === 409 && response.headers.has('retry-after')) {
    expect((parsed as ErrorBody).error.code, `Retry-After on a 409 (${where})`).toBe('IDEMPOTENCY_KEY_IN_USE');
    expect(response.headers.get('retry-after'), `Retry-After on a 409 (${where})`).toMatch(/^[1-9]\d*$/);
  }
  const replayed = response.headers.get('idempotent-replayed');
  expect(replayed === null || replayed === 'true', `Idempotent-Replayed is absent or true (${where})`).toBe(true);
  const deprecation = response.headers.get('deprecation');
  expect(deprecation === null || /^@\d+$/.test(deprecation), `Deprecation is @<seconds> (${where})`).toBe(true);
  expect(response.headers.has('sunset'), `Sunset comes with Deprecation (${where})`).toBe(deprecation !== null);
  if (status === 405) {
    const allow = response.headers.get('allow');
    expect(allow, `Allow on a 405 (${where})`).not.toBeNull();
    if (matched) {
      expect(allow, 'Allow lists the methods the spec declares on the path').toBe(allowOf(matched.methods));
    }
  }
  if (matched) {
    if (operation) {
      expect(operation.statuses, `${status} is documented for ${operation.operationId} (${where})`).toContain(status);
    }
    exercised.add(coverageKey(method, matched.path, status));
  }
  return { status, headers: response.headers, body: parsed as T, text, requestId, rate };
}

/** Asserts an error reply's status and code and returns its `error`. */
export function expectError(reply: Reply<unknown>, status: number, code: string): ErrorBody['error'] {
  expect(reply.status, reply.text).toBe(status);
  const body = reply.body as ErrorBody;
  expect(body.error.code).toBe(code);
  return body.error;
}
