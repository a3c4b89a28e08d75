import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import type { IdempotencyRecord, IdempotencyScope, Store } from '../store/types.ts';
import { type Caller, idempotencyScopeOf } from './caller.ts';
import type { AppContext } from './context.ts';
import { idempotencyKeyInUse, idempotencyKeyReused } from './errors.ts';
import { IDEMPOTENCY_KEY_HEADER } from './operations.ts';
import { sendJson } from './send-json.ts';

/** How long a request's outcome is kept for replay (the IETF draft leaves it to the server; Stripe keeps 24 hours). */
export const IDEMPOTENCY_RETENTION_MS = 24 * 60 * 60 * 1000;
/** How long a request may hold its key in flight before a retry may take it over (its instance died mid-way). */
export const IDEMPOTENCY_LEASE_MS = 60_000;
/** Marks a replayed answer. */
export const REPLAYED_HEADER = 'Idempotent-Replayed';

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Hex HMAC-SHA256 under the server secret of `parts`, joined so no two part lists collide. */
function keyedHash(serverSecret: string, parts: string[]): string {
  return createHmac('sha256', serverSecret).update(parts.join('\u0000')).digest('hex');
}

/**
 * JSON with object keys sorted, so `{"a":1,"b":2}` and `{ "b": 2, "a": 1 }` are the same request. For values that
 * came from JSON.parse this is RFC 8785's canonical form: JSON.stringify already writes numbers and strings as JCS
 * does, and the default sort compares UTF-16 code units as JCS requires. Bodies reach this stage validated against
 * the spec, so they are shallow.
 */
export function canonicalJson(value: unknown): string {
  return (
    JSON.stringify(value, (_key, item: unknown) =>
      item !== null && typeof item === 'object' && !Array.isArray(item)
        ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
        : item,
    ) ?? ''
  );
}

/** Where an idempotency key lives: the caller's scope and the key's HMAC (the key itself is never stored). */
export function idempotencyScope(
  serverSecret: string,
  caller: { organizationId: string; principal: string },
  idempotencyKey: string,
): IdempotencyScope {
  return { ...caller, keyHash: keyedHash(serverSecret, ['idempotency-key', idempotencyKey]) };
}

/** What makes two requests "the same request": method, path and query, and the JSON body compared as data. */
export function requestFingerprint(serverSecret: string, method: string, url: string, body: unknown): string {
  return keyedHash(serverSecret, ['fingerprint', method.toUpperCase(), url, canonicalJson(body)]);
}

/**
 * The AES-256-GCM key of one stored response: HKDF-SHA256 of the server secret and the idempotency key, bound to the
 * scope. Without the idempotency key (which is not stored) a stored response can't be read, even with the database
 * and the server secret in hand.
 */
function responseKey(serverSecret: string, idempotencyKey: string, scope: IdempotencyScope): Buffer {
  const info = `mailroom idempotent response v1\u0000${scope.organizationId}\u0000${scope.principal}`;
  return Buffer.from(hkdfSync('sha256', `${serverSecret}\u0000${idempotencyKey}`, scope.keyHash, info, 32));
}

/** Additional data of the cipher: a sealed response opens only in its own row and with its own status. */
function associatedData(scope: IdempotencyScope, status: number): Buffer {
  return Buffer.from(`${scope.organizationId}\u0000${scope.principal}\u0000${scope.keyHash}\u0000${status}`);
}

/** Encrypts a response body: iv || tag || ciphertext. */
export function sealResponse(
  serverSecret: string,
  idempotencyKey: string,
  scope: IdempotencyScope,
  status: number,
  body: Buffer,
): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', responseKey(serverSecret, idempotencyKey, scope), iv);
  cipher.setAAD(associatedData(scope, status));
  const ciphertext = Buffer.concat([cipher.update(body), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ciphertext]);
}

/** Decrypts what {@link sealResponse} produced; throws when anything (key, scope, status, bytes) differs. */
export function openResponse(
  serverSecret: string,
  idempotencyKey: string,
  scope: IdempotencyScope,
  status: number,
  sealed: Uint8Array,
): Buffer {
  const bytes = Buffer.from(sealed);
  const decipher = createDecipheriv(
    'aes-256-gcm',
    responseKey(serverSecret, idempotencyKey, scope),
    bytes.subarray(0, IV_BYTES),
  );
  decipher.setAAD(associatedData(scope, status));
  decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
}

/**
 * Holds the response's final write until `settle` has run with its status and body, so the outcome is stored before
 * the caller (who may retry at once) sees it. Catches every way a handler answers: `send`, a thrown error rendered by
 * the error handler, the response validator's wrapper.
 */
