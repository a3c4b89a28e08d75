// Prism's validating proxy in front of the target, validating every response against the strict spec. It is
// the server `prism proxy` runs (@stoplight/prism-http-server in proxy mode, as @stoplight/prism-cli 5.14
// configures it), hosted in this process: loading Prism costs about two seconds of CPU, paid once per process
// instead of once per run (the drift test makes dozens of runs).
//
// It runs without `errors`: Prism then forwards every request, including the ones that break the spec on
// purpose, and reports what it found in each response's `sl-violations` header instead of answering itself.
import { Writable } from 'node:stream';
import { createLogger } from '@stoplight/prism-core';
import { getHttpOperationsFromSpec } from '@stoplight/prism-http';
import { createServer } from '@stoplight/prism-http-server';
import type { Json } from './spec.ts';

/** A running Prism validating proxy. */
export interface PrismProxy {
  url: string;
  /** Prism's log (JSON lines), for failure reports. */
  output(): string;
  stop(): Promise<void>;
}

/** Starts Prism's validating proxy for `spec` in front of `upstream` on a free local port. */
export async function startPrismProxy(spec: Json, upstream: string): Promise<PrismProxy> {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger('PRISM', { level: 'info' }, sink);
  const operations = await getHttpOperationsFromSpec(spec);
  const server = createServer(operations, {
    cors: false,
    components: { logger },
    config: {
      isProxy: true,
      upstream: new URL(upstream),
      upstreamProxy: undefined,
      validateRequest: true,
      validateResponse: true,
      checkSecurity: true,
      errors: false,
      mock: { dynamic: false },
    },
  });
  const url = await server.listen(0, '127.0.0.1');
  return {
    url,
    output: () => lines.join(''),
    stop: () => server.close(),
  };
}
