// Test-only: a deliberately drifted server, for the drift test of test/contract/contract.test.ts.
// `npm run test:contract -- --interpose test/contract/drift-proxy.ts` puts this HTTP hop between the
// contract checks and the real reference server; it breaks the contract the way a careless change
// to the server would, and the contract run must then fail. No source file is touched.
//
// MAILROOM_DRIFT picks the drifts (comma-separated; default: the first two):
//   no-remaining-on-404  404 responses lose their X-RateLimit-Remaining header
//   rename-key-prefix    `keyPrefix` is renamed `prefix` in every JSON body
//   total-as-string      `meta.total` is sent as a string ("2" instead of 2): only a schema catches it
//   remaining-not-number X-RateLimit-Remaining is sent as "plenty": only a header schema catches it
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

type Drift = (response: { status: number; headers: Record<string, string | string[]>; body: unknown }) => void;

function renameKey(value: unknown, from: string, to: string): unknown {
  if (Array.isArray(value)) {
    return value.map((item) => renameKey(item, from, to));
  }
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) => [key === from ? to : key, renameKey(inner, from, to)]),
    );
  }
  return value;
}

export const DRIFTS: Record<string, Drift> = {
  'no-remaining-on-404': (response) => {
    if (response.status === 404) {
      delete response.headers['x-ratelimit-remaining'];
    }
  },
  'rename-key-prefix': (response) => {
    response.body = renameKey(response.body, 'keyPrefix', 'prefix');
  },
  'total-as-string': (response) => {
    const meta = (response.body as { meta?: { total?: unknown } } | undefined)?.meta;
    if (meta && typeof meta.total === 'number') {
      meta.total = String(meta.total);
    }
  },
  'remaining-not-number': (response) => {
    if (response.headers['x-ratelimit-remaining'] !== undefined) {
      response.headers['x-ratelimit-remaining'] = 'plenty';
    }
  },
};

const DEFAULT_DRIFTS = ['no-remaining-on-404', 'rename-key-prefix'];

function selectedDrifts(): Drift[] {
  const names = process.env.MAILROOM_DRIFT ? process.env.MAILROOM_DRIFT.split(',') : DEFAULT_DRIFTS;
  return names.map((name) => {
    const drift = DRIFTS[name.trim()];
    if (!drift) {
      throw new Error(`unknown drift "${name}" (known: ${Object.keys(DRIFTS).join(', ')})`);
    }
    return drift;
  });
}

/** Starts the drifted hop in front of `upstream`; the contract run's `--interpose` entry point. */
export async function interpose(upstream: string): Promise<{ url: string; close: () => Promise<void> }> {
  const drifts = selectedDrifts();
  const target = new URL(upstream);
  // As large a head as the server takes and more, so the server's own 431 is what comes back.
  const server = createServer({ maxHeaderSize: 64 * 1024 }, (req, res) => {
    const forward = request(
      {
        hostname: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target.host },
      },
      (upstreamRes) => {
        const chunks: Buffer[] = [];
        upstreamRes.on('data', (chunk: Buffer) => chunks.push(chunk));
        upstreamRes.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          const headers = { ...upstreamRes.headers } as Record<string, string | string[]>;
          const isJson = String(headers['content-type'] ?? '').includes('json');
          let body: unknown = raw;
          if (isJson && raw !== '') {
            body = JSON.parse(raw);
          }
          const response = { status: upstreamRes.statusCode ?? 502, headers, body };
          for (const drift of drifts) {
            drift(response);
          }
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
      res.end(`drift proxy: ${error.message}`);
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
