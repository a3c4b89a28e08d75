import type { IncomingHttpHeaders } from 'node:http';
import { createRequire } from 'node:module';
import type { Redis as RedisClient } from 'ioredis';
import { maskApiKey, parseApiKey } from '../keys/api-key.ts';
import type { ApiKeyRecord } from '../store/types.ts';
import type { EventDraft } from './events.ts';

// usage.anomaly: a burst of refused requests on one key. Every answer 401 (a known key id: a wrong secret, or a revoked
// or expired key), 403 (a permission the key lacks) or 429 (rate limited) to a request made with a key counts toward
// that key; `threshold` of them within one `windowMs` window (it starts at the key's first refusal) fires the event
// once for that window. A pipeline hook at the end of each request feeds it; it shares nothing with request recording.
// Where the counts live: with Redis (--redis-url, as the rate limiter) in Redis, so instances behind a balancer see
// their sum (one MULTI per refusal: HINCRBY, PEXPIRE NX, HGETALL; the one that fires is the one HSETNX lets through);
// without it, or while Redis is down (fail-open, as the limiter), in this process's memory.

/** The thresholds: MAILROOM_ANOMALY_THRESHOLD refusals within MAILROOM_ANOMALY_WINDOW_SECONDS. */
export interface AnomalySettings {
  threshold: number;
  windowSeconds: number;
}

/** 20 refusals within a minute. */
export const DEFAULT_ANOMALY_SETTINGS: AnomalySettings = Object.freeze({ threshold: 20, windowSeconds: 60 });

/** The statuses that count. */
const REFUSALS = [401, 403, 429] as const;
type Refusal = (typeof REFUSALS)[number];

/** A key's refusals in its current window, by status. */
export type RefusalCounts = Record<Refusal, number>;

/** The most keys tracked at once in memory; past it the oldest windows are dropped (a flood of ids can't grow memory). */
const MAX_TRACKED = 10_000;

/** Where refusals are counted. */
export interface RefusalCounter {
  /** Counts one refusal of `keyId`: its window's counts, and whether this refusal is the one that fires it. */
  add(keyId: string, status: Refusal): Promise<{ counts: RefusalCounts; fire: boolean }>;
  close(): Promise<void>;
}

const totalOf = (counts: RefusalCounts) => counts[401] + counts[403] + counts[429];

/** Counts in this process's memory (one instance's share of the traffic). */
export function memoryRefusalCounter(settings: AnomalySettings, clock: () => Date): RefusalCounter {
  const windows = new Map<string, { startedAt: number; counts: RefusalCounts; fired: boolean }>();
  const windowMs = settings.windowSeconds * 1000;
  return {
    async add(keyId, status) {
      const now = clock().getTime();
      let window = windows.get(keyId);
      if (!window || now - window.startedAt >= windowMs) {
        windows.delete(keyId);
        if (windows.size >= MAX_TRACKED) {
          const oldest = windows.keys().next().value;
          if (oldest !== undefined) {
            windows.delete(oldest);
          }
        }
        window = { startedAt: now, counts: { 401: 0, 403: 0, 429: 0 }, fired: false };
        windows.set(keyId, window);
      }
      window.counts[status] += 1;
      const fire = !window.fired && totalOf(window.counts) >= settings.threshold;
      window.fired ||= fire;
      return { counts: { ...window.counts }, fire };
    },
    async close() {},
  };
}

/** Where the Redis counter connects, and what it does while Redis is out. */
export interface RedisRefusalCounterOptions {
  url: string;
  /** The rate limiter's prefix (each instance of a deployment shares it); the counts are under `<prefix>:anomaly:`. */
  keyPrefix: string;
  commandTimeoutMs?: number;
  /** Called with Redis errors; the refusal is then counted in memory (fail-open). */
  onError?: (error: Error) => void;
}

/**
 * Counts in Redis, shared by every instance on the same prefix: a hash per key and window (its fields the statuses,
 * and `fired`), expiring with the window. A Redis error counts the refusal in memory instead.
 */
