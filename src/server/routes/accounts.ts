import type { Request } from 'express';
import { weakPasswordCause } from '../../accounts/common-passwords.ts';
import { issueUserToken } from '../../keys/issue.ts';
import { newId } from '../../lib/ids.ts';
import { type AppContext, clientAddressOf, type OperationHandler, type RequestBody, send, userOf } from '../context.ts';
import { loginFailed, weakPassword } from '../errors.ts';
import { countPasswordAttempt } from '../log-in-throttle.ts';
import { toOrganization, toUser } from '../serialize.ts';
import { originOf } from '../session-use.ts';
import { forgetSessions } from './sessions.ts';

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
 * Issues a session (a user token) to the client of `req`, recording where it was made; sessions beyond the most a user
 * holds are ended, on every instance.
 */
async function startSession(ctx: AppContext, req: Request, userId: string, now: Date) {
  const issued = await issueUserToken(ctx.store, ctx.serverSecret, {
    userId,
    now,
    origin: originOf(clientAddressOf(req), req.headers),
  });
  await forgetSessions(ctx, issued.ended);
  return issued;
}

/** Handlers of sign-up, log-in, log-out and the signed-in user, by operationId. */
export const accountHandlers: Record<string, OperationHandler> = {
  async signUp(req, res, ctx) {
    const body = req.body as RequestBody<'signUp'>;
    const weak = await weakPasswordCause(body.password, body.email);
    if (weak) {
      throw weakPassword('password', weak);
    }
    const now = ctx.clock();
    const passwordHash = await ctx.passwords.hash(body.password);
    const { user, membership } = await ctx.store.createUser({
      user: { userId: newId('usr'), email: body.email, name: body.name ?? null, passwordHash },
      organizationName: firstOrganizationName(body.email, body.name),
      at: now,
    });
    const { plaintext, record } = await startSession(ctx, req, user.userId, now);
    send(res, 'signUp', 201, {
      success: true,
      data: {
        user: toUser(user),
        organizations: [toOrganization(membership)],
        sessionId: record.tokenId,
        token: plaintext,
        expiresAt: record.expiresAt.toISOString(),
      },
    });
  },

  /**
   * The pipeline has counted the request against its address (`x-rate-limit: address`); the try of the password is
   * counted in the email's windows of failed log-ins before it is made (log-in-throttle.ts), and taken back when it
   * was right. An unknown email and a wrong password take the same path: one lookup, the same windows, one scrypt
   * verification (against a dummy hash when there is no user), the same 401.
   */
  async logIn(req, res, ctx) {
    const { email, password } = req.body as RequestBody<'logIn'>;
    const address = req.rateLimit;
    if (!address) {
      throw new Error('logIn needs x-rate-limit: address in the spec');
    }
    const now = ctx.clock();
    const user = await ctx.store.findUserByEmail(email);
    const attempt = await countPasswordAttempt(ctx, res, {
      email,
      userId: user?.userId ?? null,
      address: clientAddressOf(req),
      at: now,
      base: address,
    });
    const matches = await ctx.passwords.verify(password, user?.passwordHash ?? null);
    if (!user || !matches) {
      throw loginFailed();
    }
    await attempt.succeeded();
    const { plaintext, record } = await startSession(ctx, req, user.userId, now);
    const memberships = await ctx.store.listMemberships(user.userId);
    send(res, 'logIn', 200, {
      success: true,
      data: {
        user: toUser(user),
        organizations: memberships.map(toOrganization),
        sessionId: record.tokenId,
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
