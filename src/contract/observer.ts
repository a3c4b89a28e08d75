// The one door every request of a contract run goes through. It forwards each request through Prism's
// validating proxy (or, for the few requests Prism would answer itself, straight to the target), collects
// Prism's verdict on the response, runs the semantic header checks on it, and journals the exchange under
// the case that sent it (the caller-supplied X-Request-Id names the case). It also paces the run, so a
// target whose plan has little room is waited for instead of tripping its limits.
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { checkDeclaredHeaders } from './declared-headers.ts';
import { checkSemantics, type RequestIdRule, type SemanticCheck } from './header-semantics.ts';
import { matchOperation, type SpecOperation } from './spec.ts';
import type { StateCheck } from './state/checks.ts';

/** Control headers a run's clients set; the observer removes them before forwarding. */
export const ROUTE_HEADER = 'x-contract-route';
/** `invalid` marks a request that breaks the spec on purpose. */
export const INTENT_HEADER = 'x-contract-intent';
/** `none`: a request that spends a window on purpose (a 429 arrangement) is never held back by the pacing. */
export const PACE_HEADER = 'x-contract-pace';
/** The largest request head the observer accepts: room for the oversized headers of the 431 cases. */
export const OBSERVER_MAX_HEADER_SIZE = 256 * 1024;

/** The classes of what Prism reports about a response (and about requests meant to be valid). */
export const PRISM_CHECKS = {
  'undeclared-field': 'no field the (closed) response schema does not declare',
  'error-code': "an error body's code is one of the codes its status carries (the spec's error-code table)",
  'utc-timestamp': 'every date-time in a response is UTC, ending in Z',
  'header-schema': 'every declared response header is present when required and matches its schema',
  'body-schema': 'every response body matches its schema (types, required fields, patterns, enums, lengths)',
  status: 'every status is documented for its operation',
  'request-valid': "requests the run means to be valid are valid per the spec (else the run's case is wrong)",
  prism: 'Prism forwarded the request and validated the response itself',
} as const;

/** A class of Prism finding. */
export type PrismCheck = keyof typeof PRISM_CHECKS;
/** Every class of finding the observer records. */
export type CheckName = PrismCheck | SemanticCheck | StateCheck | 'allow' | 'transport';

/** Something wrong with one response. */
export interface Finding {
  check: CheckName;
  message: string;
}

/** One request and its response, as the observer saw them. */
export interface Exchange {
  requestId: string;
  method: string;
  url: string;
  route: 'prism' | 'direct';
  intent: 'valid' | 'invalid';
  status: number;
  /** Prism's request violations on a request that is invalid on purpose (expected, not findings). */
  expectedRequestViolations: number;
  findings: Finding[];
  ms: number;
}

/** One exchange as a watcher (the state model, src/contract/state) sees it; header names in lower case. */
export interface SeenExchange {
  requestId: string;
  method: string;
  url: string;
  requestHeaders: Record<string, string | undefined>;
  requestBody: string;
  status: number;
  headers: Record<string, string | undefined>;
  body: string;
  json: unknown;
}

/** Sees every exchange: `begin` as a request leaves for the target, `end` with its answer (none if there was none). */
export interface ExchangeWatcher {
  begin(method: string, url: string): number;
  end(ticket: number, seen: SeenExchange | undefined): Finding[];
}

/** Where the observer forwards and what it checks against. */
export interface ObserverOptions {
  /** Base URL of the server under test. */
  target: string;
  /** The spec's rule for X-Request-Id values. */
  requestIdRule: RequestIdRule;
  /** The (strict) spec's operations, for the responses Prism cannot validate. */
  operations: SpecOperation[];
  /** Called for every exchange with findings (a fail-fast run stops on the first). */
  onFindings?: (exchange: Exchange) => void;
  /** Sees every exchange and adds its findings (the state model). */
  watcher?: ExchangeWatcher;
}

export interface Observer {
  url: string;
  /** Sends later requests through Prism (until set, or with the direct route, they go to the target). */
  setPrism(url: string): void;
  /** A credential (key or user token) whose responses describe a rate-limit pool the run must not trip. */
  setPacedKey(key: string): void;
  exchanges: Exchange[];
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'host',
  'content-length',
]);

interface PrismViolation {
  location?: string[];
  severity?: string;
  code?: string | number;
  message?: string;
}

