import type { Request, RequestHandler } from 'express';
import { parseApiKey, verifyApiKey } from '../../keys/api-key.ts';
import type { RateLimiter } from '../../rate-limit/limiter.ts';
import type { ApiKeyWithPlan } from '../../store/types.ts';
import { ApiError } from '../errors.ts';
import type { KeyCache } from '../key-cache.ts';
import type { LastUsedTracker } from '../last-used.ts';
import { rateLimitedError, setRateLimitHeaders } from './rate-limit.ts';

/** What `authenticate` needs. */
export interface AuthenticateDeps {
  keys: KeyCache;
  limiter: RateLimiter;
  serverSecret: string;
  clock: () => Date;
  lastUsed: LastUsedTracker;
}

type Outcome = { ok: true; key: ApiKeyWithPlan } | { ok: false; message: string; invalidToken: boolean };

const fail = (message: string, invalidToken = true): Outcome => ({ ok: false, message, invalidToken });

/** The presented key from either header, or why the headers can't be used. */
function presentedKey(req: Request): { raw: string } | Outcome {
  const authorization = req.get('authorization');
  const headerKey = req.get('x-api-key');
  let bearer: string | undefined;
  if (authorization !== undefined) {
    const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(authorization);
    if (!match) {
      return fail('Malformed Authorization header: expected "Bearer <key>"');
    }
    bearer = match[1];
  }
  if (bearer !== undefined && headerKey !== undefined && bearer !== headerKey.trim()) {
    return fail('Conflicting credentials: Authorization and X-API-Key carry different keys; send one');
  }
  const key = bearer ?? headerKey?.trim();
  if (!key) {
    return fail('Missing API key: send Authorization: Bearer <key> or X-API-Key: <key>', false);
  }
  return { raw: key };
}

async function resolveKey(req: Request, deps: AuthenticateDeps): Promise<Outcome> {
  const presented = presentedKey(req);
  if (!('raw' in presented)) {
    return presented;
  }
  const parsed = parseApiKey(presented.raw);
  if (!parsed.ok) {
    return fail(
      parsed.problem === 'checksum'
        ? 'Malformed API key: the checksum does not match (mistyped or truncated?)'
        : 'Malformed API key: expected mr_<8-character id>_<38-character secret>',
    );
  }
  const key = await deps.keys.get(parsed.publicId);
  if (!key || !verifyApiKey(parsed.plaintext, key.keyHash, deps.serverSecret)) {
    return fail('Unknown API key');
  }
  if (key.revokedAt) {
    return fail('The API key has been revoked');
  }
  if (key.expiresAt && key.expiresAt.getTime() <= deps.clock().getTime()) {
    return fail(`The API key expired at ${key.expiresAt.toISOString()}`);
  }
  return { ok: true, key };
}

function challenge(outcome: { message: string; invalidToken: boolean }): string {
  const base = 'Bearer realm="mailroom"';
  return outcome.invalidToken
    ? `${base}, error="invalid_token", error_description="${outcome.message.replace(/["\\]/g, "'")}"`
    : base;
}

/**
 * Authenticates `/v1` requests with either `Authorization: Bearer` or `X-API-Key`. Addresses
 * that keep failing are refused with 429 before any lookup; each failure is counted for the
 * address and its 401 carries the address window's rate-limit headers.
 */
export function authenticate(deps: AuthenticateDeps): RequestHandler {
  return async (req, res, next) => {
    const address = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const gate = await deps.limiter.checkFailedAuth(address);
    if (!gate.allowed) {
      setRateLimitHeaders(res, gate);
      throw rateLimitedError(gate, 'failed authentication attempts from this address');
    }
    const outcome = await resolveKey(req, deps);
    if (!outcome.ok) {
      const counted = await deps.limiter.recordFailedAuth(address);
      setRateLimitHeaders(res, counted, false);
      throw new ApiError('UNAUTHORIZED', outcome.message, { headers: { 'WWW-Authenticate': challenge(outcome) } });
    }
    req.auth = { key: outcome.key, organizationId: outcome.key.organizationId, plan: outcome.key.plan };
    deps.lastUsed.mark(outcome.key.keyId, deps.clock());
    next();
  };
}

/** Refuses writes by read_only keys with 403. */
export function requireWriteAccess(): RequestHandler {
  return (req, _res, next) => {
    if (req.method !== 'GET' && req.auth?.key.access === 'read_only') {
      throw new ApiError('FORBIDDEN', 'This API key is read_only and cannot modify resources');
    }
    next();
  };
}
