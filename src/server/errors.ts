import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import type { components } from '../../generated/schema.d.ts';
import { ERROR_STATUS, type ErrorCode } from '../lib/error-codes.ts';
import {
  DuplicateEmailError,
  DuplicateMemberError,
  DuplicateUserError,
  InvalidValueError,
  KeyLimitError,
  LastOwnerError,
  StoreUnavailableError,
} from '../store/types.ts';
import { sendJson } from './send-json.ts';

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

/** The message of every VALIDATION_ERROR; what was invalid is in its details. */
export const INVALID_DATA = 'The given data was invalid';

/** The one message of a 503 caused by the rate-limit store. */
export const RATE_LIMIT_STORE_DOWN = 'The rate-limit store is unavailable. Retry with exponential backoff.';

/**
 * Errors raised below the HTTP layer, by name. Everything the pipeline raises itself is already an ApiError; these
 * are the store's typed errors. Anything else is a bug: a 500 whose stack is logged, never sent.
 */
const STORE_ERRORS: [new (...args: never[]) => Error, (err: Error) => ApiError][] = [
  [
    StoreUnavailableError,
    () => new ApiError('SERVICE_UNAVAILABLE', 'The database is unavailable. Retry with exponential backoff.'),
  ],
  [DuplicateEmailError, (err) => new ApiError('DUPLICATE_RESOURCE', err.message)],
  [KeyLimitError, (err) => new ApiError('KEY_LIMIT_REACHED', err.message)],
  [DuplicateUserError, (err) => new ApiError('DUPLICATE_RESOURCE', err.message)],
  [DuplicateMemberError, (err) => new ApiError('DUPLICATE_RESOURCE', err.message)],
  [LastOwnerError, (err) => new ApiError('LAST_OWNER', err.message)],
  [
    InvalidValueError,
    (err) => new ApiError('VALIDATION_ERROR', 'The given data was invalid', { details: { request: [err.message] } }),
  ],
];

/** The one place that writes error bodies: every error becomes the spec's envelope with its code's status. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let apiError: ApiError | undefined = err instanceof ApiError ? err : undefined;
    for (const [type, convert] of STORE_ERRORS) {
      if (!apiError && err instanceof type) {
        apiError = convert(err);
      }
    }
    if (!apiError) {
      logger.error({ err, requestId: req.id }, 'unhandled error');
      apiError = new ApiError(
        'SERVER_ERROR',
        `An unexpected error occurred. Quote request id ${req.id} if you contact support.`,
      );
    } else if (apiError.status >= 500) {
      logger.warn({ requestId: req.id, err: { type: err?.name, message: err?.message } }, apiError.message);
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    for (const [name, value] of Object.entries(apiError.headers)) {
      res.setHeader(name, value);
    }
    sendJson(res, apiError.status, errorBody(apiError.code, apiError.message, String(req.id), apiError.details));
  };
}
