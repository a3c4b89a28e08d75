// How the contract run's own code (setup, scenario, clean-up) talks to the target: always through the
// observer, each request with a caller-supplied X-Request-Id that names the case it belongs to.
import { INTENT_HEADER, ROUTE_HEADER } from './observer.ts';
import type { Json } from './spec.ts';

/** One request of the run. */
export interface SendOptions {
  method?: string;
  path: string;
  /** Sent as X-API-Key, or as Authorization: Bearer with `bearer`. */
  key?: string;
  bearer?: boolean;
  headers?: Record<string, string>;
  /** JSON-encoded, unless `raw` is given. */
  body?: unknown;
  raw?: string;
  contentType?: string;
  /** `direct` skips Prism (for requests Prism would answer itself, such as malformed JSON). */
  route?: 'direct';
  /** `invalid`: the request breaks the spec on purpose, so Prism's request violations are expected. */
  intent?: 'invalid';
  /** A caller-supplied X-Request-Id of the case's choosing (default: the next id of the run). */
  requestId?: string;
}

/** A response, read. */
export interface Sent {
  requestId: string;
  status: number;
  headers: Headers;
  json: Json;
  text: string;
}

/** Sends requests through the observer and remembers which case each request id belongs to. */
export class RunClient {
  readonly attribution = new Map<string, string>();
  private counter = 0;

  constructor(
    readonly observerUrl: string,
    readonly runId: string,
  ) {}

  /** The next request id of the run: `mrc-<run>.<kind>:<n>`, within the spec's documented alphabet. */
  nextId(kind: string): string {
    this.counter += 1;
    return `mrc-${this.runId}.${kind}:${this.counter}`;
  }

  async send(caseName: string, options: SendOptions): Promise<Sent> {
    const requestId = options.requestId ?? this.nextId('r');
    this.attribution.set(requestId, caseName);
    const headers: Record<string, string> = {
      Accept: 'application/json',
      'X-Request-Id': requestId,
      ...options.headers,
    };
    if (options.key !== undefined) {
      if (options.bearer) {
        headers.Authorization = `Bearer ${options.key}`;
      } else {
        headers['X-API-Key'] = options.key;
      }
    }
    if (options.route) {
      headers[ROUTE_HEADER] = options.route;
    }
    if (options.intent) {
      headers[INTENT_HEADER] = options.intent;
    }
    let body: string | undefined;
    if (options.raw !== undefined) {
      body = options.raw;
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
    }
    if (body !== undefined) {
      headers['Content-Type'] = options.contentType ?? 'application/json';
    }
    const response = await fetch(`${this.observerUrl}${options.path}`, {
      method: options.method ?? 'GET',
      headers,
      body,
    });
    const text = await response.text();
    let json: Json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { requestId, status: response.status, headers: response.headers, json, text };
  }
}
