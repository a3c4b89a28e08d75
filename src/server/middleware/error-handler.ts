import type { ErrorRequestHandler, Request } from 'express';
import { error as validatorErrors } from 'express-openapi-validator';
import type { Logger } from 'pino';
import { RateLimiterUnavailableError } from '../../rate-limit/limiter.ts';
import type { WindowConfig } from '../../rate-limit/plans.ts';
import { DuplicateEmailError, StoreUnavailableError } from '../../store/types.ts';
import { ApiError, type ErrorDetails, errorBody } from '../errors.ts';
import { scrubKeys } from '../logger.ts';
import { isV1Path } from '../spec.ts';
import { exhaustedHeaders } from './rate-limit.ts';

interface ValidatorErrorItem {
  path: string;
  message: string;
  errorCode?: string;
  params?: Record<string, unknown>;
}

/** `/body/name` → `name`, `/query/limit` → `query.limit`, `/params/keyId` → `keyId`, `/body` → `body`. */
export function fieldOf(path: string): string {
  const parts = path.split(/[./]/).filter(Boolean);
  const [where, ...rest] = parts;
  if (where === 'body') {
    return rest.length > 0 ? rest.join('.') : 'body';
  }
  if (where === 'params' || where === 'path') {
    return rest.join('.') || 'path';
  }
  if (where === 'query' || where === 'headers') {
    return [where, ...rest].join('.');
  }
  return parts.join('.') || 'request';
}

/** Groups the validator's messages by field, as easymail's `details` does. */
export function validationDetails(items: ValidatorErrorItem[]): ErrorDetails {
  // Field names come from the caller's body (`__proto__`, `constructor`): no prototype to collide with.
  const details: ErrorDetails = Object.create(null);
  for (const item of items) {
    let field = fieldOf(item.path);
    let message = item.message;
    const extra = item.params?.additionalProperty;
    if (typeof extra === 'string') {
      field = field === 'body' || field === 'query' ? extra : `${field}.${extra}`;
      message = 'is not an allowed field';
    } else if (item.message === 'must NOT have additional properties') {
      message = 'is not an allowed field';
    } else if (/^Unknown query parameter/i.test(item.message)) {
      message = 'is not an allowed query parameter';
    }
    const messages = details[field] ?? [];
    messages.push(message);
    details[field] = messages;
  }
  return details;
}

interface BodyParserError {
  type?: string;
  status?: number;
}

