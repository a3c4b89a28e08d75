import { parseApiKey, verifyApiKey } from '../../keys/api-key.ts';
import { keyEvent } from '../../webhooks/events.ts';
import { verifyReportSignature } from '../../webhooks/secret-scanning.ts';
import { type OperationHandler, type RequestBody, type Schemas, send } from '../context.ts';
import { SECRET_SCANNER_REFUSALS } from '../errors.ts';

// GitHub's secret-scanning partner endpoint: a signed report of tokens found in public; every live Mailroom key among
// them is revoked at once, with an api_key.leaked event (same transaction), and GitHub gets its feedback labels.

type Feedback = Schemas['SecretScanningFeedback'][number];

/** Handlers of the secret-scanning operations, by operationId. */
export const secretScanningHandlers: Record<string, OperationHandler> = {
  async reportLeakedKeys(req, res, ctx) {
    const principal = req.caller?.principal;
    // The authenticator found the signature and its public key; the signature covers the raw body, read by now.
    if (
      principal?.scheme !== 'secretScanning' ||
      !req.rawBody ||
      !verifyReportSignature(req.rawBody, principal.signature, principal.publicKey)
    ) {
      throw SECRET_SCANNER_REFUSALS.badSignature();
    }
    // The spec bounds the report (1,000 tokens at most, 100 KiB): the work below is bounded with it.
    const report = req.body as RequestBody<'reportLeakedKeys'>;
    const feedback: Feedback[] = [];
    const labels = new Map<string, Feedback['label']>();
    for (const { token, type, url, source } of report) {
      let label = labels.get(token);
      if (label === undefined) {
        label = 'false_positive';
        // The checksum first: junk costs no lookup.
        const parsed = parseApiKey(token);
        const key = parsed.ok ? await ctx.store.findApiKeyByPublicId(parsed.publicId) : null;
        if (parsed.ok && key && verifyApiKey(parsed.plaintext, key.keyHash, ctx.serverSecret)) {
          label = 'true_positive';
          const at = ctx.clock();
          const revoked = await ctx.store.revokeApiKey(null, key.keyId, at, (leaked) => [
            keyEvent('api_key.leaked', leaked, at, { revoked: true, url: url ?? '', source: source ?? '' }),
          ]);
          if (revoked) {
            ctx.keys.invalidate(revoked.publicId);
            await ctx.store.notifyKeyChange(revoked.publicId);
            ctx.logger.warn({ keyId: revoked.keyId, source }, 'a leaked API key was reported and revoked');
          }
        }
        labels.set(token, label);
      }
      feedback.push({ token_raw: token, token_type: type, label });
    }
    ctx.webhooks.nudge();
    send(res, 'reportLeakedKeys', 200, feedback);
  },
};
