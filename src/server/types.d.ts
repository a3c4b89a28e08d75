import type { ApiKeyWithPlan } from '../store/types.ts';

declare global {
  namespace Express {
    interface Request {
      /** The request id, also in `X-Request-Id` and every error's `meta.requestId`. */
      id: string;
      /** The authenticated key, set by `authenticate`. */
      auth?: { key: ApiKeyWithPlan; organizationId: string; plan: string };
      /** The spec path template the request matched, e.g. `/v1/api-keys/{keyId}`. */
      specPath?: string;
    }
  }
}
