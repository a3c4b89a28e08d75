import type { Logger } from 'pino';
import type { Store } from '../store/types.ts';
import { createLatestUseBatch } from './latest-use-batch.ts';

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
  const batch = createLatestUseBatch<KeyUse>(
    (uses) =>
      store.touchApiKeys([...uses].map(([keyId, use]) => ({ keyId, lastUsedAt: use.at, address: use.address }))),
    'lastUsed',
    logger,
    intervalMs,
  );
  return { ...batch, mark: (keyId, at, address = null) => batch.mark(keyId, { at, address }) };
}
