import type { components } from '../../generated/schema.d.ts';

/** The spec's closed set of error codes. */
export type ErrorCode = components['schemas']['ErrorCode'];
/** The spec's error body. */
export type ErrorEnvelope = components['schemas']['ErrorEnvelope'];
/** Per-field messages of a VALIDATION_ERROR. */
export type ErrorDetails = Record<string, string[]>;

/** Each code's one HTTP status; `Record` makes the compiler insist on every code of the spec's enum. */
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
  SERVER_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
};

/** An error the caller should see as it is: code, message, optional details and extra headers. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetails | undefined;
  readonly headers: Record<string, string>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: ErrorDetails; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.details = options.details;
    this.headers = options.headers ?? {};
  }
}

/** Builds the error body for a request id. */
export function errorBody(code: ErrorCode, message: string, requestId: string, details?: ErrorDetails): ErrorEnvelope {
  return {
    success: false,
    error: details && Object.keys(details).length > 0 ? { code, message, details } : { code, message },
    meta: { requestId },
  };
}
