/** Mailroom's programmatic entry point: run the reference server in-process (tests, scripts) and its building blocks. */

export { generateApiKey, hashApiKey, maskApiKey, parseApiKey, verifyApiKey } from './keys/api-key.ts';
export { ERROR_STATUS, type ErrorCode } from './lib/error-codes.ts';
export { DEFAULT_FAILED_AUTH_WINDOW, DEFAULT_PLANS, type PlanTable, parsePlans } from './rate-limit/plans.ts';
export { type CreateKeyOptions, type ServerHandle, type ServerOptions, startServer } from './server/index.ts';
