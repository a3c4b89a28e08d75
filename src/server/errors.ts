import type { components } from '../../generated/schema.d.ts';
import { ERROR_STATUS, type ErrorCode } from '../lib/error-codes.ts';

export { ERROR_STATUS, type ErrorCode };

/** The spec's error body. */
export type ErrorEnvelope = components['schemas']['ErrorEnvelope'];
/** Per-field messages of a VALIDATION_ERROR. */
export type ErrorDetails = Record<string, string[]>;

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
