import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request as the scripted server received it. */
export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** What to answer: a status with headers and a body (objects are sent as JSON), or `destroy` to drop the socket. */
export type ScriptedReply = { status: number; headers?: Record<string, string>; body?: unknown } | 'destroy';

/** A real HTTP server on 127.0.0.1 that answers each request as the script says and records what it received. */
export interface ScriptedServer {
  url: string;
  requests: ReceivedRequest[];
  close: () => Promise<void>;
}

/** Starts a {@link ScriptedServer}; `script` gets each request and its 0-based index. */
export async function startScriptedServer(
  script: (request: ReceivedRequest, index: number) => ScriptedReply,
): Promise<ScriptedServer> {
  const requests: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const received: ReceivedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(received);
      const reply = script(received, requests.length - 1);
      if (reply === 'destroy') {
        req.socket.destroy();
        return;
      }
      const isText = typeof reply.body === 'string';
      const payload = reply.body === undefined ? '' : isText ? (reply.body as string) : JSON.stringify(reply.body);
      res.writeHead(reply.status, {
        ...(reply.body === undefined ? {} : { 'Content-Type': isText ? 'text/html' : 'application/json' }),
        ...reply.headers,
      });
      res.end(payload);
    });
  });
  await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.closeAllConnections();
        server.close(() => resolveClose());
      }),
  };
}

/** A success envelope as the server sends it. */
export function ok(data: unknown, meta?: unknown): ScriptedReply {
  return { status: 200, body: meta === undefined ? { success: true, data } : { success: true, data, meta } };
}

/** An error envelope with the matching X-Request-Id header, plus any extra headers. */
export function fail(
  status: number,
  code: string,
  requestId: string,
  headers: Record<string, string> = {},
): ScriptedReply {
  return {
    status,
    headers: { 'X-Request-Id': requestId, ...headers },
    body: { success: false, error: { code, message: `${code} from the scripted server` }, meta: { requestId } },
  };
}
