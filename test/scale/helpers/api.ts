// Calling an instance over HTTP, waiting for a recovery, and reporting figures (never asserted).

export interface ApiResponse {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field in the tests.
  body: any;
  /** Wall time of the request, for the report only: tests never assert on it. */
  ms: number;
}

/** The longest wall time among `responses`, for the report (never asserted). */
export function slowest(responses: readonly ApiResponse[]): number {
  return Math.max(...responses.map((r) => r.ms));
}

/** One request to an instance; the key goes in `Authorization: Bearer`. */
export async function api(
  server: { url: string },
  path: string,
  options: { key?: string; method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined) {
    headers.authorization = `Bearer ${options.key}`;
  }
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
  }
  const started = performance.now();
  const res = await fetch(`${server.url}${path}`, {
    method: options.method ?? 'GET',
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  const ms = Math.round(performance.now() - started);
  let body: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('json') && text !== '') {
    body = JSON.parse(text);
  }
  return { status: res.status, headers: res.headers, body, ms };
}

const sleep = (ms: number) => new Promise((resolveSleep) => setTimeout(resolveSleep, ms));

/**
 * Calls `probe` until it returns true, at most `timeoutMs`; returns how long it took (for the report). Throws with
 * `what` when the bound passes: a recovery that never comes fails the test instead of hanging it.
 */
export async function pollUntil(what: string, probe: () => Promise<boolean>, timeoutMs = 15_000): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await probe().catch(() => false)) {
      return Date.now() - started;
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    }
    await sleep(100);
  }
}

/** The rate-limit headers the spec requires on every /v1 answer, 503 included. */
export const RATE_LIMIT_HEADERS = [
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'ratelimit-policy',
  'ratelimit',
] as const;

/** The rate-limit headers of `res` that are missing. */
export function missingRateLimitHeaders(res: ApiResponse): string[] {
  return RATE_LIMIT_HEADERS.filter((name) => !res.headers.has(name));
}

/** Writes a measurement to stderr when MAILROOM_SCALE_VERBOSE is set (figures for reports; never asserted). */
export function note(message: string): void {
  if (process.env.MAILROOM_SCALE_VERBOSE) {
    process.stderr.write(`[scale] ${message}\n`);
  }
}
