import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import {
  DuplicateEmailError,
  DuplicateMemberError,
  DuplicateUserError,
  InvalidValueError,
  KeyLimitError,
  LastOwnerError,
  StoreUnavailableError,
} from '../store/types.ts';
import { ApiError, databaseUnavailable, errorBody, invalidField, unexpectedError } from './errors.ts';
import { sendJson } from './send-json.ts';

/**
 * Errors raised below the HTTP layer, by name: the store's typed errors, each named where it arises (the store knows
 * its SQLSTATEs). Everything the pipeline and the routes raise is already an ApiError from the catalogue (errors.ts);
 * anything else is a bug: a 500 whose stack is logged, never sent.
 */
const STORE_ERRORS: [new (...args: never[]) => Error, (err: Error) => ApiError][] = [
  [StoreUnavailableError, () => databaseUnavailable()],
  [DuplicateEmailError, (err) => new ApiError('DUPLICATE_RESOURCE', err.message)],
  [KeyLimitError, (err) => new ApiError('KEY_LIMIT_REACHED', err.message)],
  [DuplicateUserError, (err) => new ApiError('DUPLICATE_RESOURCE', err.message)],
  [DuplicateMemberError, (err) => new ApiError('DUPLICATE_RESOURCE', err.message)],
  [LastOwnerError, (err) => new ApiError('LAST_OWNER', err.message)],
  [InvalidValueError, (err) => invalidField('request', err.message)],
];

/** The error a thrown value is answered with: itself, its store error's mapping, or undefined for a bug. */
function apiErrorOf(err: unknown): ApiError | undefined {
  if (err instanceof ApiError) {
    return err;
  }
  for (const [type, convert] of STORE_ERRORS) {
    if (err instanceof type) {
      return convert(err);
    }
  }
  return undefined;
}

/** The one place that writes error bodies: every error becomes the spec's envelope with its code's status. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let apiError = apiErrorOf(err);
    if (!apiError) {
      logger.error({ err, requestId: req.id }, 'unhandled error');
      apiError = unexpectedError(req.id);
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
