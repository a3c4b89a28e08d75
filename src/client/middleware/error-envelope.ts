import type { Middleware } from 'openapi-fetch';
import { isErrorEnvelope, toErrorEnvelope } from '../errors.ts';

/**
 * Makes every non-2xx response body a well-formed `ErrorEnvelope` whose `meta.requestId` is the response's
 * `X-Request-Id`, so the typed `error` of openapi-fetch is true even for a proxy's HTML page, an empty body or
 * problem+json (see `toErrorEnvelope`). Responses that already conform pass through untouched.
 */
export function errorEnvelopeMiddleware(): Middleware {
  return {
    async onResponse({ request, response }) {
      if (response.ok) {
        return undefined;
      }
      const text = await response.clone().text();
      let body: unknown = text;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch {
        // not JSON: keep the text, toErrorEnvelope describes it
      }
      const headerId = response.headers.get('X-Request-Id');
      if (isErrorEnvelope(body) && (headerId === null || body.meta.requestId === headerId)) {
        return undefined;
      }
      const envelope = toErrorEnvelope(body, response, request.headers.get('X-Request-Id') ?? undefined);
      const headers = new Headers(response.headers);
      headers.delete('Content-Length');
      headers.delete('Content-Encoding');
      headers.set('Content-Type', 'application/json');
      return new Response(JSON.stringify(envelope), {
        status: response.status,
        statusText: response.statusText,
        headers,
      });
    },
  };
}
