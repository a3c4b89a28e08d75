export type { components, operations, paths, webhooks } from '../../generated/schema.d.ts';
export {
  ALL_PERMISSIONS,
  type Environment,
  PERMISSIONS,
  type Permission,
  READ_PERMISSIONS,
} from '../lib/permissions.ts';
export {
  type ApiKey,
  type ApiKeyPaths,
  createMailroomAccountClient,
  createMailroomClient,
  type MailroomAccountClient,
  type MailroomAccountClientOptions,
  type MailroomClient,
  type MailroomClientOptions,
  type UserToken,
  type UserTokenPaths,
} from './client.ts';
export {
  ERROR_CODES,
  type ErrorCode,
  type ErrorDetails,
  type ErrorEnvelope,
  errorCodeForStatus,
  isErrorCode,
  MailroomError,
  type MailroomErrorInit,
} from './errors.ts';
export { type AuthScheme, authMiddleware } from './middleware/auth.ts';
export { errorEnvelopeMiddleware } from './middleware/error-envelope.ts';
export { idempotencyKeyMiddleware } from './middleware/idempotency-key.ts';
export {
  createRateLimitTracker,
  type RateLimitTracker,
  rateLimitStateMiddleware,
} from './middleware/rate-limit-state.ts';
export { requestIdMiddleware } from './middleware/request-id.ts';
export {
  DEFAULT_RETRY,
  isRepeatable,
  type RetryEvent,
  type RetryOptions,
  retryDelay,
  retryMiddleware,
} from './middleware/retry.ts';
export {
  createPacer,
  DEFAULT_PACING,
  decidePace,
  expirePace,
  observePace,
  type PaceDecision,
  type Pacer,
  type PaceState,
  type PacingOptions,
  pacedFetch,
  spendPace,
} from './pacer.ts';
export {
  type HeaderSource,
  parseRateLimitHeaders,
  parseRetryAfter,
  type RateLimitState,
} from './rate-limit-headers.ts';
export { advanceSandboxClock, resetSandbox, type SandboxClock, type SandboxReset } from './sandbox.ts';
export { type SuccessData, type SuccessMeta, unwrap, unwrapEnvelope } from './unwrap.ts';
export {
  type VerifyWebhookOptions,
  verifyWebhook,
  WEBHOOK_TOLERANCE_SECONDS,
  type WebhookEvent,
  type WebhookEventType,
  WebhookVerificationError,
} from './webhooks.ts';
