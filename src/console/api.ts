import {
  createMailroomAccountClient,
  type MailroomAccountClient,
  MailroomError,
  type RetryOptions,
} from '../client/index.ts';

export type { MailroomAccountClient, MailroomClient } from '../client/index.ts';
export { MailroomError, unwrap, unwrapEnvelope } from '../client/index.ts';

/**
 * Retries for a person at a screen: a short `Retry-After` (a burst window) is waited out quietly, a long one (the
 * failed-log-in window's minutes) comes back at once as RATE_LIMITED, and the page says when to try again.
 */
const CONSOLE_RETRY: RetryOptions = { maxRetries: 2, maxRetryAfterMs: 3_000 };

/**
 * The project's own client, in the browser, against the server that served the page: with the user token once signed
 * in, without it for sign-up and log-in.
 */
export function createConsoleClient(userToken?: string): MailroomAccountClient {
  return createMailroomAccountClient({
    baseUrl: window.location.origin,
    ...(userToken === undefined ? {} : { userToken }),
    retry: CONSOLE_RETRY,
  });
}

/** Whether an error means the user token no longer works (expired, logged out elsewhere, revoked): sign in again. */
export function endsSession(error: unknown): error is MailroomError {
  return error instanceof MailroomError && error.status === 401;
}

/** Any thrown value as a MailroomError-like record the error views can show (a network failure has no envelope). */
export function describeError(error: unknown): { message: string; error?: MailroomError } {
  if (error instanceof MailroomError) {
    return { message: error.message, error };
  }
  if (error instanceof TypeError) {
    // fetch's own failure: the server is down or unreachable; there was no response to read a message from.
    return { message: `The server could not be reached (${error.message}). Check that it is running, then retry.` };
  }
  return { message: error instanceof Error ? error.message : String(error) };
}
