import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import {
  type ApiError,
  DEFAULT_MAX_HEADER_SIZE,
  errorBody,
  HOST_REFUSALS,
  headersTooLarge,
  malformedRequest,
  methodNotAllowed,
  NOT_HTTP,
  PARSER_REFUSALS,
  requestTimedOut,
  routeNotFound,
  TARGET_WITH_FRAGMENT,
  tooManyHeaderFields,
} from './errors.ts';

// Node's HTTP layer answers some requests by itself, before (or instead of) calling the app: a head over
// `maxHeaderSize` (431), anything its parser refuses (400: bad request line, NUL/CR/obs-fold in a header, bad or
// duplicated Content-Length, Content-Length with Transfer-Encoding, an unknown transfer coding, bad chunk framing), a
// request that doesn't arrive in time (408), a missing Host (400), an `Expect` it doesn't know (417), and CONNECT (the
// socket is simply closed). Its answers have no body and no request id. This module takes each of those over and
// answers in the contract's envelope, with `X-Request-Id`, `Content-Type`, `Content-Length` and `Connection: close`.
//
// - Parser errors and timeouts arrive as `clientError` with the socket: the answer is written as raw HTTP/1.1. A
//   request that didn't arrive in time is 400 (incomplete, as an aborted body already is) rather than a new 408 code.
//   An error in a request pipelined behind a complete one is answered after that one's answer, never instead of it.
// - A missing, repeated or malformed Host is checked here (`requireHostHeader: false`), before the app runs.
// - So is the number of header fields: past `maxHeadersCount` Node silently drops headers from `req.headers` while its
//   parser still frames the body by them, so a Content-Length after 1,000 others reached the app as "no body".
// - So is a fragment in the request target (`GET /v1/contacts#x`): Node's parser lets `#` through, but RFC 9112's
//   request-target has no fragment, and the app's routing and its validator would read the path differently.
// - An unknown expectation (`Expect: foo`) is ignored, as RFC 9110 §10.1.1 allows: the request is served as if the
//   field were absent, so its answer is the operation's own. (417 would add a status to the contract for a field no
//   client of this API sends.)
// - A request target in absolute form is rewritten to the origin form the app routes on.
// - CONNECT is answered like any other method the spec doesn't declare: 405 with `Allow` on a spec path, else 404.
// - Nothing of the raw request is logged: it can hold a key.
//
// Rate-limit headers: a request refused here was never authenticated (its credentials are not read), so it can't
// be counted against an organization. The window that applies to an unauthenticated caller is the per-address
// failed-authentication window, so `/v1` answers describe that window for the connecting address, as a 401 does,
// without counting the request in it (`EdgeDeps.rateLimitHeadersFor`, wired in index.ts). So do the answers on the
// account paths that take a user token or are counted per address (sign-up, log-in); the liveness probe's carry none.

/** Limits of the HTTP layer (the defaults suit the contract: a head of at most 16 KiB, bodies of at most 100 KiB). */
export interface EdgeLimits {
  /** Request line and headers together, in bytes; more is 431. */
  maxHeaderSize: number;
  /** Header fields; more is 431 (Node would silently drop the excess, framing headers included, from what the app sees). */
  maxHeaderCount: number;
  /** Time for the request line and headers to arrive; then 400. */
  headersTimeoutMs: number;
  /** Time for the whole request, body included, to arrive; then 400. */
  requestTimeoutMs: number;
}

/** The defaults of {@link EdgeLimits}. */
export const DEFAULT_EDGE_LIMITS: EdgeLimits = {
  maxHeaderSize: DEFAULT_MAX_HEADER_SIZE,
  maxHeaderCount: 100,
  headersTimeoutMs: 20_000,
  requestTimeoutMs: 60_000,
};

