import type { Logger } from 'pino';

/** One use of something (a key, a session): when, and whatever else its store records with it. */
export interface Use {
  at: Date;
}

/** The newest use of each thing seen since the last write, written in one batch per interval, off the request path. */
export interface LatestUseBatch<T extends Use> {
  /** Keeps `use` for `id` unless a newer one is already waiting. */
  mark(id: string, use: T): void;
  /** The newest use seen by this instance and not yet written, if any. */
  pending(id: string): T | undefined;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Batches last-use writes: `write` gets each thing's newest use once per `intervalMs` (one statement, never one per
 * request). A failed write keeps its uses for the next attempt (newer ones win), so a database blip loses nothing;
 * `close` writes what is left.
 */
export function createLatestUseBatch<T extends Use>(
  write: (uses: Map<string, T>) => Promise<void>,
  what: string,
  logger: Logger,
  intervalMs: number,
): LatestUseBatch<T> {
  let batch = new Map<string, T>();
  let flushing: Promise<void> = Promise.resolve();

  const keepNewest = (id: string, use: T) => {
    const seen = batch.get(id);
    if (!seen || seen.at <= use.at) {
      batch.set(id, use);
    }
  };
  const flush = async () => {
    if (batch.size === 0) {
      return;
    }
    const written = batch;
    batch = new Map();
    try {
      await write(written);
    } catch (error) {
      for (const [id, use] of written) {
        keepNewest(id, use);
      }
      logger.warn({ err: error }, `could not record ${what}; will retry`);
    }
  };
  const queueFlush = () => {
    flushing = flushing.then(flush);
    return flushing;
  };
  const timer = setInterval(queueFlush, intervalMs);
  timer.unref();

  return {
    mark: keepNewest,
    pending: (id) => batch.get(id),
    flush: queueFlush,
    async close() {
      clearInterval(timer);
      await queueFlush();
    },
  };
}