/** Sorts one of Prism's response violations into a check class. */
export function classifyViolation(violation: PrismViolation): PrismCheck {
  const location = violation.location ?? [];
  const message = violation.message ?? '';
  if (location[0] === 'request') {
    return 'request-valid';
  }
  if (violation.code === 'unevaluatedProperties' || violation.code === 'additionalProperties') {
    return 'undeclared-field';
  }
  if (location[1] === 'header' || location[1] === 'headers') {
    return 'header-schema';
  }
  if (/status code|statusCode/i.test(message)) {
    return 'status';
  }
  if (location.at(-1) === 'code' && location.includes('error')) {
    return 'error-code';
  }
  if (violation.code === 'pattern' && message.includes('"Z$"')) {
    return 'utc-timestamp';
  }
  return 'body-schema';
}

function lowerHeaders(headers: IncomingHttpHeaders): Record<string, string | undefined> {
  return Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : value]),
  );
}

function credentialOf(headers: IncomingHttpHeaders): string | undefined {
  const apiKey = headers['x-api-key'];
  if (typeof apiKey === 'string') {
    return apiKey.trim();
  }
  return /^Bearer\s+(\S+)/i.exec(String(headers.authorization ?? ''))?.[1];
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** A rate-limit window as the last response counted in it described it. */
interface Pool {
  /** The binding window's name (`RateLimit`'s), when the answer named it. */
  window?: string;
  remaining: number;
  limit: number;
  resetAt: number;
  /** When a wait for this pool's reset ended: the first answer to a request sent since must show the window refilled. */
  waitedUntil?: number;
}

// Requests to leave in a key's pool before waiting for it to refill: the run's phases send side by side.
const POOL_RESERVE = 3;
// Failed authentications to leave in the address's window: once spent, the target refuses every authenticated request.
const FAILURES_RESERVE = 2;
// Past an announced reset before sending: X-RateLimit-Reset is whole seconds, and the window may end within the next.
const RESET_MARGIN_MS = 1000;
/** The client address's pool of the operations counted per address (`x-rate-limit: address`: sign-up, log-in). */
const ADDRESS_POOL = '\u0000address';

function poolOfHeaders(headers: IncomingHttpHeaders): Pool | undefined {
  const remaining = Number(headers['x-ratelimit-remaining']);
  const reset = Number(headers['x-ratelimit-reset']);
  const limit = Number(headers['x-ratelimit-limit']);
  if (!Number.isInteger(remaining) || !Number.isInteger(reset)) {
    return undefined;
  }
  return {
    window: /^\s*"([^"]*)"/.exec(String(headers.ratelimit ?? ''))?.[1],
    remaining,
    limit: Number.isInteger(limit) ? limit : Number.POSITIVE_INFINITY,
    // A reset of 0 s still means "within this second": wait at least until the next one.
    resetAt: Date.now() + Math.max(reset, 1) * 1000,
  };
}

/**
 * The run's pacing: each paced credential's pool, the address pool, and the address's failed-authentication window,
 * as their last responses described them. A request waits for its pool's announced reset when too little is left,
 * so a target with little room is waited for instead of tripped. When the first answer after that wait still says
 * the pool is spent, the count did not reset as announced: that is a `counter` finding, and the pool is paced no
 * more (a remaining count that lies would otherwise hold every later request for a window, a run for hours).
 */
class Pacer {
  private readonly pools = new Map<string, Pool | undefined>([[ADDRESS_POOL, undefined]]);
  private readonly givenUp = new Set<string>();
  private failures: Pool | undefined;

  /** Paces `key`'s requests from now on. */
  add(key: string): void {
    if (!this.pools.has(key) && !this.givenUp.has(key)) {
      this.pools.set(key, undefined);
    }
  }

  /** The pool a request counts in: the address pool, its credential's, or none (unpaced, or not a paced one). */
  poolOf(unpaced: boolean, operation: SpecOperation | undefined, headers: IncomingHttpHeaders): string | undefined {
    if (unpaced) {
      return undefined;
    }
    const name = operation?.rateLimit === 'address' ? ADDRESS_POOL : credentialOf(headers);
    return name !== undefined && this.pools.has(name) ? name : undefined;
  }