/** What the HTTP edge needs from the rest of the server (wired in index.ts, so this module depends on none of it). */
export interface EdgeDeps {
  logger: Logger;
  /**
   * The rate-limit headers of an answer refused before the credentials were read, for a request to `path` (undefined
   * when it could not be read) from `address`: none outside `/v1`, else the address's window, not counted.
   */
  rateLimitHeadersFor(path: string | undefined, address: string): Promise<Record<string, string>>;
  /** The methods the spec declares on a URL path, or undefined when it is not one of its paths (CONNECT's `Allow`). */
  allowedMethods(path: string): string[] | undefined;
  /** The caller's `X-Request-Id` when it is sane, else a new id. */
  requestIdFor(given: string | undefined): string;
  limits?: Partial<EdgeLimits>;
}

/** One answer of the edge. */
interface EdgeAnswer {
  error: ApiError;
  /** The request's path (or its target, when not a path), undefined when unreadable; decides the rate-limit headers. */
  path: string | undefined;
  requestId: string;
  /** Why, for the log: a parser error code or a short tag. */
  reason: string;
}

/** The edge of one server: its dependencies, limits, and what it knows of each connection. */
interface Edge {
  deps: EdgeDeps;
  limits: EdgeLimits;
  /** The response in progress on each connection: a parser error or timeout can hit a request the app is serving. */
  inFlight: WeakMap<Socket, ServerResponse>;
  /** Connections the edge has answered and is closing. */
  refused: WeakSet<Socket>;
}

// How long a refused connection is kept open after the answer, reading and discarding what the client still sends:
// closing a socket with unread data makes the kernel send a reset, which can destroy the answer before it is read.
const LINGER_MS = 1000;

const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(?::[0-9]*)?$/;
const REQUEST_LINE = /^[!-~]+ ([!-~]+) HTTP\/[!-~]*\r?\n/;
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;

/** The path of a request target (origin- or absolute-form), or undefined for any other form. */
export function pathOfTarget(target: string): string | undefined {
  const rest = target.startsWith('/') ? target : ABSOLUTE_FORM.test(target) ? target.replace(ABSOLUTE_FORM, '') : '';
  if (!rest.startsWith('/')) {
    return undefined;
  }
  return rest.split(/[?#]/, 1)[0];
}

/**
 * Creates the HTTP server for `app` with the contract's answers at the edge (see the module comment): every answer
 * Node's HTTP layer would have made by itself is an error envelope with a request id.
 */
export function createEdgeServer(app: RequestListener, deps: EdgeDeps): Server {
  const edge: Edge = {
    deps,
    limits: { ...DEFAULT_EDGE_LIMITS, ...deps.limits },
    inFlight: new WeakMap(),
    refused: new WeakSet(),
  };
  const { limits } = edge;
  const onRequest: RequestListener = (req, res) => admitRequest(edge, app, req, res);
  const server = createServer(
    {
      maxHeaderSize: limits.maxHeaderSize,
      requireHostHeader: false,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // How often Node looks for requests over their time (default 30 s, which would stretch the limits above).
      connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(limits.headersTimeoutMs / 4))),
    },
    onRequest,
  );
  // Keep every header, so the count check sees them all (the size limit bounds them anyway).
  server.maxHeadersCount = 0;
  server.on('checkExpectation', onRequest);
  server.on('clientError', (error: NodeJS.ErrnoException & { rawPacket?: unknown }, socket: Socket) =>
    answerClientError(edge, error, socket),
  );
  server.on('connect', (req: IncomingMessage, socket: Socket) => answerConnect(edge, req, socket));
  return server;
}

/**
 * Hands a request Node parsed to the app, unless the edge refuses it first: too many header fields (431), a bad Host
 * or a fragment in the target (400). A target in absolute form is rewritten to the origin form first.
 */
