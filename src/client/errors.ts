import type { components } from '../../generated/schema.d.ts';
import { ERROR_CODES, ERROR_STATUS, type ErrorCode } from '../lib/error-codes.ts';
import { parseRetryAfter } from './rate-limit-headers.ts';

/** The spec's closed set of error codes, every code in the spec's order, and each code's one HTTP status. */
export { ERROR_CODES, ERROR_STATUS, type ErrorCode };

/** The body of every Mailroom error response. */
export type ErrorEnvelope = components['schemas']['ErrorEnvelope'];

/** Per-field validation messages (`error.details`). */
export type ErrorDetails = NonNullable<ErrorEnvelope['error']['details']>;

// A status may carry several codes (409: DUPLICATE_RESOURCE, or an idempotency conflict); the first listed is its
// generic code, the one to assume when a body names none.
const CODE_BY_STATUS = new Map<number, ErrorCode>();
for (const code of ERROR_CODES) {
  if (!CODE_BY_STATUS.has(ERROR_STATUS[code])) {
    CODE_BY_STATUS.set(ERROR_STATUS[code], code);
  }
}

/** Whether `value` is one of the spec's error codes. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_STATUS, value);
}

/**
 * The code for a status when the body does not name one (an HTML page from a proxy, an empty body, an unknown code):
 * the spec's status of each code; 502 and 504 are SERVICE_UNAVAILABLE; any other 4xx is BAD_REQUEST; anything else
 * is SERVER_ERROR.
 */
export function errorCodeForStatus(status: number): ErrorCode {
  const exact = CODE_BY_STATUS.get(status);
  if (exact !== undefined) {
    return exact;
  }
  if (status === 502 || status === 504) {
    return 'SERVICE_UNAVAILABLE';
  }
  return status >= 400 && status < 500 ? 'BAD_REQUEST' : 'SERVER_ERROR';
}

/** What a {@link MailroomError} is built from. */
export interface MailroomErrorInit {
  code: ErrorCode;
  status: number;
  message: string;
  details?: ErrorDetails | undefined;
  requestId: string;
  retryAfterSeconds?: number | undefined;
}

/** An error response of the Mailroom API: branch on `code`, quote `requestId` to support. */
export class MailroomError extends Error {
  override readonly name = 'MailroomError';
  /** The spec's error code. */
  readonly code: ErrorCode;
  /** The HTTP status of the response. */
  readonly status: number;
  /** Per-field messages on VALIDATION_ERROR, otherwise undefined. */
  readonly details: ErrorDetails | undefined;
  /** The response's `X-Request-Id` (else the body's `meta.requestId`, else the id the client sent). */
  readonly requestId: string;
  /** `Retry-After` of the response in whole seconds (rounded up), when it had one. */
  readonly retryAfterSeconds: number | undefined;

  constructor(init: MailroomErrorInit) {
    super(init.message);
    this.code = init.code;
    this.status = init.status;
    this.details = init.details;
    this.requestId = init.requestId;
    this.retryAfterSeconds = init.retryAfterSeconds;
  }

  /** Builds the error for a non-2xx response from its parsed body (any shape) and headers. */
  static fromResponse(body: unknown, response: Response, sentRequestId?: string): MailroomError {
    const { error, meta } = toErrorEnvelope(body, response, sentRequestId);
    const retryAfterMs = parseRetryAfter(response.headers.get('Retry-After'));
    return new MailroomError({
      code: error.code,
      status: response.status,
      message: error.message,
      details: error.details,
      requestId: meta.requestId,
      retryAfterSeconds: retryAfterMs === undefined ? undefined : Math.ceil(retryAfterMs / 1000),
    });
  }
}

/**
 * Normalizes the body of a non-2xx response into a well-formed {@link ErrorEnvelope}. A valid envelope is kept (with
 * `meta.requestId` set to the response's `X-Request-Id` when it has one). Anything else — HTML from a proxy, an
 * empty body, problem+json, an unknown code — gets the code of its status ({@link errorCodeForStatus}) and a message
 * saying what came back; `meta.requestId` is the response's `X-Request-Id`, else the body's, else `sentRequestId`.
 */
export function toErrorEnvelope(body: unknown, response: Response, sentRequestId?: string): ErrorEnvelope {
  const bodyError = isRecord(body) && isRecord(body.error) ? body.error : undefined;
  const bodyRequestId = isRecord(body) && isRecord(body.meta) ? body.meta.requestId : undefined;
  const requestId =
    response.headers.get('X-Request-Id') ??
    (typeof bodyRequestId === 'string' ? bodyRequestId : undefined) ??
    sentRequestId ??
    '';
  const code = isErrorCode(bodyError?.code) ? bodyError.code : errorCodeForStatus(response.status);
  const message =
    typeof bodyError?.message === 'string' && bodyError.message !== ''
      ? bodyError.message
      : describeUnexpectedBody(body, response);
  const envelope: ErrorEnvelope = { success: false, error: { code, message }, meta: { requestId } };
  if (isDetails(bodyError?.details)) {
    envelope.error.details = bodyError.details;
  }
  return envelope;
}

/** Whether `body` is exactly a well-formed error envelope (what the spec promises for every error). */
export function isErrorEnvelope(body: unknown): body is ErrorEnvelope {
  return (
    isRecord(body) &&
    body.success === false &&
    isRecord(body.error) &&
    isErrorCode(body.error.code) &&
    typeof body.error.message === 'string' &&
    (body.error.details === undefined || isDetails(body.error.details)) &&
    isRecord(body.meta) &&
    typeof body.meta.requestId === 'string'
  );
}

function describeUnexpectedBody(body: unknown, response: Response): string {
  const status = `${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
  // problem+json (RFC 9457) and other JSON errors usually say what went wrong in one of these fields.
  if (isRecord(body)) {
    for (const field of ['detail', 'title', 'message'] as const) {
      const value = body[field];
      if (typeof value === 'string' && value !== '') {
        return `HTTP ${status}: ${value}`;
      }
    }
  }
  const type = response.headers.get('Content-Type') ?? 'no content type';
  return `HTTP ${status} without a Mailroom error body (${type})`;
}

function isDetails(value: unknown): value is ErrorDetails {
  return (
    isRecord(value) &&
    Object.values(value).every((messages) => Array.isArray(messages) && messages.every((m) => typeof m === 'string'))
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
