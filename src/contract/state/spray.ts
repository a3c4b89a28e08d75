// The sign-in spray of a contract run (issue 27: guessing a password must not lock its owner out). On an account the
// run signs up itself, from an address of its own, it sprays wrong passwords from several other client addresses (the
// target must take the client address from X-Forwarded-For: `mailroom serve --trust-proxy`; the run probes it through
// the session list's `createdFrom.address` and skips the case, with the reason, where it doesn't), and the same at an
// email without an account. It checks:
//   - the guesses up to the per-email window's limit are tried (401); the next, from a fresh address, is refused with
//     the documented 429, RATE_LIMITED and Retry-After;
//   - the email without an account gets the very same statuses, error codes and messages, and header names;
//   - then the owner, with the right password from the address it signed up from, still signs in (200).
// The figures come from the log-in's own RateLimit-Policy (the `account` window per email, the other windows per
// address), so a deployment with other limits is held to its own. About 2 × (limit + 1) + 3 requests, sent side by
// side; unpaced (their 429 is an account's, not this run's address).
import { createHash } from 'node:crypto';
import type { CaseBook, CaseContext } from '../cases.ts';
import type { Sent } from '../client.ts';
import { PACE_HEADER } from '../observer.ts';

/** The check class of the spray, as the report names and explains it. */
export const SIGN_IN_CHECKS = {
  'owner-sign-in':
    "wrong passwords sprayed at an account the run signed up, from several client addresses (X-Forwarded-For), are tried up to the log-in's per-email window and then refused with 429, RATE_LIMITED and Retry-After; an email without an account gets the same statuses, codes, messages and header names; and the owner, with the right password from the address it signed up from, still signs in",
} as const;

/** What the spray needs. */
export interface SprayOptions {
  book: CaseBook;
  runId: string;
}

/** The per-email window of failed log-ins, as the spec names it. */
const ACCOUNT_WINDOW = 'account';
/** Below this many seconds before the per-email window turns, the spray waits for the turn (the guesses must share it). */
const TURN_MARGIN_S = 20;
const CASE =
  'owner-sign-in: a spray of wrong passwords from several addresses refuses alike, and the owner still signs in';

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** The run's own documentation addresses (2001:db8::/32): one for the owner, the others for the spray. */
function addressesOf(runId: string): { owner: string; spray: (n: number) => string } {
  const digest = createHash('sha256').update(runId).digest('hex');
  const prefix = `2001:db8:${digest.slice(0, 4)}:${digest.slice(4, 8)}`;
  return { owner: `${prefix}::1`, spray: (n) => `${prefix}::${(n + 16).toString(16)}` };
}

/** The windows of a RateLimit-Policy header: name → limit and seconds. */
function policyOf(sent: Sent): Map<string, { q: number; w: number }> {
  const windows = new Map<string, { q: number; w: number }>();
  for (const item of (sent.headers.get('ratelimit-policy') ?? '').split(',')) {
    const match = /^\s*"([^"]+)"\s*;\s*q=(\d+)\s*;\s*w=(\d+)/.exec(item);
    if (match) {
      windows.set(String(match[1]), { q: Number(match[2]), w: Number(match[3]) });
    }
  }
  return windows;
}

/** What of an answer must not tell an email with an account from one without. */
function shapeOf(sent: Sent): string {
  const ignored = new Set(['date', 'content-length', 'x-request-id', 'etag', 'connection', 'keep-alive']);
  const names: string[] = [];
  sent.headers.forEach((_value, name) => {
    names.push(name);
  });
  const kept = names.filter((name) => !ignored.has(name) && !name.startsWith('sl-')).sort();
  // Figures in a message (the seconds to wait) differ by the moment each was answered, not by the email.
  const message = String(sent.json?.error?.message ?? '').replace(/\d+/g, 'N');
  return `${sent.status} ${sent.json?.error?.code ?? '-'} "${message}" [${kept.join(' ')}]`;
}

/** Signs the owner up from its address and reads back where the target says the session came from. */
async function signUpOwner(book: CaseBook, runId: string, owner: string) {
  return book.run('setup', 'probe: does the target take the client address from X-Forwarded-For?', async (ctx) => {
    const email = `spray-owner-${runId}@example.com`;
    const password = `pw ${createHash('sha256').update(`${runId}:spray`).digest('base64url').slice(0, 16)}`;
    const headers = { 'X-Forwarded-For': owner, [PACE_HEADER]: 'none' };
    const signed = await ctx.send({
      method: 'POST',
      path: '/auth/signup',
      headers,
      body: { email, password },
      expect: 201,
    });
    const token = String(signed.json?.data?.token);
    const sessions = await ctx.send({ path: '/auth/sessions', key: token, bearer: true, headers, expect: 200 });
    const seen = sessions.json?.data?.find?.((s: { current?: boolean }) => s.current)?.createdFrom?.address;
    return { email, password, trusted: seen === owner, seen: String(seen) };
  });
}

/** Sends wrong passwords for `email`, one from each address given, side by side. */
function guess(ctx: CaseContext, email: string, addresses: string[]): Promise<Sent[]> {
  return Promise.all(
    addresses.map((address, i) =>
      ctx.sendUnchecked({
        method: 'POST',
        path: '/auth/login',
        headers: { 'X-Forwarded-For': address, [PACE_HEADER]: 'none' },
        body: { email, password: `not the password ${i}` },
      }),
    ),
  );
}

/** The spray's addresses: `count` guesses, at most `perAddress` from each, then one fresh address for the refusal. */
function sprayPlan(
  spray: (n: number) => string,
  count: number,
  perAddress: number,
): { guesses: string[]; fresh: string } {
  const guesses = Array.from({ length: count }, (_, i) => spray(Math.floor(i / perAddress)));
  return { guesses, fresh: spray(Math.ceil(count / perAddress) + 1) };
}

