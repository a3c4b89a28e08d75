import type { LimitDecision } from '../rate-limit/decision.ts';
import type { Caller } from './caller.ts';

declare global {
  namespace Express {
    interface Request {
      /** The request id, also in `X-Request-Id` and every error's `meta.requestId`. */
      id: string;
      /** Who the operation's security admitted, and what they may do; unset on public operations. */
      caller?: Caller;
      /** The rate-limit decision this request was admitted under (counted, or peeked for `x-rate-limit: peek`). */
      rateLimit?: LimitDecision;
      /** The body's bytes exactly as they arrived (a signature over them is checked: secret-scanning reports). */
      rawBody?: Buffer;
      /** The spec path template the request matched, e.g. `/v1/api-keys/{keyId}`. */
      specPath?: string;
      /** The documented outcome a sandbox scenario forces (`mailroom serve --scenarios`), and its example's name. */
      scenario?: { status: number; example: string | undefined };
    }
  }
}
