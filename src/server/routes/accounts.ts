import { issueUserToken } from '../../keys/issue.ts';
import { hashUserToken } from '../../keys/user-token.ts';
import { newId } from '../../lib/ids.ts';
import { combineDecisions } from '../../rate-limit/decision.ts';
import type { WindowSubject } from '../../rate-limit/limiter.ts';
import { admit, admitNothing } from '../admit.ts';
import { type OperationHandler, type RequestBody, send, userOf } from '../context.ts';
import { FAILED_LOG_INS, loginFailed } from '../errors.ts';
import { toOrganization, toUser } from '../serialize.ts';

const ORGANIZATION_SUFFIX = "'s organization";
const MAX_ORGANIZATION_NAME = 100;

/** The first organization's name: "Ada Lovelace's organization", or after the email's local part without a name. */
function firstOrganizationName(email: string, name: string | undefined): string {
  const base = name ?? email.slice(0, email.lastIndexOf('@'));
  // Code points, not UTF-16 units: the spec's maxLength counts characters, and a cut must not split a surrogate pair.
  const room = MAX_ORGANIZATION_NAME - ORGANIZATION_SUFFIX.length;
  return `${Array.from(base).slice(0, room).join('')}${ORGANIZATION_SUFFIX}`;
}

/**
 * The failed-log-in window of an email, keyed by a keyed hash of it (no address in the rate-limit store's keys), and
 * the same whether or not an account has that email: its counts say nothing about which emails are registered.
 */
function accountWindow(email: string, serverSecret: string): WindowSubject {
  return { window: 'account', id: hashUserToken(`account:${email.toLowerCase()}`, serverSecret).slice(0, 32) };
}

/** Handlers of sign-up, log-in, log-out and the signed-in user, by operationId. */
export const accountHandlers: Record<string, OperationHandler> = {
  async signUp(req, res, ctx) {
    const body = req.body as RequestBody<'signUp'>;
    const now = ctx.clock();
    const passwordHash = await ctx.passwords.hash(body.password);
    const { user, membership } = await ctx.store.createUser({
      user: { userId: newId('usr'), email: body.email, name: body.name ?? null, passwordHash },
      organizationName: firstOrganizationName(body.email, body.name),
      at: now,
    });
    const { plaintext, record } = await issueUserToken(ctx.store, ctx.serverSecret, { userId: user.userId, now });
    send(res, 'signUp', 201, {
      success: true,
      data: {
        user: toUser(user),
        organizations: [toOrganization(membership)],
        token: plaintext,
        expiresAt: record.expiresAt.toISOString(),
      },
    });
  },

  /**
   * The pipeline has counted the request against its address (`x-rate-limit: address`); this adds the email's
   * `account` window of failed attempts. An unknown email and a wrong password take the same path: one lookup, one
   * scrypt verification (against a dummy hash when there is no user), one count, the same 401.
   */
  async logIn(req, res, ctx) {
    const { email, password } = req.body as RequestBody<'logIn'>;
    const address = req.rateLimit;
    if (!address) {
      throw new Error('logIn needs x-rate-limit: address in the spec');
    }
    const account = accountWindow(email, ctx.serverSecret);
    const before = combineDecisions(address, await ctx.limiter.peek(account));
    admit(res, before, FAILED_LOG_INS);
    const user = await ctx.store.findUserByEmail(email);
    const matches = await ctx.passwords.verify(password, user?.passwordHash ?? null);
    if (!user || !matches) {
      admitNothing(res, combineDecisions(address, await ctx.limiter.consume(account)));
      throw loginFailed();
    }
    const now = ctx.clock();
    const { plaintext, record } = await issueUserToken(ctx.store, ctx.serverSecret, { userId: user.userId, now });
    const memberships = await ctx.store.listMemberships(user.userId);
    send(res, 'logIn', 200, {
      success: true,
      data: {
        user: toUser(user),
        organizations: memberships.map(toOrganization),
        token: plaintext,
        expiresAt: record.expiresAt.toISOString(),
      },
    });
  },

  async logOut(req, res, ctx) {
    const { token } = userOf(req);
    await ctx.store.revokeUserToken(token.tokenId, ctx.clock());
    // As for a revoked key: dropped here now, and on every other instance before this call answers.
    ctx.tokens.invalidate(token.publicId);
    await ctx.store.notifyKeyChange(token.publicId);
    send(res, 'logOut', 200, { success: true, data: { revoked: true } });
  },

  async getMe(req, res, ctx) {
    const { userId } = userOf(req);
    const [user, memberships] = await Promise.all([ctx.store.getUser(userId), ctx.store.listMemberships(userId)]);
    if (!user) {
      throw new Error(`user ${userId} of a valid token is missing`);
    }
    send(res, 'getMe', 200, {
      success: true,
      data: { user: toUser(user), organizations: memberships.map(toOrganization) },
    });
  },
};
