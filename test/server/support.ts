import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { components, operations } from '../../generated/schema.d.ts';
import type { ScryptCost } from '../../src/accounts/password.ts';
import type { AccountWindows, PlanTable, WindowConfig } from '../../src/rate-limit/plans.ts';
import { type CreateKeyOptions, type ServerHandle, type ServerOptions, startServer } from '../../src/server/index.ts';
import { createLogger } from '../../src/server/logger.ts';
import { openPgliteStore } from '../../src/store/index.ts';

/** The spec's error body. */
export type ErrorBody = components['schemas']['ErrorEnvelope'];

/** The JSON body an operation answers with for a status, as the spec (generated/schema.d.ts) types it. */
export type Body<
  Op extends keyof operations,
  Status extends keyof operations[Op]['responses'],
> = operations[Op]['responses'][Status] extends { content: { 'application/json': infer B } } ? B : never;

/** What a body is known to be before a test narrows it: one of the two envelopes. */
export interface Envelope {
  success: boolean;
  data?: unknown;
  meta?: Record<string, unknown>;
  error?: ErrorBody['error'];
}

// ---------------------------------------------------------------------------------------------------------------
// The spec, read independently of the server's own routing code.

interface SpecOperationObject {
  operationId?: string;
  responses?: Record<string, { $ref?: string; headers?: Record<string, unknown> }>;
  requestBody?: unknown;
  security?: Record<string, string[]>[];
}

interface SpecDocument {
  paths: Record<string, Record<string, SpecOperationObject | unknown>>;
  security?: Record<string, string[]>[];
  components: {
    schemas: { ErrorCode: { 'x-error-statuses': Record<string, number> } };
    responses: Record<string, { headers?: Record<string, unknown> }>;
  };
}

/** generated/openapi.json, the bundled contract. */
export const SPEC = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../generated/openapi.json', import.meta.url)), 'utf8'),
) as SpecDocument;

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** One operation of the spec with the statuses it documents. */
export interface SpecOperation {
  method: string;
  path: string;
  operationId: string;
  statuses: number[];
  /** The statuses whose response declares the rate-limit headers. */
  rateLimited: number[];
  /** The security scheme names its effective security requirement names (empty: public). */
  schemes: string[];
  /** The roles its security requirement names (`write`, `owner`). */
  roles: string[];
  /** Whether it takes a request body. */
  takesBody: boolean;
}

/** The headers a response of the bundled spec declares (following a $ref to components/responses). */
function declaredHeaders(response: { $ref?: string; headers?: Record<string, unknown> }): string[] {
  const resolved = response.$ref
    ? SPEC.components.responses[response.$ref.replace('#/components/responses/', '')]
    : response;
  return Object.keys(resolved?.headers ?? {}).map((name) => name.toLowerCase());
}

/** Every operation of the spec. */
export const SPEC_OPERATIONS: SpecOperation[] = Object.entries(SPEC.paths).flatMap(([path, item]) =>
  HTTP_METHODS.filter((m) => m in item).map((m) => {
    const op = item[m] as SpecOperationObject;
    const responses = Object.entries(op.responses ?? {});
    return {
      method: m.toUpperCase(),
      path,
      operationId: String(op.operationId),
      statuses: responses.map(([status]) => Number(status)),
      rateLimited: responses
        .filter(([, response]) => declaredHeaders(response).includes('x-ratelimit-limit'))
        .map(([status]) => Number(status)),
      schemes: [...new Set((op.security ?? SPEC.security ?? []).flatMap((alternative) => Object.keys(alternative)))],
      roles: [
        ...new Set((op.security ?? SPEC.security ?? []).flatMap((alternative) => Object.values(alternative).flat())),
      ],
      takesBody: op.requestBody !== undefined,
    };
  }),
);

/** Each error code's one status, from the spec's `x-error-statuses`. */
export const ERROR_STATUSES: Record<string, number> = SPEC.components.schemas.ErrorCode['x-error-statuses'];

interface PathMatcher {
  path: string;
  methods: string[];
  pattern: RegExp;
}

