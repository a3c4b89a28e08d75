import type { Response } from 'express';
import { hashUserToken } from '../keys/user-token.ts';
import { combineDecisions, type LimitDecision, selectBindingWindow } from '../rate-limit/decision.ts';
import { writeRateLimitHeaders } from '../rate-limit/headers.ts';
import type { WindowSubject } from '../rate-limit/limiter.ts';
import { admit } from './admit.ts';
import type { AppContext } from './context.ts';
import { FAILED_LOG_INS, FAILED_LOG_INS_FROM_ADDRESS } from './errors.ts';
import { storableAddress } from './session-use.ts';

// Guessing a password must not lock its owner out (OWASP Authentication Cheat Sheet: lockout is a denial of service
// anyone who knows an email can cause). Every try of a password — a log-in, or the current password of a password
// change — is counted, before the password is checked, in two windows of failed attempts (rate-limit/plans.ts):
//
//   account-address  per email and client address (5 in 15 minutes): refuses that pair only;
//   account          per email, every address together (10 an hour): refuses only addresses that have not signed in
//                    to the account in the last SIGN_IN_MEMORY_DAYS days. An address that has is held to its own
//                    account-address window alone, so the owner, at home, signs in during any attack.
//
// Counting first (and taking the count back when the password was right, or the try was refused) makes the limit
// exact under concurrency: RLF counts atomically, so of N simultaneous guesses at most the window's limit are tried.
// Both windows are keyed by a keyed hash of the email, whether or not it has an account, and an unknown email takes
// the same steps (a sign-in lookup for a user that cannot exist), so a refusal says nothing about registration.

/** How long a successful sign-in from an address exempts that address from the account's window. */
export const SIGN_IN_MEMORY_DAYS = 30;

const DAY_MS = 86_400_000;

/** The user id an unknown email's sign-in lookup asks for: no user has it, and the lookup costs the same. */
const NO_USER = 'usr_0000000000000000';

/** A try of a password, counted: its windows, and what to do once the password turned out right. */
export interface PasswordAttempt {
  /** Every window the try counts in (with the request's own, e.g. the address or user window), as answered. */
  readonly decision: LimitDecision;
  /** The password was right: the try is no failure. Takes its counts back and answers the windows as they now are. */
  succeeded(): Promise<void>;
}

/** The failed-attempt windows of `email` (and `address`), keyed by keyed hashes: no email or address in the keys. */
function windowsOf(
  email: string,
  address: string,
  serverSecret: string,
): { pair: WindowSubject; account: WindowSubject } {
  const key = (text: string) => hashUserToken(text, serverSecret).slice(0, 32);
  const normalized = email.toLowerCase();
  return {
    pair: { window: 'account-address', id: key(`account-address:${normalized}\n${address}`) },
    account: { window: 'account', id: key(`account:${normalized}`) },
  };
}

/** What a 429 of these windows says it counted. */
function whatCounted(decision: LimitDecision): string {
  return decision.binding.name === 'account-address' ? FAILED_LOG_INS_FROM_ADDRESS : FAILED_LOG_INS;
}

/** The decision with one request of each named window given back (an attempt that was not a failure). */
function givenBack(decision: LimitDecision, names: ReadonlySet<string>): LimitDecision {
  const windows = decision.windows.map((window) =>
    names.has(window.name) ? { ...window, remaining: Math.min(window.limit, window.remaining + 1) } : window,
  );
  return { ...decision, windows, binding: selectBindingWindow(windows) };
}

/**
 * Counts a try of `email`'s password from `address` at `at`, before the password is checked, and refuses it (429 with
 * Retry-After, the windows in the headers) when a window says so. `userId` is the account's, or null for an email
 * without one; `base` is the decision the request was already counted in (its address or user window).
 */
export async function countPasswordAttempt(
  ctx: AppContext,
  res: Response,
  attempt: { email: string; userId: string | null; address: string; at: Date; base: LimitDecision },
): Promise<PasswordAttempt> {
  const { limiter } = ctx;
  const { pair, account } = windowsOf(attempt.email, attempt.address, ctx.serverSecret);
  const [pairDecision, accountDecision] = await Promise.all([
    limiter.consume(pair, attempt.at),
    limiter.consume(account, attempt.at),
  ]);
  let subjects = [pair, account];
  let countedIn = [pairDecision, accountDecision];
  let decision = combineDecisions(combineDecisions(attempt.base, pairDecision), accountDecision);
  if (!accountDecision.allowed && !accountDecision.outage) {
    const since = new Date(attempt.at.getTime() - SIGN_IN_MEMORY_DAYS * DAY_MS);
    if (await ctx.store.hasRecentSignIn(attempt.userId ?? NO_USER, storableAddress(attempt.address), since)) {
      // This address signed in lately: the account's window, spent by others, is not its limit.
      await limiter.refund(account, attempt.at);
      subjects = [pair];
      countedIn = [pairDecision];
      decision = combineDecisions(attempt.base, pairDecision);
    }
  }
  if (!decision.allowed && !decision.outage) {
    // Refused before it was tried: no guess was made, so nothing stays counted. The answer names the window that
    // refused (another may merely have reached 0 with this try, and a later reset would otherwise make it binding).
    await Promise.all(subjects.map((subject) => limiter.refund(subject, attempt.at)));
    const refusing = [pairDecision, accountDecision].find((counted) => countedIn.includes(counted) && !counted.allowed);
    decision = refusing ? { ...decision, binding: refusing.binding } : decision;
  }
  admit(res, decision, whatCounted(decision));
  return {
    decision,
    async succeeded() {
      await Promise.all(subjects.map((subject) => limiter.refund(subject, attempt.at)));
      const names = new Set(countedIn.flatMap((counted) => counted.windows.map((window) => window.name)));
      writeRateLimitHeaders(res, givenBack(decision, names), false);
    },
  };
}
