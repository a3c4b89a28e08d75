import type { Middleware } from 'openapi-fetch';
import { randomUuid } from '../random-uuid.ts';

/**
 * Gives every POST an `Idempotency-Key` (a random UUID unless the caller sent one). The retry middleware resends the
 * request with the same header, so a create retried after a lost answer (a 503, a dropped connection) is replayed by
 * the server instead of made twice. Operations that do not accept the header ignore it.
 */
export function idempotencyKeyMiddleware(generate: () => string = randomUuid): Middleware {
  return {
    onRequest({ request }) {
      if (request.method === 'POST' && !request.headers.has('Idempotency-Key')) {
        request.headers.set('Idempotency-Key', generate());
      }
      return undefined;
    },
  };
}
