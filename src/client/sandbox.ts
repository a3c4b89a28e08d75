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
