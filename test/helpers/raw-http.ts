import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';

/** One piece of what a raw exchange sends: bytes, or a pause (to send slowly, or to stop half-way). */
export type RawChunk = string | Uint8Array | { pauseMs: number };

/** A response as Node's own HTTP parser read it. */
export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Header names as sent, with their values, in order. */
  rawHeaders: string[];
  body: Buffer;
}

/** What came back on one connection. */
export interface RawExchange {
  /** The first complete response, or undefined when none came (closed, reset, unparseable or too slow). */
  response: RawResponse | undefined;
  /** Every byte the server sent, parseable or not. */
  received: Buffer;
  /** The server closed the connection (before `timeoutMs` ran out). */
  closedByServer: boolean;
  /** No complete response within `timeoutMs`. */
  timedOut: boolean;
  /** Why there is no response: a parse error of the answer, a reset, … */
  error: string | undefined;
  /** Milliseconds from connecting to the response (or to giving up). */
  elapsedMs: number;
}

/** Options of {@link exchangeRaw}. */
export interface RawOptions {
  /** Give up after this long without a complete response (default 10 s). */
  timeoutMs?: number;
  /** The request is a HEAD: its response has no body (the parser must know). */
  head?: boolean;
  /** After the response, wait this long for the server to close the connection (default 0: don't wait). */
  awaitCloseMs?: number;
}

/**
 * A stream for Node's own HTTP parser to read responses from: push what the server sends into it. Node's parser reads
 * a copy of what arrives, through a stream of its own: the reader closing its side after a response must not close
 * the real connection, whose closing by the server is part of what is observed.
 */
function responseParser(
  head: boolean,
  onResponse: (response: RawResponse) => void,
  onError: (message: string) => void,
): Duplex {
  const feed = new Duplex({
    read() {},
    write(_chunk, _encoding, done) {
      done();
    },
  });
  // Never ended, so it never sends anything: it only parses what comes back.
  const reader = httpRequest({ createConnection: () => feed as Socket, method: head ? 'HEAD' : 'GET' });
  reader.on('response', (res) => {
    const body: Buffer[] = [];
    res.on('data', (chunk: Buffer) => body.push(chunk));
    res.on('error', (failure: Error) => onError(failure.message));
    res.on('end', () =>
      onResponse({
        status: res.statusCode ?? 0,
        headers: res.headers,
        rawHeaders: res.rawHeaders,
        body: Buffer.concat(body),
      }),
    );
  });
  reader.on('error', (failure: NodeJS.ErrnoException) => {
    onError(failure.code ? `${failure.code}: ${failure.message}` : failure.message);
  });
  return feed;
}

/** Writes the chunks in order, pausing where asked, until `stopped()` (the exchange is over). */
async function sendChunks(
  socket: Socket,
  chunks: readonly RawChunk[],
  stopped: () => boolean,
  later: (ms: number, fn: () => void) => void,
): Promise<void> {
  for (const chunk of chunks) {
    if (stopped() || socket.destroyed) {
      return;
    }
    if (typeof chunk === 'object' && 'pauseMs' in chunk) {
      await new Promise<void>((done) => later(chunk.pauseMs, done));
    } else {
      socket.write(chunk);
    }
  }
}

/**
 * Sends bytes exactly as given over a fresh TCP connection and reads the first response with Node's own HTTP parser
 * (llhttp, through a client request that never writes anything itself): a response Node can't parse is reported as
 * such instead of being guessed at.
 */
export function exchangeRaw(
  target: { host: string; port: number },
  chunks: readonly RawChunk[],
  options: RawOptions = {},
): Promise<RawExchange> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const started = performance.now();
  return new Promise((resolve) => {
    const socket: Socket = connect({ host: target.host, port: target.port });
    const received: Buffer[] = [];
    let response: RawResponse | undefined;
    let error: string | undefined;
    let closedByServer = false;
    let settled = false;
    let responseAt: number | undefined;
    const timers: NodeJS.Timeout[] = [];
    const later = (ms: number, fn: () => void) => {
      timers.push(setTimeout(fn, ms));
    };

    const finish = (timedOut: boolean) => {
      if (settled) {
        return;
      }
      settled = true;
      for (const timer of timers) {
        clearTimeout(timer);
      }
      socket.destroy();
      const elapsedMs = Math.round((responseAt ?? performance.now()) - started);
      resolve({ response, received: Buffer.concat(received), closedByServer, timedOut, error, elapsedMs });
    };
    const noteError = (message: string) => {
      error ??= message;
    };

    const feed = responseParser(
      options.head ?? false,
      (parsed) => {
        responseAt = performance.now();
        response = parsed;
        const wait = options.awaitCloseMs ?? 0;
        if (closedByServer || wait === 0) {
          finish(false);
        } else {
          later(wait, () => finish(false));
        }
      },
      noteError,
    );
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      feed.push(chunk);
    });
    const serverClosed = () => {
      if (closedByServer) {
        return;
      }
      closedByServer = true;
      feed.push(null);
      // Let the parser deliver a response that ended with the connection (a body delimited by close) first.
      later(50, () => finish(false));
    };
    socket.on('end', serverClosed);
    socket.on('error', (failure: NodeJS.ErrnoException) => {
      noteError(failure.code ?? failure.message);
      serverClosed();
    });
    later(timeoutMs, () => finish(response === undefined));
    socket.once('connect', () => void sendChunks(socket, chunks, () => settled, later));
  });
}

/** A response header's value as one string (repeated headers joined with ", "). */
export function headerOf(response: RawResponse, name: string): string | undefined {
  const value = response.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : value;
}