// Literal paths first, so /v1/api-keys/validate is not taken for /v1/api-keys/{keyId}.
const PATH_MATCHERS: PathMatcher[] = Object.keys(SPEC.paths)
  .map((path) => ({
    path,
    methods: SPEC_OPERATIONS.filter((op) => op.path === path).map((op) => op.method),
    pattern: new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{\w+\}/g, '[^/]+')}/?$`),
  }))
  .sort((a, b) => Number(a.path.includes('{')) - Number(b.path.includes('{')));

/** The spec path template a URL path belongs to (`/v1/contacts/ct_x` → `/v1/contacts/{contactId}`), if any. */
export function specPathOf(urlPath: string): PathMatcher | undefined {
  return PATH_MATCHERS.find((p) => p.pattern.test(urlPath));
}

// ---------------------------------------------------------------------------------------------------------------
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

// ---------------------------------------------------------------------------------------------------------------
// Plans and server start-up.

/**
 * Plans for tests: `roomy` never trips, `tiny` trips at the 4th request, `steady` has one slow window to count on,
 * `free` (the plan of every organization a user creates) is roomy too.
 */
export const PLANS: PlanTable = {
  free: { windows: [{ name: 'minute', limit: 100000, windowSeconds: 60 }] },
  tiny: { windows: [{ name: 'minute', limit: 3, windowSeconds: 60 }] },
  roomy: {
    windows: [
      { name: 'burst', limit: 1000, windowSeconds: 1 },
      { name: 'minute', limit: 100000, windowSeconds: 60 },
    ],
  },
  steady: { windows: [{ name: 'minute', limit: 1000, windowSeconds: 60 }] },
};

/** A failed-auth window wide enough that a file's deliberate 401s never trip it. */
export const LENIENT_FAILED_AUTH: WindowConfig = { name: 'auth-failures', limit: 1000, windowSeconds: 60 };

/** Account windows wide enough that a file's sign-ups, log-ins and user-token calls never trip them by accident. */
export const LENIENT_ACCOUNT_WINDOWS: Partial<AccountWindows> = {
  user: { name: 'user', limit: 100_000, windowSeconds: 60 },
  address: { name: 'address', limit: 1000, windowSeconds: 60 },
};

/** A cheaper scrypt cost than the default, so files that sign many users up stay quick (still real scrypt). */
export const TEST_PASSWORD_COST: ScryptCost = { logN: 10, r: 8, p: 1 };

/** The server secret of every test server (restarts must use the same one). */
export const SERVER_SECRET = 'test-secret';

/** A key made through the server handle. */
export interface TestKey {
  plaintext: string;
  keyId: string;
  organizationId: string;
  /** The organization's name (what `createApiKey` takes). */
  organization: string;
}

/** A running server with a captured log, a movable clock and a bound `call`. */
export interface TestServer {
  handle: ServerHandle;
  url: string;
  /** Everything the server logged so far. */
  logs(): string;
  /** The server's clock: real time plus whatever `advanceClock` added. */
  now(): Date;
  advanceClock(ms: number): void;
  call<T = Envelope>(method: string, path: string, options?: CallOptions): Promise<Reply<T>>;
  /**
   * Creates a key through the handle. Without `organization` it is a fresh organization on `roomy`; with one, the
   * organization keeps its plan unless `plan` is given.
   */
  newKey(options?: Partial<CreateKeyOptions>): Promise<TestKey>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------------
// Databases. Creating a PGlite cluster (initdb) costs seconds; reopening one costs well under one. So the first
// server of a run builds a migrated, empty cluster once in the OS temp directory (keyed by the migrations and the
// PGlite version, so it is rebuilt when either changes) and every server gets its own copy of it: the same real
// PGlite and the same migrations as `{ kind: 'pglite' }`, on disk instead of in memory.

const MIGRATIONS_DIR = fileURLToPath(new URL('../../src/store/migrations/', import.meta.url));
const PGLITE_PACKAGE = fileURLToPath(new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url));

let template: Promise<string> | undefined;

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function buildTemplate(): Promise<string> {
  const hash = createHash('sha256').update(await readFile(PGLITE_PACKAGE));
  for (const name of (await readdir(MIGRATIONS_DIR)).sort()) {
    hash.update(name).update(await readFile(join(MIGRATIONS_DIR, name)));
  }
  const dir = join(tmpdir(), `mailroom-test-pglite-template-${hash.digest('hex').slice(0, 16)}`);
  if (await exists(dir)) {
    return dir;
  }
  const building = await mkdtemp(`${dir}-building-`);
  const store = await openPgliteStore({ dataDir: building });
  await store.close();
  try {
    // Atomic: a parallel worker that built one too either loses the race here or wins it; both copies are equal.
    await rename(building, dir);
  } catch {
    await rm(building, { recursive: true, force: true });
  }
  return dir;
}

/** A new data directory holding a migrated, empty database; the caller removes it. */
export async function freshDataDir(): Promise<string> {
  template ??= buildTemplate();
  const dir = await mkdtemp(join(tmpdir(), 'mailroom-test-db-'));
  await cp(await template, dir, { recursive: true });
  return dir;
}

/** A fresh organization name, so tests never share a rate-limit pool or data by accident. */
export function newOrganization(): string {
  return `org-${randomUUID()}`;
}

let addressCounter = 0;

/**
 * Headers that make the request come from a client address no other request used (needs `trustProxy: true`), so
 * per-address failed-auth counting doesn't couple tests that share a server.
 */
export function fromNewAddress(): Record<string, string> {
  addressCounter++;
  return { 'x-forwarded-for': `10.${process.pid % 256}.${(addressCounter >> 8) & 255}.${addressCounter & 255}` };
}

/** A fresh, valid contact email. */
export function newEmail(prefix = 'contact'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}@example.com`;
}

/** The password of every account the server tests sign up. */
export const PASSWORD = 'correct horse battery staple';