/** Turns any error into an ApiError; the second value says whether it is our bug (logged with its stack). */
function toApiError(err: unknown, req: Request): [ApiError, boolean] {
  if (err instanceof ApiError) {
    return [err, false];
  }
  if (err instanceof StoreUnavailableError) {
    return [new ApiError('SERVICE_UNAVAILABLE', 'The database is unavailable. Retry with exponential backoff.'), false];
  }
  if (err instanceof RateLimiterUnavailableError) {
    return [
      new ApiError('SERVICE_UNAVAILABLE', 'The rate-limit store is unavailable. Retry with exponential backoff.'),
      false,
    ];
  }
  if (err instanceof DuplicateEmailError) {
    return [new ApiError('DUPLICATE_RESOURCE', err.message), false];
  }
  const parserType = (err as BodyParserError | null)?.type;
  if (parserType === 'entity.parse.failed') {
    return [new ApiError('BAD_REQUEST', 'The request body is not valid JSON'), false];
  }
  if (parserType === 'entity.too.large') {
    return [new ApiError('PAYLOAD_TOO_LARGE', 'The request body exceeds the 100 KiB limit'), false];
  }
  if (parserType === 'encoding.unsupported' || parserType === 'charset.unsupported') {
    return [new ApiError('UNSUPPORTED_MEDIA_TYPE', 'Unsupported body encoding or charset: send UTF-8 JSON'), false];
  }
  if (parserType === 'request.aborted' || parserType === 'request.size.invalid') {
    return [new ApiError('BAD_REQUEST', 'The request body was incomplete'), false];
  }
  const pgCode = (err as { code?: unknown } | null)?.code;
  if (pgCode === '22021' || pgCode === '22P05') {
    // PostgreSQL can't store U+0000 or an invalid byte sequence in text: the input is invalid, not our failure.
    return [
      new ApiError('VALIDATION_ERROR', 'The given data was invalid', {
        details: { request: ['must not contain the NUL character (U+0000) or invalid UTF-8'] },
      }),
      false,
    ];
  }
  if (err instanceof validatorErrors.UnsupportedMediaType) {
    const type = req.get('content-type') ?? 'none';
    return [new ApiError('UNSUPPORTED_MEDIA_TYPE', `Unsupported media type ${type}: send application/json`), false];
  }
  if (err instanceof validatorErrors.RequestEntityTooLarge) {
    return [new ApiError('PAYLOAD_TOO_LARGE', 'The request body exceeds the 100 KiB limit'), false];
  }
  if (err instanceof validatorErrors.BadRequest) {
    return [
      new ApiError('VALIDATION_ERROR', 'The given data was invalid', {
        details: validationDetails(err.errors as ValidatorErrorItem[]),
      }),
      false,
    ];
  }
  // Any other client error raised while reading the body (http-errors: bad Content-Encoding data, …).
  const httpStatus = (err as { status?: unknown; expose?: unknown } | null)?.status;
  if (
    (err as { expose?: unknown } | null)?.expose === true &&
    typeof httpStatus === 'number' &&
    !('errors' in (err as object))
  ) {
    if (httpStatus === 413) {
      return [new ApiError('PAYLOAD_TOO_LARGE', 'The request body exceeds the 100 KiB limit'), false];
    }
    if (httpStatus === 415) {
      return [new ApiError('UNSUPPORTED_MEDIA_TYPE', 'Unsupported body encoding: send uncompressed UTF-8 JSON'), false];
    }
    if (httpStatus >= 400 && httpStatus < 500) {
      return [new ApiError('BAD_REQUEST', 'The request body could not be read'), false];
    }
  }
  if (err instanceof validatorErrors.NotFound) {
    return [new ApiError('RESOURCE_NOT_FOUND', `No route ${req.method} ${scrubKeys(req.path)}`), false];
  }
  if (err instanceof validatorErrors.MethodNotAllowed) {
    return [new ApiError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${scrubKeys(req.path)}`), false];
  }
  return [
    new ApiError('SERVER_ERROR', `An unexpected error occurred. Quote request id ${req.id} if you contact support.`),
    true,
  ];
}

/** The one place that writes error bodies: every error becomes the spec's envelope with its code's status. */
export function errorHandler(logger: Logger, windowsOf: (req: Request) => WindowConfig[]): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let converted: [ApiError, boolean];
    try {
      converted = toApiError(err, req);
    } catch (conversionError) {
      converted = [new ApiError('SERVER_ERROR', 'An unexpected error occurred.'), true];
      (req.log ?? logger).error({ err: conversionError }, 'error handler failed to convert an error');
    }
    const [apiError, isBug] = converted;
    const log = req.log ?? logger;
    if (isBug) {
      log.error({ err, requestId: req.id }, 'unhandled error');
    } else if (apiError.status >= 500) {
      log.warn({ err: { type: (err as Error)?.name, message: (err as Error)?.message } }, apiError.message);
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    for (const [name, value] of Object.entries(apiError.headers)) {
      res.setHeader(name, value);
    }
    // A /v1 answer always describes its limits. When the limiter itself could not answer (fail-closed outage),
    // nothing is admitted, so every window is shown exhausted.
    if (isV1Path(req.path) && !res.hasHeader('X-RateLimit-Limit')) {
      for (const [name, value] of Object.entries(exhaustedHeaders(windowsOf(req)))) {
        res.setHeader(name, value);
      }
    }
    res.status(apiError.status).json(errorBody(apiError.code, apiError.message, String(req.id), apiError.details));
  };
}
