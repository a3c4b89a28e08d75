import type { Middleware } from 'openapi-fetch';
import { randomUuid } from '../random-uuid.ts';

/**
 * Gives every request an `X-Request-Id` (a random UUID unless the caller sent one), so a call can be traced end to
 * end and retries of it share one id. The server echoes a valid caller id in `X-Request-Id` and `meta.requestId`.
 */
export function requestIdMiddleware(generate: () => string = randomUuid): Middleware {
  return {
    onRequest({ request }) {
      if (!request.headers.has('X-Request-Id')) {
        request.headers.set('X-Request-Id', generate());
      }
      return undefined;
    },
  };
}