function holdResponse(res: Response, settle: (status: number, body: Buffer) => Promise<void>): void {
  const end = res.end;
  res.end = ((chunk?: unknown, encoding?: unknown, callback?: unknown) => {
    res.end = end;
    const body =
      chunk === undefined || chunk === null || typeof chunk === 'function'
        ? Buffer.alloc(0)
        : Buffer.isBuffer(chunk)
          ? chunk
          : Buffer.from(String(chunk), typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
    void settle(res.statusCode, body).finally(() => {
      (end as (...args: unknown[]) => Response).call(res, chunk, encoding, callback);
    });
    return res;
  }) as Response['end'];
}

/** The stored outcome, sent again: the same status and body, this request's id and rate-limit headers. */
function replay(req: Request, res: Response, ctx: AppContext, key: string, entry: IdempotencyRecord): void {
  const status = entry.responseStatus as number;
  const text = openResponse(ctx.serverSecret, key, entry, status, entry.responseSealed as Uint8Array).toString('utf8');
  const body = JSON.parse(text) as { meta?: Record<string, unknown> };
  if (status >= 400) {
    // An error names the request it answers: this one (X-Request-Id and meta.requestId always agree).
    body.meta = { ...body.meta, requestId: String(req.id) };
  }
  res.setHeader(REPLAYED_HEADER, 'true');
  sendJson(res, status, body);
}

/**
 * The idempotency stage (IETF draft-ietf-httpapi-idempotency-key-header), for an operation that declares the
 * `Idempotency-Key` header; it runs after authentication, rate limiting, roles and the input check, so requests
 * refused before they run are never stored. Without the header the handler just runs. With it, the first request
 * claims the key in the database (so every instance agrees) and its outcome is stored, encrypted, for 24 hours; a
 * retry of the same request replays it; a different request with the same key is 422 IDEMPOTENCY_KEY_REUSED; a retry
 * while the first still runs is 409 IDEMPOTENCY_KEY_IN_USE. A 5xx is not stored: the claim is dropped so a retry
 * runs the request again.
 */
export async function runIdempotently(
  req: Request,
  res: Response,
  ctx: AppContext,
  caller: Caller | undefined,
  handle: () => Promise<void>,
): Promise<void> {
  const header = req.headers[IDEMPOTENCY_KEY_HEADER];
  if (typeof header !== 'string') {
    await handle();
    return;
  }
  const scope = idempotencyScope(ctx.serverSecret, idempotencyScopeOf(caller), header);
  const fingerprint = requestFingerprint(ctx.serverSecret, req.method, req.originalUrl, req.body);
  const now = ctx.clock();
  const owner = randomUUID();
  const claim = await ctx.store.claimIdempotencyKey({
    ...scope,
    fingerprint,
    owner,
    at: now,
    leaseExpiresAt: new Date(now.getTime() + IDEMPOTENCY_LEASE_MS),
    expiresAt: new Date(now.getTime() + IDEMPOTENCY_RETENTION_MS),
  });
  if (!claim.claimed) {
    const { existing } = claim;
    if (existing.fingerprint !== fingerprint) {
      throw idempotencyKeyReused();
    }
    if (existing.state === 'in_flight') {
      throw idempotencyKeyInUse();
    }
    replay(req, res, ctx, header, existing);
    return;
  }
  holdResponse(res, (status, body) =>
    settle(ctx.store, ctx.logger, scope, owner, status, () =>
      sealResponse(ctx.serverSecret, header, scope, status, body),
    ),
  );
  await handle();
}

/** Stores the outcome (below 500) or drops the claim (500, 503: nothing reliable happened; a retry runs again). */
async function settle(
  store: Store,
  logger: Logger,
  scope: IdempotencyScope,
  owner: string,
  status: number,
  seal: () => Buffer,
): Promise<void> {
  try {
    if (status >= 500) {
      await store.releaseIdempotencyKey(scope, owner);
    } else if (!(await store.completeIdempotencyKey(scope, owner, { status, sealed: seal() }))) {
      logger.warn(
        { status },
        'an idempotent request finished after its lease was taken over; its outcome was not stored',
      );
    }
  } catch (err) {
    // The answer still goes out. The claim stays in flight until its lease passes, then a retry runs the request again.
    logger.warn(
      { err: { type: (err as Error)?.name, message: (err as Error)?.message } },
      'could not store an idempotent outcome',
    );
  }
}

/**
 * Deletes expired idempotency entries every `intervalMs` (entries are also replaced on access once expired). Returns a
 * function that stops it.
 */
export function startIdempotencyPurge(store: Store, clock: () => Date, logger: Logger, intervalMs: number): () => void {
  const timer = setInterval(() => {
    store.purgeIdempotencyKeys(clock()).then(
      (purged) => {
        if (purged > 0) {
          logger.debug({ purged }, 'purged expired idempotency keys');
        }
      },
      (err: unknown) => logger.warn({ err: { message: (err as Error)?.message } }, 'idempotency purge failed'),
    );
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
