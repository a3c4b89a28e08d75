// A real webhook receiver for tests: an HTTP server on port 0 that records every delivery (headers and the raw body)
// and answers as the test says (a status, headers, or never).
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One delivery as received. */
export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** How to answer one delivery: a status (and headers), or `hang` (never answer). */
export type Answer = { status: number; headers?: Record<string, string> } | 'hang';

/** A running receiver. */
export interface Receiver {
  /** Its base URL, e.g. `http://127.0.0.1:53211`; any path under it receives. */
  url: string;
  received: Received[];
  /** Deliveries to `path` so far. */
  at(path: string): Received[];
  /** What the next deliveries to `path` get, in order; afterwards 200. */
  answer(path: string, ...answers: Answer[]): void;
  close(): Promise<void>;
}

/** Starts a receiver on 127.0.0.1, port 0. */
export async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const plans = new Map<string, Answer[]>();
  const hanging = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = req.url ?? '/';
      received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const answer = plans.get(path)?.shift() ?? { status: 200 };
      if (answer === 'hang') {
        hanging.add(res);
        return;
      }
      res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
      res.end('ok');
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    at: (path) => received.filter((r) => r.path === path),
    answer(path, ...answers) {
      plans.set(path, [...(plans.get(path) ?? []), ...answers]);
    },
    async close() {
      for (const res of hanging) {
        res.destroy();
      }
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