/** The problems of one email's spray: each guess tried, then the refusal as documented. */
function refusalProblems(label: string, tried: Sent[], refused: Sent): string[] {
  const problems: string[] = [];
  const early = tried.filter((sent) => sent.status !== 401);
  if (early.length > 0) {
    problems.push(
      `${label}: ${early.length} of ${tried.length} guesses within the window answered ${early.map((s) => s.status).join(', ')}, not 401`,
    );
  }
  const retryAfter = Number(refused.headers.get('retry-after'));
  if (refused.status !== 429 || refused.json?.error?.code !== 'RATE_LIMITED') {
    problems.push(
      `${label}: the guess past the window answered ${refused.status} ${refused.json?.error?.code ?? ''}, not 429 RATE_LIMITED`,
    );
  } else if (!Number.isInteger(retryAfter) || retryAfter < 1) {
    problems.push(
      `${label}: the 429 carries no Retry-After of whole seconds ≥ 1 (${refused.headers.get('retry-after')})`,
    );
  }
  return problems;
}

/**
 * The enumeration check: the answers for the email without an account look like the owner's (statuses, codes,
 * messages with their figures aside, header names), and the two refusals ask to wait about as long.
 */
function sameAnswers(known: Sent[], unknown: Sent[]): string[] {
  const waits = [known.at(-1), unknown.at(-1)].map((sent) => Number(sent?.headers.get('retry-after')));
  if (Math.abs((waits[0] ?? 0) - (waits[1] ?? 0)) > 5) {
    return [`an email without an account is told to wait ${waits[1]} s, the owner's ${waits[0]} s`];
  }
  const shapes = (sent: Sent[]) => sent.map(shapeOf).sort();
  const a = shapes(known);
  const b = shapes(unknown);
  const differ = a.filter((shape, i) => shape !== b[i]);
  if (differ.length === 0) {
    return [];
  }
  return [
    `an email without an account is answered differently: ${differ[0]} for the owner's, ${b[a.indexOf(differ[0] as string)]} for the other`,
  ];
}

/** The spray itself, once the target is known to trust X-Forwarded-For. */
async function spray(ctx: CaseContext, owner: { email: string; password: string }, runId: string): Promise<number> {
  const { owner: home, spray: at } = addressesOf(runId);
  const stranger = `spray-nobody-${runId}@example.com`;
  // The first guesses tell the windows (RateLimit-Policy): the per-email one, and the per-address ones beside it.
  let [first, firstStranger] = await Promise.all([guess(ctx, owner.email, [at(0)]), guess(ctx, stranger, [at(0)])]);
  const policy = policyOf(first?.[0] as Sent);
  const account = policy.get(ACCOUNT_WINDOW);
  if (!account) {
    throw new Error(
      `[owner-sign-in] the log-in's RateLimit-Policy lists no "${ACCOUNT_WINDOW}" window: ${first?.[0]?.headers.get('ratelimit-policy')}`,
    );
  }
  const perAddress = Math.max(
    1,
    Math.min(...[...policy].filter(([name]) => name !== ACCOUNT_WINDOW).map(([, w]) => w.q - 1)),
  );
  // Windows are aligned to the clock: all guesses must fall in one, so a spray about to straddle a turn waits for it.
  const toTurn = account.w - ((Date.now() / 1000) % account.w);
  if (toTurn < TURN_MARGIN_S) {
    await sleep((toTurn + 1) * 1000);
    first = [];
    firstStranger = [];
  }
  const plan = sprayPlan(at, account.q, perAddress);
  const rest = plan.guesses.slice(first?.length ?? 0);
  const [known, unknown] = await Promise.all([guess(ctx, owner.email, rest), guess(ctx, stranger, rest)]);
  const [[refused], [refusedStranger]] = await Promise.all([
    guess(ctx, owner.email, [plan.fresh]),
    guess(ctx, stranger, [plan.fresh]),
  ]);
  const knownAll = [...(first ?? []), ...known];
  const unknownAll = [...(firstStranger ?? []), ...unknown];
  const problems = [
    ...refusalProblems("the owner's email", knownAll, refused as Sent),
    ...refusalProblems('an email without an account', unknownAll, refusedStranger as Sent),
    ...sameAnswers([...knownAll, refused as Sent], [...unknownAll, refusedStranger as Sent]),
  ];
  const signedIn = await ctx.sendUnchecked({
    method: 'POST',
    path: '/auth/login',
    headers: { 'X-Forwarded-For': home, [PACE_HEADER]: 'none' },
    body: { email: owner.email, password: owner.password },
  });
  if (signedIn.status !== 200) {
    problems.push(
      `the owner, with the right password from the address it signed up from, answered ${signedIn.status} ${signedIn.json?.error?.code ?? ''} after the spray (locked out)`,
    );
  }
  if (problems.length > 0) {
    throw new Error(problems.map((p) => `[owner-sign-in] ${p}`).join('\n'));
  }
  return knownAll.length + 1;
}

/** Runs the spray as one case of the state suite (skipped, with the reason, on a target that ignores X-Forwarded-For). */
export async function runSignInSpray({ book, runId }: SprayOptions): Promise<void> {
  const { owner } = addressesOf(runId);
  const signedUp = await signUpOwner(book, runId, owner);
  if (!signedUp) {
    return;
  }
  if (!signedUp.trusted) {
    book.skipped(
      'state',
      CASE,
      `the target does not take the client address from X-Forwarded-For (it saw ${signedUp.seen} for ${owner}; mailroom serve --trust-proxy): one client can't spray from several addresses`,
    );
    return;
  }
  await book.run('state', CASE, (ctx) => spray(ctx, signedUp, runId));
}
