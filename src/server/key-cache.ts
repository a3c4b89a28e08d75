import { ALL_KEYS } from '../store/index.ts';
import type { ApiKeyWithPlan, Store, UserTokenRecord } from '../store/types.ts';

/** Options of {@link createKeyCache}. */
export interface KeyCacheOptions {
  /** How long a looked-up key is trusted without asking the store again; a safety net, not the revocation path. */
  ttlMs?: number;
  /** Most entries kept; the oldest are dropped first. */
  maxEntries?: number;
  now?: () => number;
}

/** Credential lookups by public id without a database round trip on the hot path. */
export interface CredentialCache<T> {
  /** The record with this public id (revoked/expired included), from memory when fresh, else from the store. */
  get(publicId: string): Promise<T | null>;
  /** Drops one record, or every record for `*` (after a missed-notification reconnect). */
  invalidate(publicId: string): void;
  readonly size: number;
}

/** Verified-key lookups without a database round trip on the hot path. */
export type KeyCache = CredentialCache<ApiKeyWithPlan>;

/** User-token lookups, cached the same way: a log-out drops the token on every instance at once. */
export type TokenCache = CredentialCache<UserTokenRecord>;

/**
 * Caches key records by public id. Revocation and renames drop the entry at once on this
 * instance and, through the store's change notifications, on every other instance; the TTL only
 * bounds staleness for changes made outside the API (e.g. a plan edited in the database).
 */
export function createKeyCache(store: Store, options: KeyCacheOptions = {}): KeyCache {
  return createCredentialCache((publicId) => store.findApiKeyByPublicId(publicId), options);
}

/** Caches user tokens by public id, as createKeyCache does keys; log-outs are broadcast like key revocations. */
export function createTokenCache(store: Store, options: KeyCacheOptions = {}): TokenCache {
  return createCredentialCache((publicId) => store.findUserTokenByPublicId(publicId), options);
}

function createCredentialCache<T>(
  lookupInStore: (publicId: string) => Promise<T | null>,
  options: KeyCacheOptions,
): CredentialCache<T> {
  const ttlMs = options.ttlMs ?? 60_000;
  const maxEntries = options.maxEntries ?? 10_000;
  const now = options.now ?? Date.now;
  const entries = new Map<string, { key: T; expires: number }>();
  // Concurrent misses for the same key share one query instead of stampeding the database.
  const inflight = new Map<string, Promise<T | null>>();
  let generation = 0;

  return {
    async get(publicId) {
      const hit = entries.get(publicId);
      if (hit && hit.expires > now()) {
        return hit.key;
      }
      const pending = inflight.get(publicId);
      if (pending) {
        return pending;
      }
      const startedIn = generation;
      const lookup = lookupInStore(publicId)
        .then((key) => {
          // An invalidation that raced with this query wins: don't cache what may already be stale.
          if (key && startedIn === generation) {
            if (entries.size >= maxEntries) {
              const oldest = entries.keys().next().value;
              if (oldest !== undefined) {
                entries.delete(oldest);
              }
            }
            entries.set(publicId, { key, expires: now() + ttlMs });
          }
          return key;
        })
        .finally(() => inflight.delete(publicId));
      inflight.set(publicId, lookup);
      return lookup;
    },
    invalidate(publicId) {
      generation++;
      if (publicId === ALL_KEYS) {
        entries.clear();
      } else {
        entries.delete(publicId);
      }
      inflight.delete(publicId);
    },
    get size() {
      return entries.size;
    },
  };
}
