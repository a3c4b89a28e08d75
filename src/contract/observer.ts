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

interface Pool {
  remaining: number;
  resetAt: number;
}

// Requests to leave in the pool before waiting for it to refill: the run's phases send side by side.
const POOL_RESERVE = 3;

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

/** Starts the observer in front of `target` on a free local port. */
export async function startObserver(options: ObserverOptions): Promise<Observer> {
  const target = new URL(options.target);
  let prism: URL | undefined;
  // Each paced credential's pool, and the client address's pool of the operations counted per address
  // (`x-rate-limit: address`: sign-up, log-in), as their last responses described them.
  const pools = new Map<string, Pool | undefined>();
  const ADDRESS_POOL = '\u0000address';
  pools.set(ADDRESS_POOL, undefined);
  // The client address's failed-authentication window, as the last 401 described it. When it is spent the target
  // refuses every authenticated request from this address (429), so near its end everything waits for it.
  let failures: Pool | undefined;
  const FAILURES_RESERVE = 2;

  async function paceFailures(): Promise<void> {
    if (failures && failures.remaining <= FAILURES_RESERVE && Date.now() < failures.resetAt) {
      await sleep(failures.resetAt - Date.now() + 1000);
    }
    if (failures && Date.now() >= failures.resetAt) {
      failures = undefined;
    }
  }
  const exchanges: Exchange[] = [];

  /** Waits for the pool's window when too little is left, then counts this request against it. */
  async function pace(name: string | undefined): Promise<void> {
    const pool = name === undefined ? undefined : pools.get(name);
    if (name === undefined || pool === undefined) {
      return;
    }
    // The address pool is this run's alone and counted here exactly; a key's pool may be shared with others.
    const reserve = name === ADDRESS_POOL ? 0 : POOL_RESERVE;
    if (pool.remaining <= reserve && Date.now() < pool.resetAt) {
      // A second past the announced reset: X-RateLimit-Reset is whole seconds, and the window may end within the next.
      await sleep(pool.resetAt - Date.now() + 1000);
    }
    if (Date.now() >= pool.resetAt) {
      pools.set(name, undefined);
    } else {
      pool.remaining -= 1; // requests sent side by side each take their share before any answers
    }
  }

  function notePool(name: string | undefined, status: number, headers: IncomingHttpHeaders): void {
    if (name === undefined || !pools.has(name) || status === 401) {
      return;
    }
    const remaining = Number(headers['x-ratelimit-remaining']);
    const reset = Number(headers['x-ratelimit-reset']);
    if (Number.isInteger(remaining) && Number.isInteger(reset)) {
      // A reset of 0 s still means "within this second": wait at least until the next one.
      pools.set(name, { remaining, resetAt: Date.now() + Math.max(reset, 1) * 1000 });
    }
  }

  /**
   * Sends one request upstream. A kept-alive socket the upstream closed just as it was reused fails with ECONNRESET
   * before any answer (a race Node's documentation describes, wider on a loaded machine): that request is sent
   * again once, on a new socket.
   */
  async function forward(
    upstream: URL,
    method: string,
    path: string,
    headers: Record<string, string | string[]>,
    body: Buffer,
  ): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
    try {
      return await forwardOnce(upstream, method, path, headers, body);
    } catch (error) {
      if ((error as { staleSocket?: boolean }).staleSocket) {
        return forwardOnce(upstream, method, path, headers, body);
      }
      throw error;
    }
  }

  function forwardOnce(
    upstream: URL,
    method: string,
    path: string,
    headers: Record<string, string | string[]>,
    body: Buffer,
  ): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
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
          res.on('end', () =>
            done({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on('error', fail);
        },
      );
      req.on('error', (error: NodeJS.ErrnoException) => {
        fail(req.reusedSocket && error.code === 'ECONNRESET' ? Object.assign(error, { staleSocket: true }) : error);
      });
      req.end(body);
    });
  }

  const server = createServer({ maxHeaderSize: OBSERVER_MAX_HEADER_SIZE }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void handle(req, Buffer.concat(chunks)).then(({ status, headers, body }) => {
        res.writeHead(status, headers);
        res.end(body);
      });
    });
  });

  async function handle(
    req: IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; headers: Record<string, string | string[]>; body: Buffer }> {
    const started = Date.now();
    const route = req.headers[ROUTE_HEADER] === 'direct' || !prism ? 'direct' : 'prism';
    const intent = req.headers[INTENT_HEADER] === 'invalid' ? 'invalid' : 'valid';
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers)) {
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
    const sentRequestId = typeof req.headers['x-request-id'] === 'string' ? req.headers['x-request-id'] : undefined;
    const unpaced = req.headers[PACE_HEADER] === 'none';
    const operation = matchOperation(options.operations, req.method ?? 'GET', req.url ?? '/');
    const authenticated = operation === undefined || operation.security.length > 0;
    const poolName = unpaced
      ? undefined
      : operation?.rateLimit === 'address'
        ? ADDRESS_POOL
        : credentialOf(req.headers);
    const exchange: Exchange = {
      requestId: sentRequestId ?? '',
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      route,
      intent,
      status: 0,
      expectedRequestViolations: 0,
      findings: [],
      ms: 0,
    };
    if (!unpaced && authenticated) {
      await paceFailures();
    }
    await pace(poolName);
    const ticket = options.watcher?.begin(exchange.method, exchange.url) ?? 0;
    let response: { status: number; headers: IncomingHttpHeaders; body: Buffer };
    try {
      response = await forward(
        route === 'prism' && prism ? prism : target,
        exchange.method,
        exchange.url,
        headers,
        body,
      );
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      exchange.status = 502;
      options.watcher?.end(ticket, undefined);
      exchange.findings.push({
        check: 'transport',
        message: `could not reach ${route === 'prism' ? 'Prism' : 'the target'}: ${message}`,
      });
      exchange.ms = Date.now() - started;
      record(exchange);
      return {
        status: 502,
        headers: { 'content-type': 'text/plain' },
        body: Buffer.from(`contract observer: ${message}`),
      };
    }
    exchange.status = response.status;
    notePool(poolName, response.status, response.headers);
    if (response.status === 401 && authenticated && poolName !== ADDRESS_POOL) {
      const remaining = Number(response.headers['x-ratelimit-remaining']);
      const reset = Number(response.headers['x-ratelimit-reset']);
      if (Number.isInteger(remaining) && Number.isInteger(reset)) {
        failures = { remaining, resetAt: Date.now() + Math.max(reset, 1) * 1000 };
      }
    }

    const responseHeaders = lowerHeaders(response.headers);
    const contentType = responseHeaders['content-type'] ?? '';
    let json: unknown;
    if (/json/i.test(contentType) && response.body.length > 0) {
      try {
        json = JSON.parse(response.body.toString('utf8'));
      } catch {
        json = undefined; // the schemas (Prism, Dredd) report a body that is not JSON
      }
    }
    const verdict = route === 'prism' ? collectPrismVerdict(exchange, responseHeaders, contentType, json) : 'direct';
    if (verdict === 'prism-answered') {
      // Prism's own error (say, the target is unreachable): nothing of the target's to check.
      options.watcher?.end(ticket, undefined);
      exchange.ms = Date.now() - started;
      record(exchange);
      return { status: response.status, headers: { 'content-type': contentType }, body: response.body };
    }
    if (verdict !== 'validated') {
      for (const finding of checkDeclaredHeaders(
        options.operations,
        exchange.method,
        exchange.url,
        response.status,
        responseHeaders,
      )) {
        exchange.findings.push(finding);
      }
    }
    for (const finding of checkSemantics(
      { status: response.status, headers: responseHeaders, body: json, sentRequestId },
      options.requestIdRule,
    )) {
      exchange.findings.push(finding);
    }
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
    exchange.ms = Date.now() - started;
    record(exchange);
    const outHeaders: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) {
        outHeaders[name] = value;
      }
    }
    outHeaders['content-length'] = String(response.body.length);
    return { status: response.status, headers: outHeaders, body: response.body };
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

  function record(exchange: Exchange): void {
    exchanges.push(exchange);
    if (exchange.findings.length > 0) {
      options.onFindings?.(exchange);
    }
  }

  server.keepAliveTimeout = 5_000;
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', () => listening()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    setPrism(url) {
      prism = new URL(url);
    },
    setPacedKey(key) {
      if (!pools.has(key)) {
        pools.set(key, undefined);
      }
    },
    exchanges,
    close: () =>
      new Promise<void>((closed) => {
        server.close(() => closed());
        server.closeAllConnections();
      }),
  };
}
