import type { components } from '../../generated/schema.d.ts';
import type { MailroomClient } from './client.ts';
import { unwrap } from './unwrap.ts';

/** What a sandbox reset restored: the spec's `SandboxReset`. */
export type SandboxReset = components['schemas']['SandboxReset'];

/**
 * Resets a sandbox (`mailroom serve --sandbox`) to the state it started with, its fixture's records: for a test's
 * set-up, `beforeEach(() => resetSandbox(mailroom))`, with any key of the sandbox. The reset empties the sandbox's
 * rate-limit windows too, so the client first forgets what it knew of them (a spent window would otherwise hold the
 * reset, and the next test, until it reset by itself). On a server that is not a sandbox the path is unknown: it throws
 * a `MailroomError` with status 404.
 */
export async function resetSandbox(client: MailroomClient): Promise<SandboxReset> {
  client.forgetRateLimits();
  return unwrap(client.POST('/sandbox/reset'));
}

/** The sandbox's clock after a move: the spec's `SandboxClock` (`now`, `offsetSeconds`). */
export type SandboxClock = components['schemas']['SandboxClock'];

/**
 * Moves a sandbox's clock `seconds` forward (1 s to 365 days; `POST /sandbox/clock`), so what takes time happens now
 * in a test: a key made to expire in a day is refused once the clock is a day on, and the sandbox's expiry scan sends
 * `api_key.expiring` / `api_key.expired` at once. Rate-limit windows and webhook signatures keep the real time; a
 * reset ({@link resetSandbox}) puts the clock back. On a server that is not a sandbox it throws a `MailroomError` with
 * status 404; out of bounds, 422.
 */
export async function advanceSandboxClock(client: MailroomClient, seconds: number): Promise<SandboxClock> {
  return unwrap(client.POST('/sandbox/clock', { body: { advanceSeconds: seconds } }));
}