  /** Waits, when an authenticated request would find the address locked out, for the failed-auth window. */
  async paceFailures(): Promise<void> {
    const failures = this.failures;
    if (failures && failures.remaining <= FAILURES_RESERVE && Date.now() < failures.resetAt) {
      await sleep(failures.resetAt - Date.now() + RESET_MARGIN_MS);
    }
    if (this.failures && Date.now() >= this.failures.resetAt) {
      this.failures = undefined;
    }
  }

  /** Waits for the pool's window when too little is left, then counts this request against it. */
  async pace(name: string | undefined): Promise<void> {
    const pool = name === undefined ? undefined : this.pools.get(name);
    if (name === undefined || pool === undefined) {
      return;
    }
    // The address pool is this run's alone and counted here exactly; a key's pool may be shared with others.
    const reserve = name === ADDRESS_POOL ? 0 : POOL_RESERVE;
    if (pool.remaining <= reserve && Date.now() < pool.resetAt) {
      await sleep(pool.resetAt - Date.now() + RESET_MARGIN_MS);
      pool.waitedUntil = Date.now();
    }
    if (Date.now() >= pool.resetAt) {
      // Unknown until the next answer (kept, to judge that answer, when it was waited for).
      this.pools.set(name, pool.waitedUntil ? { ...pool, remaining: Number.POSITIVE_INFINITY } : undefined);
    } else {
      pool.remaining -= 1; // requests sent side by side each take their share before any answers
    }
  }

  /**
   * Notes what the response to a request sent at `sentAt` says of its pool; a finding when a window waited for did not
   * refill as announced. An answer to a request sent before that wait ended describes the old window: ignored.
   */
  note(
    name: string | undefined,
    sentAt: number,
    response: { status: number; headers: IncomingHttpHeaders },
    authenticated: boolean,
  ): Finding[] {
    const { status, headers } = response;
    if (status === 401 && authenticated && name !== ADDRESS_POOL) {
      this.failures = poolOfHeaders(headers) ?? this.failures;
    }
    // A 401 or 431 was refused before it was counted: its headers describe this address's failed authentications.
    if (name === undefined || !this.pools.has(name) || status === 401 || status === 431) {
      return [];
    }
    const before = this.pools.get(name);
    const now = poolOfHeaders(headers);
    if (now === undefined) {
      return [];
    }
    if (before?.waitedUntil !== undefined && sentAt < before.waitedUntil) {
      return [];
    }
    const reserve = name === ADDRESS_POOL ? 0 : POOL_RESERVE;
    if (
      before?.waitedUntil !== undefined &&
      now.window === before.window &&
      now.remaining <= reserve &&
      now.limit > reserve + 1
    ) {
      this.pools.delete(name);
      this.givenUp.add(name);
      return [
        {
          check: 'counter',
          message: `X-RateLimit-Remaining is ${now.remaining} of ${now.limit} on the first request sent after the window's announced reset had passed (+${RESET_MARGIN_MS / 1000} s): the count did not reset as announced (pacing of this ${name === ADDRESS_POOL ? 'address' : 'credential'} given up)`,
        },
      ];
    }
    this.pools.set(name, now);
    return [];
  }
}

/**
 * Sends one request upstream. A kept-alive socket the upstream closed just as it was reused fails with ECONNRESET
 * before any answer (a race Node's documentation describes, wider on a loaded machine): that request is sent
 * again once, on a new socket.
 */
async function forward(upstream: URL, request: Upstream): Promise<UpstreamResponse> {
  try {
    return await forwardOnce(upstream, request);
  } catch (error) {
    if ((error as { staleSocket?: boolean }).staleSocket) {
      return forwardOnce(upstream, request);
    }
    throw error;
  }
}

/** A request as the observer sends it on. */
interface Upstream {
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** What the observer answers its client. */
interface Answer {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

function forwardOnce(upstream: URL, { method, path, headers, body }: Upstream): Promise<UpstreamResponse> {
  const send = upstream.protocol === 'https:' ? httpsRequest : httpRequest;
  const basePath = upstream.pathname.replace(/\/$/, '');
  return new Promise((done, fail) => {
    const req = send(
      {
        protocol: upstream.protocol,
        hostname: upstream.hostname,
        port: upstream.port,
        method,
        path: `${basePath}${path}`,
        headers: { ...headers, host: upstream.host, 'content-length': String(body.length) },
      },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => done({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', fail);
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => {
      fail(req.reusedSocket && error.code === 'ECONNRESET' ? Object.assign(error, { staleSocket: true }) : error);
    });
    req.end(body);
  });
}

/** The request's headers to send on: without hop-by-hop headers and the run's control headers. */
function headersToForward(incoming: IncomingHttpHeaders): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (
      value !== undefined &&
      !HOP_BY_HOP.has(name) &&
      name !== ROUTE_HEADER &&
      name !== INTENT_HEADER &&
      name !== PACE_HEADER
    ) {
      headers[name] = value;
    }
  }
  return headers;
}

/** The upstream's answer as the observer's own (its hop-by-hop headers left out). */
function answerOf(response: UpstreamResponse): Answer {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) {
      headers[name] = value;
    }
  }
  headers['content-length'] = String(response.body.length);
  return { status: response.status, headers, body: response.body };
}