export function redisRefusalCounter(
  settings: AnomalySettings,
  clock: () => Date,
  options: RedisRefusalCounterOptions,
): RefusalCounter {
  const fallback = memoryRefusalCounter(settings, clock);
  const windowMs = settings.windowSeconds * 1000;
  // Loaded only when the server has Redis (--redis-url), as the rate limiter loads it: `serve` starts without it.
  const { Redis } = createRequire(import.meta.url)('ioredis') as { Redis: typeof RedisClient };
  const client = new Redis(options.url, {
    // As the rate limiter: fail fast while disconnected, and reconnect forever.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs ?? 500,
    connectTimeout: 2_000,
    retryStrategy: (times) => Math.min(times * 100, 2_000),
  });
  client.on('error', (error: Error) => options.onError?.(error));

  async function add(keyId: string, status: Refusal) {
    const key = `${options.keyPrefix}:anomaly:${keyId}`;
    const replies = await client
      .multi()
      .hincrby(key, String(status), 1)
      .pexpire(key, windowMs, 'NX')
      .hgetall(key)
      .exec();
    const failed = replies?.find(([error]) => error)?.[0];
    if (!replies || failed) {
      throw failed ?? new Error('the usage.anomaly count was not applied');
    }
    const fields = (replies[2]?.[1] ?? {}) as Record<string, string>;
    const counts: RefusalCounts = {
      401: Number(fields[401] ?? 0),
      403: Number(fields[403] ?? 0),
      429: Number(fields[429] ?? 0),
    };
    const fire = totalOf(counts) >= settings.threshold && (await client.hsetnx(key, 'fired', '1')) === 1;
    return { counts, fire };
  }

  return {
    async add(keyId, status) {
      try {
        return await add(keyId, status);
      } catch (error) {
        options.onError?.(error as Error);
        return fallback.add(keyId, status);
      }
    },
    async close() {
      if (client.status === 'ready') {
        await client.quit().catch(() => client.disconnect());
      } else {
        client.disconnect();
      }
    },
  };
}

/** Watches answers for bursts of refusals. */
export interface AnomalyWatch {
  /** An answer to a request: counted when it is a refusal and names a known key. */
  observe(status: number, key: ApiKeyRecord | undefined, headers: IncomingHttpHeaders): void;
  /** Releases the counter (its Redis connection). */
  close(): Promise<void>;
}

/** What the watch needs: the thresholds, the clock, a key lookup by public id (cached), and where a burst goes. */
export interface AnomalyWatchDeps {
  settings: AnomalySettings;
  clock: () => Date;
  findKey(publicId: string): Promise<ApiKeyRecord | undefined>;
  onBurst(draft: EventDraft): void;
  /** Where refusals are counted (default: this process's memory). */
  counter?: RefusalCounter;
}

/** The key a request presented in either header, by its public id, when its checksum holds. */
function presentedPublicId(headers: IncomingHttpHeaders): string | undefined {
  const bearer = /^Bearer[ ]+(\S+)/i.exec(headers.authorization ?? '')?.[1];
  const header = headers['x-api-key'];
  const raw = bearer ?? (typeof header === 'string' ? header.trim() : undefined);
  if (raw === undefined) {
    return undefined;
  }
  const parsed = parseApiKey(raw);
  return parsed.ok ? parsed.publicId : undefined;
}

/** Creates the watch. */
export function createAnomalyWatch(deps: AnomalyWatchDeps): AnomalyWatch {
  const counter = deps.counter ?? memoryRefusalCounter(deps.settings, deps.clock);

  const count = async (key: ApiKeyRecord, status: Refusal) => {
    const { counts, fire } = await counter.add(key.keyId, status);
    if (!fire) {
      return;
    }
    deps.onBurst({
      organizationId: key.organizationId,
      type: 'usage.anomaly',
      at: deps.clock(),
      data: {
        kind: 'refusal_burst',
        keyId: key.keyId,
        keyPrefix: maskApiKey(key.publicId),
        refusals: { '401': counts[401], '403': counts[403], '429': counts[429] },
        threshold: deps.settings.threshold,
        windowSeconds: deps.settings.windowSeconds,
      },
    });
  };

  return {
    observe(status, key, headers) {
      if (!(REFUSALS as readonly number[]).includes(status)) {
        return;
      }
      if (key) {
        count(key, status as Refusal).catch(() => {});
        return;
      }
      // Refused before a caller was admitted (a wrong secret, a revoked or expired key): the key its id names.
      const publicId = presentedPublicId(headers);
      if (publicId !== undefined) {
        deps
          .findKey(publicId)
          .then((found) => found && count(found, status as Refusal))
          .catch(() => {});
      }
    },
    close: () => counter.close(),
  };
}
