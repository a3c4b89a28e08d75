import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { SessionOrigin, SessionUse, Store } from '../store/types.ts';
import { createLatestUseBatch } from './latest-use-batch.ts';

/** The longest client address and user agent a session keeps (the columns' CHECKs); longer ones are cut. */
export const ORIGIN_LIMITS = { address: 64, userAgent: 256 } as const;

const CONTROL = /\p{Cc}/u;

/** A header or address as stored: no control characters, at most `max` characters (a cut never splits a pair). */
function storable(value: string, max: number): string {
  if (value.length <= max && !CONTROL.test(value)) {
    return value; // every request's address and user agent: nothing to cut, so no copy
  }
  return Array.from(value.replace(/\p{Cc}/gu, ''))
    .slice(0, max)
    .join('');
}

/** A client address as sessions store it (and as the log-in throttle looks it up). */
export function storableAddress(address: string): string {
  return storable(address, ORIGIN_LIMITS.address);
}

/** Where a request came from, as a session records it: the client address and the `User-Agent` header, if any. */
export function originOf(address: string, headers: IncomingHttpHeaders): SessionOrigin {
  return { address: storableAddress(address), userAgent: userAgentOf(headers) };
}

/** The `User-Agent` header as stored, or null when there is none. */
export function userAgentOf(headers: IncomingHttpHeaders): string | null {
  const agent = headers['user-agent'];
  return typeof agent === 'string' && agent.trim() !== '' ? storable(agent.trim(), ORIGIN_LIMITS.userAgent) : null;
}

/** Records when, and from where, sessions were last used, and writes them in batches, off the request path. */
export interface SessionUseTracker {
  mark(tokenId: string, at: Date, origin: SessionOrigin): void;
  /** The newest use seen by this instance and not yet written, if any. */
  pending(tokenId: string): SessionUse | undefined;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Batches sessions' last uses as createLastUsedTracker does keys': one statement per interval, never one per request. */
export function createSessionUseTracker(store: Store, logger: Logger, intervalMs = 1000): SessionUseTracker {
  const batch = createLatestUseBatch<SessionUse>(
    (uses) => store.touchUserTokens([...uses.values()]),
    'sessions’ last use',
    logger,
    intervalMs,
  );
  return {
    ...batch,
    mark: (tokenId, at, origin) =>
      batch.mark(tokenId, { tokenId, at, address: origin.address ?? '', userAgent: origin.userAgent }),
  };
}