function parseJsonBody(contentType: string, body: Buffer): unknown {
  if (!/json/i.test(contentType) || body.length === 0) {
    return undefined;
  }
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined; // the schemas (Prism, Dredd) report a body that is not JSON
  }
}

/**
 * Records what Prism found: `validated`, `no-operation` (a method the path does not declare: nothing to
 * validate against) or `prism-answered` (Prism answered itself instead of forwarding).
 */
function collectPrismVerdict(
  exchange: Exchange,
  headers: Record<string, string | undefined>,
  contentType: string,
  json: unknown,
): 'validated' | 'no-operation' | 'prism-answered' {
  const reported = headers['sl-violations'];
  const violations: PrismViolation[] = [];
  if (reported) {
    try {
      violations.push(...(JSON.parse(reported) as PrismViolation[]));
    } catch {
      violations.push({ message: reported });
    }
  }
  const problem = json as { type?: unknown; title?: string; detail?: string } | undefined;
  if (
    contentType.startsWith('application/problem+json') &&
    typeof problem?.type === 'string' &&
    (problem.type.includes('stoplight.io/prism') || problem.type === 'FetchError')
  ) {
    const unreachable = problem.type === 'FetchError';
    exchange.findings.push({
      check: unreachable ? 'transport' : 'prism',
      message:
        `${unreachable ? 'the target did not answer Prism' : 'Prism answered itself'}: ${exchange.status} ${problem.title ?? ''} ${problem.detail ?? ''}`.trim(),
    });
    return 'prism-answered';
  }
  let verdict: 'validated' | 'no-operation' = 'validated';
  for (const violation of violations) {
    if (violation.message === 'Selected route not found') {
      verdict = 'no-operation';
    }
    const check = classifyViolation(violation);
    if (check === 'request-valid' && exchange.intent === 'invalid') {
      exchange.expectedRequestViolations += 1;
      continue;
    }
    const where = (violation.location ?? []).join('.');
    exchange.findings.push({ check, message: `Prism: ${where ? `${where}: ` : ''}${violation.message ?? ''}` });
  }
  return verdict;
}

/** The observer's state: where it sends, what it paces, what it saw. */
interface ObserverState {
  options: ObserverOptions;
  target: URL;
  prism?: URL;
  pacer: Pacer;
  exchanges: Exchange[];
}

function record(state: ObserverState, exchange: Exchange): void {
  state.exchanges.push(exchange);
  if (exchange.findings.length > 0) {
    state.options.onFindings?.(exchange);
  }
}

/** The exchange of an incoming request, before it is sent on. */
function exchangeOf(state: ObserverState, req: IncomingMessage): Exchange {
  return {
    requestId: typeof req.headers['x-request-id'] === 'string' ? req.headers['x-request-id'] : '',
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    route: req.headers[ROUTE_HEADER] === 'direct' || !state.prism ? 'direct' : 'prism',
    intent: req.headers[INTENT_HEADER] === 'invalid' ? 'invalid' : 'valid',
    status: 0,
    expectedRequestViolations: 0,
    findings: [],
    ms: 0,
  };
}

