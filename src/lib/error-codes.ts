/**
 * The spec's error codes and each one's HTTP status, shared by the server and the client. Written once, as the
 * `x-error-codes` table of openapi/components/schemas/ErrorCode.yaml; `npm run generate` turns it into
 * generated/error-codes.js (with its .d.ts), re-exported here.
 */
export { ERROR_CODES, ERROR_STATUS, type ErrorCode } from '../../generated/error-codes.js';
