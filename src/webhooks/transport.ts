import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { isPrivateAddress, privateAddressProblem, resolveAll, type UrlPolicy } from './url-guard.ts';

// How a delivery reaches its receiver: a POST over node:http(s) whose connections resolve their host through
// `guardedLookup`. The endpoint's URL was checked when it was saved, but a name can be pointed elsewhere since (DNS
// rebinding: public at the check, 127.0.0.1 at the connect). Resolving once, checking those very addresses and
// connecting only to them leaves no second lookup to be answered differently. Redirects are never followed
// (node:http doesn't), and nothing of the answer's body is kept.

/** A lookup that resolved to a private address (the attempt fails with it as its error). */
export class PrivateAddressError extends Error {
  readonly code = 'EPRIVATEADDRESS';
}

/**
 * The `lookup` of every delivery connection: resolves `hostname` with the policy's resolver, refuses it when any of
 * its addresses is loopback, private or link-local (unless private webhooks are allowed), and otherwise gives the
 * connection exactly those addresses.
 */
export function guardedLookup(policy: UrlPolicy): LookupFunction {
  const resolve = policy.resolve ?? resolveAll;
  return (hostname, options, callback) => {
    const done = callback as (err: Error | null, address?: unknown, family?: number) => void;
    resolve(hostname).then(
      (resolved) => {
        const blocked = policy.allowPrivate ? undefined : resolved.find(isPrivateAddress);
        if (blocked !== undefined) {
          done(new PrivateAddressError(`refused: the URL ${privateAddressProblem(hostname, blocked)}`));
          return;
        }
        const wanted = options.family === 4 || options.family === 6 ? options.family : 0;
        const addresses = resolved.filter((address) => wanted === 0 || isIP(address) === wanted);
        const first = addresses[0];
        if (first === undefined) {
          done(Object.assign(new Error(`host ${hostname} does not resolve`), { code: 'ENOTFOUND' }));
        } else if (options.all) {
          done(
            null,
            addresses.map((address) => ({ address, family: isIP(address) })),
          );
        } else {
          done(null, first, isIP(first));
        }
      },
      (err: unknown) => done(err instanceof Error ? err : new Error(String(err))),
    );
  };
}

/** What a receiver answered: its status and headers (the body is drained, not read). */
export interface WebhookAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
}

/** Sends webhooks through connections that only reach addresses the policy allows. */
export interface WebhookTransport {
  post(
    url: string,
    init: { body: string; headers: Record<string, string>; signal: AbortSignal },
  ): Promise<WebhookAnswer>;
  /** Closes the kept-alive connections. */
  close(): void;
}

/** A transport whose connections (kept alive between attempts) resolve through {@link guardedLookup}. */
export function webhookTransport(policy: UrlPolicy): WebhookTransport {
  const lookup = guardedLookup(policy);
  const agents = {
    'http:': new http.Agent({ keepAlive: true, lookup }),
    'https:': new https.Agent({ keepAlive: true, lookup }),
  };
  return {
    post(url, init) {
      const target = new URL(url);
      const send = target.protocol === 'https:' ? https.request : http.request;
      return new Promise((resolve, reject) => {
        const request = send(
          target,
          {
            method: 'POST',
            agent: target.protocol === 'https:' ? agents['https:'] : agents['http:'],
            lookup,
            signal: init.signal,
            headers: { ...init.headers, 'content-length': String(Buffer.byteLength(init.body)) },
          },
          (response) => {
            response.resume();
            response.on('error', () => {});
            resolve({ status: response.statusCode ?? 0, headers: response.headers });
          },
        );
        request.on('error', reject);
        request.end(init.body);
      });
    },
    close() {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}