function admitRequest(edge: Edge, app: RequestListener, req: IncomingMessage, res: ServerResponse): void {
  edge.inFlight.set(req.socket, res);
  // RFC 9112 §3.2.2: a server must accept the absolute form (`GET http://host/v1/x`); the app sees the origin form.
  const absolute = req.url === undefined ? null : ABSOLUTE_FORM.exec(req.url);
  if (absolute) {
    const rest = (req.url ?? '').slice(absolute[0].length);
    req.url = rest.startsWith('/') ? rest : `/${rest}`;
  }
  res.once('finish', () => {
    if (edge.inFlight.get(req.socket) === res) {
      edge.inFlight.delete(req.socket);
    }
  });
  const refusal = refusalOf(edge.limits, req);
  if (!refusal) {
    app(req, res);
    return;
  }
  void answerOnResponse(edge, req, res, {
    ...refusal,
    path: pathOfTarget(req.url ?? '') ?? req.url ?? '',
    requestId: edge.deps.requestIdFor(headerText(req.headers['x-request-id'])),
  }).catch((error: unknown) => {
    edge.deps.logger.error({ err: error }, 'HTTP layer failed to answer');
    res.destroy();
  });
}

/** Why the edge refuses a parsed request before the app sees it, or undefined when it doesn't. */
function refusalOf(limits: EdgeLimits, req: IncomingMessage): Pick<EdgeAnswer, 'error' | 'reason'> | undefined {
  if (req.rawHeaders.length / 2 > limits.maxHeaderCount) {
    return { error: tooManyHeaderFields(limits.maxHeaderCount), reason: 'header-count' };
  }
  const host = hostProblem(req);
  if (host !== undefined) {
    return { error: malformedRequest(host), reason: 'host' };
  }
  if (req.url?.includes('#')) {
    return { error: malformedRequest(TARGET_WITH_FRAGMENT), reason: 'fragment' };
  }
  return undefined;
}

/** Why a request's Host is refused (RFC 9112 §3.2), or undefined when it is acceptable. */
function hostProblem(req: IncomingMessage): string | undefined {
  let count = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]?.toLowerCase() === 'host') {
      count++;
    }
  }
  if (count > 1) {
    return HOST_REFUSALS.repeated;
  }
  const host = req.headers.host;
  if (host === undefined) {
    // HTTP/1.0 predates Host; HTTP/1.1 requires it.
    return req.httpVersion === '1.0' ? undefined : HOST_REFUSALS.missing;
  }
  return HOST.test(host) ? undefined : HOST_REFUSALS.invalid;
}

/**
 * Answers a parser error or timeout on the raw socket. An error in a request pipelined behind a complete one is
 * answered after that one's answer; an error in a request whose answer has started can only close the connection.
 */
function answerClientError(edge: Edge, error: NodeJS.ErrnoException & { rawPacket?: unknown }, socket: Socket): void {
  if (edge.refused.has(socket)) {
    // Already answered: this is the parser failing again on what the client still sends while we linger.
    return;
  }
  const errorCode = error.code;
  if (!socket.writable || !errorCode || /^E[A-Z]+$/.test(errorCode)) {
    // A connection error (reset, broken pipe): nothing can be said on it any more.
    socket.destroy();
    return;
  }
  const response = edge.inFlight.get(socket);
  const answer = (current: ServerResponse | undefined, target: string | undefined) => {
    void answerOnSocket(edge, socket, {
      error: describeClientError(errorCode, edge.limits, current !== undefined),
      path: target === undefined ? undefined : (pathOfTarget(target) ?? target),
      requestId: edge.deps.requestIdFor(headerText((current?.req as { id?: unknown } | undefined)?.id)),
      reason: errorCode,
    }).catch((failure: unknown) => {
      edge.deps.logger.error({ err: failure }, 'HTTP layer failed to answer');
      socket.destroy();
    });
  };
  if (response?.req.complete) {
    // The error is in a later, pipelined request: the complete one is answered first, then this one.
    edge.refused.add(socket);
    const afterIt = () => answer(undefined, undefined);
    if (response.writableFinished) {
      afterIt();
    } else {
      response.once('finish', afterIt);
    }
    return;
  }
  if (response?.headersSent) {
    // The request being answered is the one that broke: its answer can't be taken back, nor completed.
    socket.destroy();
    return;
  }
  answer(response, response ? response.req.url : targetInPacket(error.rawPacket));
}

