import type { Logger } from 'pino';
import { type RequestLogRecord, type Store, StoreUnavailableError } from '../store/types.ts';

// The request log's writer. A request's record is appended to an in-memory buffer (no I/O, no await) when its answer
// has been sent; a timer writes the buffer in one statement every `flushMs`. The buffer holds at most `maxBuffered`
// records: past that (the database slower than the traffic for a while) new records are dropped and counted, and the
// count is logged at the next write, so memory stays bounded whatever happens downstream. A write that failed because
// the database was unreachable keeps its records for the next attempt (as lastUsed does), within the same bound; a
// batch the database refused is dropped and logged rather than retried forever. `close()` writes everything left; a crash
// loses what was buffered: at most one flush interval of requests (README, "Usage and the request log").

/** Tuning of the usage recorder and of the log's retention. */
export interface UsageOptions {
  /** Record requests at all (default true). Off: nothing is buffered or written, and reads answer what is stored. */
  enabled?: boolean;
  /** How often the buffer is written (default 1000 ms): what a crash may lose. */
  flushMs?: number;
  /** Records held in memory at most (default 50,000); beyond it new ones are dropped and counted. */
  maxBuffered?: number;
  /** How long records are kept (default 30 days); reads may not span more. */
  retentionDays?: number;
  /** Rows kept per organization at most, newest first (default 1,000,000). */
  maxRowsPerOrganization?: number;
  /** How often old rows are pruned (default 10 minutes). */
  pruneMs?: number;
}

export const DEFAULT_USAGE_OPTIONS: Required<UsageOptions> = {
  enabled: true,
  flushMs: 1000,
  maxBuffered: 50_000,
  retentionDays: 30,
  maxRowsPerOrganization: 1_000_000,
  pruneMs: 600_000,
};

const DAY_MS = 86_400_000;

/** Buffers request records and writes them in batches, off the request path. */
export interface UsageRecorder {
  readonly options: Readonly<Required<UsageOptions>>;
  /** Appends one request's record (dropped and counted when the buffer is full). */
  record(entry: RequestLogRecord): void;
  /** Records buffered and not yet written. */
  buffered(): number;
  /** Records dropped because the buffer was full, since start. */
  dropped(): number;
  /** Writes the buffer now (waits for a write under way first). */
  flush(): Promise<void>;
  /** Deletes rows past the retention period and beyond each organization's bound; returns how many went. */
  prune(): Promise<number>;
  /** Stops the timers and writes everything buffered. */
  close(): Promise<void>;
}

/** The recorder of a server: timers for writing and pruning, unref'd so they never keep a process alive. */
export function createUsageRecorder(
  store: Store,
  logger: Logger,
  clock: () => Date,
  given: UsageOptions = {},
): UsageRecorder {
  const options = { ...DEFAULT_USAGE_OPTIONS, ...given };
  let buffer: RequestLogRecord[] = [];
  let dropped = 0;
  let droppedReported = 0;
  let flushing: Promise<void> = Promise.resolve();
  let closed = false;

  const write = async () => {
    if (dropped > droppedReported) {
      logger.warn(
        { dropped: dropped - droppedReported, maxBuffered: options.maxBuffered },
        'request log buffer was full: records dropped',
      );
      droppedReported = dropped;
    }
    if (buffer.length === 0) {
      return;
    }
    const batch = buffer;
    buffer = [];
    try {
      await store.insertRequestLogs(batch);
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) {
        // The database refused these rows (a bug: every field is cut to its column's bound): retried, they would
        // block every later write. Dropped, counted and logged instead.
        dropped += batch.length;
        droppedReported += batch.length;
        logger.error({ err: error, dropped: batch.length }, 'the database refused a batch of the request log');
        return;
      }
      // Back in front of what arrived meanwhile, within the bound: a database blip loses nothing it need not.
      const room = Math.max(0, options.maxBuffered - buffer.length);
      const kept = batch.slice(0, room);
      dropped += batch.length - kept.length;
      buffer = kept.concat(buffer);
      logger.warn({ err: error, buffered: buffer.length }, 'could not write the request log; will retry');
    }
  };
  const flush = () => {
    flushing = flushing.then(write);
    return flushing;
  };
  const prune = async () => {
    const olderThan = new Date(clock().getTime() - options.retentionDays * DAY_MS);
    try {
      return await store.pruneRequestLogs(olderThan, options.maxRowsPerOrganization);
    } catch (error) {
      logger.warn({ err: error }, 'could not prune the request log; will retry');
      return 0;
    }
  };
  const flushTimer = options.enabled ? setInterval(flush, options.flushMs) : undefined;
  flushTimer?.unref();
  const pruneTimer = setInterval(prune, options.pruneMs);
  pruneTimer.unref();

  return {
    options,
    record(entry) {
      if (!options.enabled || closed) {
        return;
      }
      if (buffer.length >= options.maxBuffered) {
        dropped += 1;
        return;
      }
      buffer.push(entry);
    },
    buffered: () => buffer.length,
    dropped: () => dropped,
    flush,
    prune,
    async close() {
      closed = true;
      clearInterval(flushTimer);
      clearInterval(pruneTimer);
      await flush();
    },
  };
}

/** Who a request is recorded for: the key it was made with (verified or refused), or a user in an organization. */
export type RecordedCaller =
  | { keyId: string; organizationId: string; environment: RequestLogRecord['environment'] }
  | { userId: string; organizationId: string };

/** What the pipeline knows of a finished request, as plain values (pipeline.ts's `recordUsage`). */
export interface FinishedRequest {
  who: RecordedCaller;
  at: Date;
  durationMs: number;
  operation: { id: string; path: string } | undefined;
  method: string;
  /** The request target as sent (only the names of its query parameters are kept). */
  url: string;
  status: number;
  address: string;
  userAgent: string | null;
  requestId: string;
}

/** The most query parameter names a record keeps, and their longest name (the column's and the spec's bounds). */
const QUERY_NAMES = { count: 32, length: 64 } as const;

/** The sorted, distinct names of a request target's query parameters: never their values. */
export function queryNamesOf(url: string): string[] {
  const start = url.indexOf('?');
  if (start < 0 || start === url.length - 1) {
    return [];
  }
  const names = new Set<string>();
  for (const name of new URLSearchParams(url.slice(start + 1)).keys()) {
    names.add(
      Array.from(name.replace(/\p{Cc}/gu, ''))
        .slice(0, QUERY_NAMES.length)
        .join(''),
    );
  }
  return [...names].sort().slice(0, QUERY_NAMES.count);
}

/** The request log's record of a finished request. */
export function requestRecordOf(request: FinishedRequest): RequestLogRecord {
  const { who } = request;
  return {
    organizationId: who.organizationId,
    at: request.at,
    keyId: 'keyId' in who ? who.keyId : null,
    userId: 'userId' in who ? who.userId : null,
    environment: 'keyId' in who ? who.environment : null,
    operationId: request.operation?.id ?? null,
    method: request.method.slice(0, 16),
    path: request.operation?.path ?? null,
    status: request.status,
    durationMs: Math.max(0, Math.round(request.durationMs * 1000) / 1000),
    address: request.address,
    userAgent: request.userAgent,
    requestId: request.requestId,
    queryNames: queryNamesOf(request.url),
  };
}
