import { weakPasswordCause } from '../../accounts/common-passwords.ts';
import type { UserTokenRecord } from '../../store/types.ts';
import { type AppContext, clientAddressOf, type OperationHandler, type RequestBody, send, userOf } from '../context.ts';
import { samePassword, sessionNotFound, weakPassword, wrongCurrentPassword } from '../errors.ts';
import { countPasswordAttempt } from '../log-in-throttle.ts';
import { toSession } from '../serialize.ts';

/**
 * Ends sessions on every instance, as a log-out does: each token is dropped from this instance's cache now, and from
 * every other instance's before this resolves (the key-change broadcast, acknowledged).
 */
export async function forgetSessions(ctx: AppContext, ended: readonly UserTokenRecord[]): Promise<void> {
  for (const token of ended) {
    ctx.tokens.invalidate(token.publicId);
  }
  await Promise.all(ended.map((token) => ctx.store.notifyKeyChange(token.publicId)));
}

/** Handlers of the signed-in user's sessions and password, by operationId. */
export const sessionHandlers: Record<string, OperationHandler> = {
  async listSessions(req, res, ctx) {
    const { userId, token } = userOf(req);
    const sessions = await ctx.store.listUserSessions(userId, ctx.clock());
    send(res, 'listSessions', 200, {
      success: true,
      data: sessions.map((session) => toSession(session, token.tokenId, ctx.sessionUse.pending(session.tokenId))),
      meta: { total: sessions.length },
    });
  },

  /** Another user's session id is the same 404 as one that does not exist; ending the current one is a log-out. */
  async endSession(req, res, ctx) {
    const { userId, token } = userOf(req);
    const sessionId = String(req.params.sessionId);
    const ended = await ctx.store.endUserSession(userId, sessionId, ctx.clock());
    if (!ended) {
      throw sessionNotFound(sessionId);
    }
    await forgetSessions(ctx, [ended]);
    send(res, 'endSession', 200, {
      success: true,
      data: { sessionId: ended.tokenId, revoked: true, current: ended.tokenId === token.tokenId },
    });
  },

  async endOtherSessions(req, res, ctx) {
    const { userId, token } = userOf(req);
    const ended = await ctx.store.endOtherUserSessions(userId, token.tokenId, ctx.clock());
    await forgetSessions(ctx, ended);
    send(res, 'endOtherSessions', 200, { success: true, data: { revokedCount: ended.length } });
  },

  /**
   * The new password is checked first (its strength says nothing secret); then the current one is tried as a log-in
   * is, counted in the same windows, so a stolen token can't be used to guess the password behind it.
   */
  async changePassword(req, res, ctx) {
    const { currentPassword, newPassword } = req.body as RequestBody<'changePassword'>;
    const { userId, token } = userOf(req);
    const user = await ctx.store.getUser(userId);
    if (!user) {
      throw new Error(`user ${userId} of a valid token is missing`);
    }
    const weak = await weakPasswordCause(newPassword, user.email);
    if (weak) {
      throw weakPassword('newPassword', weak);
    }
    const at = ctx.clock();
    const base = req.rateLimit;
    if (!base) {
      throw new Error('changePassword is counted in the user window first');
    }
    const attempt = await countPasswordAttempt(ctx, res, {
      email: user.email,
      userId,
      address: clientAddressOf(req),
      at,
      base,
    });
    if (!(await ctx.passwords.verify(currentPassword, user.passwordHash))) {
      throw wrongCurrentPassword();
    }
    await attempt.succeeded();
    if (currentPassword.normalize('NFKC') === newPassword.normalize('NFKC')) {
      throw samePassword();
    }
    const changed = await ctx.store.changePassword(userId, await ctx.passwords.hash(newPassword), at, token.tokenId);
    if (!changed) {
      throw new Error(`user ${userId} of a valid token is missing`);
    }
    await forgetSessions(ctx, changed.ended);
    send(res, 'changePassword', 200, {
      success: true,
      data: { passwordChanged: true, revokedCount: changed.ended.length },
    });
  },
};
