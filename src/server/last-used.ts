import type { Logger } from 'pino';
import type { Store } from '../store/types.ts';

/** A key's last use: when, and from which client address (null when not known). */
export interface KeyUse {
  at: Date;
  address: string | null;
}

/** Records when (and from where) keys were used and writes them to the store in batches, off the request path. */
export interface LastUsedTracker {
  mark(keyId: string, at: Date, address?: string | null): void;
  /** The newest use seen by this instance and not yet written, if any. */
  pending(keyId: string): KeyUse | undefined;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Batches `lastUsed` updates: one statement per interval instead of a write per request. */
export function createLastUsedTracker(store: Store, logger: Logger, intervalMs = 1000): LastUsedTracker {
  let batch = new Map<string, KeyUse>();
  let flushing: Promise<void> = Promise.resolve();

  const flush = async () => {
    if (batch.size === 0) {
      return;
    }
    const entries = [...batch].map(([keyId, use]) => ({ keyId, lastUsedAt: use.at, address: use.address }));
    const written = batch;
    batch = new Map();
    try {
      await store.touchApiKeys(entries);
    } catch (error) {
      // Keep the times for the next attempt (newer marks win) so a database blip loses nothing.
      for (const [keyId, use] of written) {
        const newer = batch.get(keyId);
        if (!newer || newer.at < use.at) {
          batch.set(keyId, use);
        }
      }
      logger.warn({ err: error }, 'could not record lastUsed; will retry');
    }
  };
  const timer = setInterval(() => {
    flushing = flushing.then(flush);
  }, intervalMs);
  timer.unref();

  return {
    mark(keyId, at, address = null) {
      const seen = batch.get(keyId);
      if (!seen || seen.at <= at) {
        batch.set(keyId, { at, address });
      }
    },
    pending(keyId) {
      return batch.get(keyId);
    },
    flush() {
      flushing = flushing.then(flush);
      return flushing;
    },
    async close() {
      clearInterval(timer);
      flushing = flushing.then(flush);
      await flushing;
    },
  };
}
