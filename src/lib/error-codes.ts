import type { components } from '../../generated/schema.d.ts';

/** The spec's closed set of error codes. */
export type ErrorCode = components['schemas']['ErrorCode'];

/**
 * Each code's one HTTP status (the spec's `x-error-statuses`). Typed as a full `Record`, so a code added to or removed
 * from the spec's enum fails the type check here; shared by the server and the client.
 */
export const ERROR_STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  RESOURCE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  DUPLICATE_RESOURCE: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  VALIDATION_ERROR: 422,
  RATE_LIMITED: 429,
  HEADERS_TOO_LARGE: 431,
  SERVER_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
};