/** What a sign-up answers: the user, their first organization and a user token. */
export type Session = Body<'signUp', 201>['data'];

/**
 * Signs a new user up (an email of its own tagged `tag`, {@link PASSWORD}, plus `body`) and returns their session.
 * `fromNewAddress`: from an address of its own (on a server that trusts X-Forwarded-For), so the per-address window of
 * sign-up couples no other requests.
 */
export async function signUp(
  server: Pick<TestServer, 'call'>,
  options: { tag?: string; body?: Record<string, unknown>; fromNewAddress?: boolean } = {},
): Promise<Session> {
  const reply = await server.call<Body<'signUp', 201>>('POST', '/auth/signup', {
    ...(options.fromNewAddress ? { headers: fromNewAddress() } : {}),
    body: { email: newEmail(options.tag ?? 'user'), password: PASSWORD, ...options.body },
  });
  expect(reply.status, reply.text).toBe(201);
  return reply.body.data;
}

/** A new user token for `email` (logged in from an address of its own): a session to spend, e.g. on a log-out. */
export async function logIn(server: Pick<TestServer, 'call'>, email: string): Promise<string> {
  const reply = await server.call<Body<'logIn', 200>>('POST', '/auth/login', {
    headers: fromNewAddress(),
    body: { email, password: PASSWORD },
  });
  expect(reply.status, reply.text).toBe(200);
  return reply.body.data.token;
}

/**
 * A valid body for each operation that takes one (undefined for the others), for walks over every operation. `tag`
 * marks what it creates; log-in is `owner`'s, and adding a member names `member`, who already belongs (a 409, unless
 * the test gives a newcomer).
 */
export function validBodyOf(operationId: string, tag: string, people: { owner: string; member: string }): unknown {
  switch (operationId) {
    case 'createApiKey':
    case 'createOrganizationApiKey':
      return { name: tag };
    case 'renameApiKey':
    case 'renameOrganizationApiKey':
      return { name: `renamed by ${tag}` };
    case 'createContact':
      return { email: newEmail(tag) };
    case 'updateContact':
      return { subscribed: false };
    case 'rotateApiKey':
    case 'rotateOrganizationApiKey':
      return { gracePeriodMinutes: 60 };
    case 'signUp':
      return { email: newEmail(`${tag}-signup`), password: PASSWORD };
    case 'logIn':
      return { email: people.owner, password: PASSWORD };
    case 'createOrganization':
      return { name: `${tag} Ltd` };
    case 'renameOrganization':
      return { name: `${tag} Ltd renamed` };
    case 'addMember':
      return { email: people.member };
    case 'updateMember':
      return { role: 'member' };
    default:
      return undefined;
  }
}

/**
 * Starts a server with the test defaults: its own PGlite database (see `freshDataDir`) unless `store` is given, the
 * test plans, a captured log, and responses validated against the spec.
 */
export async function startTestServer(overrides: Partial<ServerOptions> = {}): Promise<TestServer> {
  const ownDataDir = overrides.store === undefined ? await freshDataDir() : undefined;
  let logText = '';
  const sink = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      logText += chunk.toString();
      done();
    },
  });
  let offsetMs = 0;
  const now = () => new Date(Date.now() + offsetMs);
  const removeOwnDataDir = async () => {
    if (ownDataDir !== undefined) {
      await rm(ownDataDir, { recursive: true, force: true });
    }
  };
  const handle = await startServer({
    port: 0,
    host: '127.0.0.1',
    store: { kind: 'pglite', dataDir: ownDataDir },
    plans: PLANS,
    failedAuth: LENIENT_FAILED_AUTH,
    accountWindows: LENIENT_ACCOUNT_WINDOWS,
    passwordCost: TEST_PASSWORD_COST,
    clock: now,
    logger: createLogger('info', sink),
    validateResponses: true,
    serverSecret: SERVER_SECRET,
    ...overrides,
  }).catch(async (error: unknown) => {
    await removeOwnDataDir();
    throw error;
  });
  return {
    handle,
    url: handle.url,
    logs: () => logText,
    now,
    advanceClock(ms) {
      offsetMs += ms;
    },
    call: (method, path, options) => call(handle.url, method, path, options),
    async newKey(options = {}) {
      const organization = options.organization ?? newOrganization();
      const plan = options.plan ?? (options.organization === undefined ? 'roomy' : undefined);
      const created = await handle.createApiKey({ name: 'test key', ...options, organization, plan });
      return { ...created, organization };
    },
    async close() {
      await handle.close();
      await removeOwnDataDir();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Calling the server.

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
  checkEnvelope(status, parsed, requestId);

  const urlPath = new URL(path, baseUrl).pathname;
  const matched = specPathOf(urlPath);
  const operation = matched
    ? SPEC_OPERATIONS.find((op) => op.path === matched.path && op.method === method.toUpperCase())
    : undefined;
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
      expect(allow, 'Allow lists the methods the spec declares on the path').toBe(matched.methods.join(', '));
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

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  check: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((done) => setTimeout(done, 25));
  }
}
