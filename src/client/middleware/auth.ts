import type { Middleware } from 'openapi-fetch';

/** Which header carries the API key: `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export type AuthScheme = 'bearer' | 'x-api-key';

/**
 * Sets the API key on every request in the chosen header. A request that already carries `Authorization` or
 * `X-API-Key` (set per request through `headers`) is left alone, so a call can use another key without sending two.
 */
export function authMiddleware(apiKey: string, scheme: AuthScheme = 'bearer'): Middleware {
  return {
    onRequest({ request }) {
      if (request.headers.has('Authorization') || request.headers.has('X-API-Key')) {
        return undefined;
      }
      if (scheme === 'x-api-key') {
        request.headers.set('X-API-Key', apiKey);
      } else {
        request.headers.set('Authorization', `Bearer ${apiKey}`);
      }
      return undefined;
    },
  };
}