/** The answer to a parser error or timeout (none of the request is echoed). */
function describeClientError(code: string, limits: EdgeLimits, inFlight: boolean): ApiError {
  if (code === 'HPE_HEADER_OVERFLOW') {
    return headersTooLarge(limits.maxHeaderSize);
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return requestTimedOut(inFlight, limits);
  }
  return malformedRequest(PARSER_REFUSALS[code] ?? NOT_HTTP);
}

/** The request target of the request line at the start of `packet`, if it starts with one. */
function targetInPacket(packet: unknown): string | undefined {
  if (!Buffer.isBuffer(packet)) {
    return undefined;
  }
  return REQUEST_LINE.exec(packet.subarray(0, 16 * 1024 + 64).toString('latin1'))?.[1];
}

/** Answers CONNECT as any undeclared method: 405 with `Allow` on a path of the spec, else 404. */
function answerConnect(edge: Edge, req: IncomingMessage, socket: Socket): void {
  // Node hands the socket over without a parser: read and drop whatever follows, then answer.
  socket.resume();
  const target = req.url ?? '';
  const path = pathOfTarget(target);
  const allowed = path === undefined ? undefined : edge.deps.allowedMethods(path);
  const requestId = edge.deps.requestIdFor(headerText(req.headers['x-request-id']));
  const answer: EdgeAnswer = allowed
    ? { error: methodNotAllowed('CONNECT', path ?? target, allowed.join(', ')), path, requestId, reason: 'connect' }
    : { error: routeNotFound('CONNECT', target), path: path ?? target, requestId, reason: 'connect' };
  void answerOnSocket(edge, socket, answer).catch((failure: unknown) => {
    edge.deps.logger.error({ err: failure }, 'HTTP layer failed to answer');
    socket.destroy();
  });
}

/** Writes the answer as raw HTTP/1.1 on a socket no response object owns, then closes it gently. */
async function answerOnSocket(edge: Edge, socket: Socket, answer: EdgeAnswer): Promise<void> {
  edge.refused.add(socket);
  socket.on('error', () => socket.destroy());
  const headers = await headersFor(edge, answer, socket.remoteAddress);
  if (socket.destroyed || !socket.writable || edge.inFlight.get(socket)?.headersSent) {
    // The client left, or the app answered while the headers were computed.
    socket.destroy();
    return;
  }
  const text = bodyOf(answer);
  const { status } = answer.error;
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(text)}`,
    `Date: ${new Date().toUTCString()}`,
    'Connection: close',
  ];
  logAnswer(edge, answer);
  socket.end(`${lines.join('\r\n')}\r\n\r\n${text}`, () => {
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  });
}

/** Answers a request that has a response object (the edge's own checks) and closes the connection after it. */
async function answerOnResponse(
  edge: Edge,
  req: IncomingMessage,
  res: ServerResponse,
  answer: EdgeAnswer,
): Promise<void> {
  const headers = await headersFor(edge, answer, req.socket.remoteAddress);
  const text = bodyOf(answer);
  logAnswer(edge, answer);
  res.writeHead(answer.error.status, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    Connection: 'close',
  });
  res.end(text);
}

/** The answer's headers: its request id, its error's own (`Allow`), and the rate-limit headers of its path. */
async function headersFor(edge: Edge, answer: EdgeAnswer, address: string | undefined) {
  const rate = await edge.deps.rateLimitHeadersFor(answer.path, address ?? 'unknown');
  return { 'X-Request-Id': answer.requestId, ...answer.error.headers, ...rate };
}

function bodyOf(answer: EdgeAnswer): string {
  return JSON.stringify(errorBody(answer.error.code, answer.error.message, answer.requestId));
}

function logAnswer(edge: Edge, answer: EdgeAnswer): void {
  const { code, status } = answer.error;
  edge.deps.logger.info(
    { requestId: answer.requestId, status, code, reason: answer.reason },
    `HTTP layer answered ${status} ${code} (${answer.reason})`,
  );
}

/** A header value as one string, if it is one. */
function headerText(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
