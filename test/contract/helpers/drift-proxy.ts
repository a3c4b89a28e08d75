// Test-only: an HTTP hop in front of the reference server that can break the contract the way a careless
// change to a server would (a server drift from test/contract/helpers/drifts.ts), without touching src/. The drift
// test points the contract run at it by URL, like any deployment.
//
// It also plays load balancer: every request it forwards carries its own X-Forwarded-For (the upstream
// server trusts it), so runs side by side through different hops each have their own client address, and
// one run locking its address out (the last case of a run) leaves the others alone. A request that carries its own
// (the sign-in spray's, from the run's own documentation addresses) keeps it, as a client behind the hop would.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, request } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A response as the hop holds it while a drift changes it. */
export interface HopResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON when the body was JSON, else the raw text. */
  body: unknown;
}

export interface HopRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export type ResponseDrift = (response: HopResponse, request: HopRequest) => void;

export interface DriftHop {
  url: string;
  close(): Promise<void>;
}

/** Starts the hop in front of `upstream`; `drift` (if any) rewrites every response. */
export async function startDriftHop(
  upstream: string,
  { drift, forwardedFor }: { drift?: ResponseDrift; forwardedFor: string },
): Promise<DriftHop> {
  const target = new URL(upstream);
  // As large a head as the server takes and more, so the server's own 431 is what comes back.
  const server = createServer({ maxHeaderSize: 64 * 1024 }, (req, res) => {
    const forward = request(
      {
        hostname: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: {
          ...req.headers,
          host: target.host,
          'x-forwarded-for': req.headers['x-forwarded-for'] ?? forwardedFor,
        },
      },
      (upstreamRes) => {
        const chunks: Buffer[] = [];
        upstreamRes.on('data', (chunk: Buffer) => chunks.push(chunk));
        upstreamRes.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          const headers: HopResponse['headers'] = { ...upstreamRes.headers };
          let body: unknown = raw;
          if (String(headers['content-type'] ?? '').includes('json') && raw !== '') {
            body = JSON.parse(raw);
          }
          const response: HopResponse = { status: upstreamRes.statusCode ?? 502, headers, body };
          drift?.(response, { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers });
          const out = typeof response.body === 'string' ? response.body : JSON.stringify(response.body);
          delete response.headers['transfer-encoding'];
          response.headers['content-length'] = String(Buffer.byteLength(out));
          res.writeHead(response.status, response.headers);
          res.end(out);
        });
      },
    );
    forward.on('error', (error) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`drift hop: ${error.message}`);
    });
    req.pipe(forward);
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((closed) => {
        server.close(() => closed());
        server.closeAllConnections();
      }),
  };
}

/** Calls `visit` on every object in a JSON value. */
export function eachObject(value: unknown, visit: (object: Record<string, unknown>) => void): void {
  if (Array.isArray(value)) {
    for (const item of value) {
      eachObject(item, visit);
    }
  } else if (value && typeof value === 'object') {
    visit(value as Record<string, unknown>);
    for (const inner of Object.values(value)) {
      eachObject(inner, visit);
    }
  }
}

export const newRequestId = () => randomUUID();