/** Checks a response: Prism's verdict, the declared headers Prism could not see, the header semantics, the watcher. */
function checkResponse(
  state: ObserverState,
  exchange: Exchange,
  req: IncomingMessage,
  body: Buffer,
  response: UpstreamResponse,
  ticket: number,
): 'checked' | 'prism-answered' {
  const { options } = state;
  const responseHeaders = lowerHeaders(response.headers);
  const contentType = responseHeaders['content-type'] ?? '';
  const json = parseJsonBody(contentType, response.body);
  const verdict =
    exchange.route === 'prism' ? collectPrismVerdict(exchange, responseHeaders, contentType, json) : 'direct';
  if (verdict === 'prism-answered') {
    // Prism's own error (say, the target is unreachable): nothing of the target's to check.
    options.watcher?.end(ticket, undefined);
    return 'prism-answered';
  }
  if (verdict !== 'validated') {
    exchange.findings.push(
      ...checkDeclaredHeaders(options.operations, exchange.method, exchange.url, response.status, responseHeaders),
    );
  }
  const sentRequestId = typeof req.headers['x-request-id'] === 'string' ? req.headers['x-request-id'] : undefined;
  exchange.findings.push(
    ...checkSemantics(
      { status: response.status, headers: responseHeaders, body: json, sentRequestId },
      options.requestIdRule,
    ),
  );
  const seen: SeenExchange = {
    requestId: exchange.requestId,
    method: exchange.method,
    url: exchange.url,
    requestHeaders: lowerHeaders(req.headers),
    requestBody: body.toString('utf8'),
    status: response.status,
    headers: responseHeaders,
    body: response.body.toString('utf8'),
    json,
  };
  exchange.findings.push(...(options.watcher?.end(ticket, seen) ?? []));
  return 'checked';
}

/** One request through the observer: paced, sent on (through Prism or straight), checked, journalled. */
async function handle(state: ObserverState, req: IncomingMessage, body: Buffer): Promise<Answer> {
  const { options, pacer } = state;
  const started = Date.now();
  const exchange = exchangeOf(state, req);
  const operation = matchOperation(options.operations, exchange.method, exchange.url);
  const authenticated = operation === undefined || operation.security.length > 0;
  const unpaced = req.headers[PACE_HEADER] === 'none';
  const poolName = pacer.poolOf(unpaced, operation, req.headers);
  if (!unpaced && authenticated) {
    await pacer.paceFailures();
  }
  await pacer.pace(poolName);
  const sentAt = Date.now();
  const ticket = options.watcher?.begin(exchange.method, exchange.url) ?? 0;
  const upstream = exchange.route === 'prism' && state.prism ? state.prism : state.target;
  let response: UpstreamResponse;
  try {
    response = await forward(upstream, {
      method: exchange.method,
      path: exchange.url,
      headers: headersToForward(req.headers),
      body,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    exchange.status = 502;
    options.watcher?.end(ticket, undefined);
    exchange.findings.push({
      check: 'transport',
      message: `could not reach ${exchange.route === 'prism' ? 'Prism' : 'the target'}: ${message}`,
    });
    exchange.ms = Date.now() - started;
    record(state, exchange);
    return {
      status: 502,
      headers: { 'content-type': 'text/plain' },
      body: Buffer.from(`contract observer: ${message}`),
    };
  }
  exchange.status = response.status;
  exchange.findings.push(...pacer.note(poolName, sentAt, response, authenticated));
  const checked = checkResponse(state, exchange, req, body, response, ticket);
  exchange.ms = Date.now() - started;
  record(state, exchange);
  if (checked === 'prism-answered') {
    const contentType = String(response.headers['content-type'] ?? '');
    return { status: response.status, headers: { 'content-type': contentType }, body: response.body };
  }
  return answerOf(response);
}

/** Starts the observer in front of `target` on a free local port. */
export async function startObserver(options: ObserverOptions): Promise<Observer> {
  const state: ObserverState = { options, target: new URL(options.target), pacer: new Pacer(), exchanges: [] };
  const server = createServer({ maxHeaderSize: OBSERVER_MAX_HEADER_SIZE }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void handle(state, req, Buffer.concat(chunks)).then(({ status, headers, body }) => {
        res.writeHead(status, headers);
        res.end(body);
      });
    });
  });
  // Longer than any pause of the run's clients: the client's side closes an idle socket first (fetch takes the hint of
  // the Keep-Alive header), so no request is sent on a socket the observer is closing (a loaded machine's drift-test
  // control run once failed its setup with "fetch failed" at 5 s).
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', () => listening()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    setPrism(url) {
      state.prism = new URL(url);
    },
    setPacedKey(key) {
      state.pacer.add(key);
    },
    exchanges: state.exchanges,
    close: () =>
      new Promise<void>((closed) => {
        server.close(() => closed());
        server.closeAllConnections();
      }),
  };
}
