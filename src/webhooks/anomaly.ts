import type { IncomingHttpHeaders } from 'node:http';
import { maskApiKey, parseApiKey } from '../keys/api-key.ts';
import type { ApiKeyRecord } from '../store/types.ts';
import type { EventDraft } from './events.ts';

// usage.anomaly: a burst of refused requests on one key. Every answer 401 (a known key id: a wrong secret, or a revoked
// or expired key), 403 (a permission the key lacks) or 429 (rate limited) to a request made with a key counts toward
// that key; `threshold` of them within one `windowMs` window fires the event once for that window. Counted in this
// process (each instance sees its own share of the traffic): a pipeline hook at the end of each request feeds it.
// This counter is its own: it shares nothing with request recording.

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

/** The most keys tracked at once; past it the oldest windows are dropped (a flood of ids can't grow memory). */
const MAX_TRACKED = 10_000;

/** Watches answers for bursts of refusals. */
export interface AnomalyWatch {
  /** An answer to a request: counted when it is a refusal and names a known key. */
  observe(status: number, key: ApiKeyRecord | undefined, headers: IncomingHttpHeaders): void;
}

interface Window {
  startedAt: number;
  counts: Record<Refusal, number>;
  fired: boolean;
}

/** What the watch needs: the thresholds, the clock, a key lookup by public id (cached), and where a burst goes. */
export interface AnomalyWatchDeps {
  settings: AnomalySettings;
  clock: () => Date;
  findKey(publicId: string): Promise<ApiKeyRecord | undefined>;
  onBurst(draft: EventDraft): void;
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
  const windows = new Map<string, Window>();
  const windowMs = deps.settings.windowSeconds * 1000;

  const count = (key: ApiKeyRecord, status: Refusal) => {
    const now = deps.clock().getTime();
    let window = windows.get(key.keyId);
    if (!window || now - window.startedAt >= windowMs) {
      windows.delete(key.keyId);
      if (windows.size >= MAX_TRACKED) {
        const oldest = windows.keys().next().value;
        if (oldest !== undefined) {
          windows.delete(oldest);
        }
      }
      window = { startedAt: now, counts: { 401: 0, 403: 0, 429: 0 }, fired: false };
      windows.set(key.keyId, window);
    }
    window.counts[status] += 1;
    const total = window.counts[401] + window.counts[403] + window.counts[429];
    if (!window.fired && total >= deps.settings.threshold) {
      window.fired = true;
      deps.onBurst({
        organizationId: key.organizationId,
        type: 'usage.anomaly',
        at: new Date(now),
        data: {
          kind: 'refusal_burst',
          keyId: key.keyId,
          keyPrefix: maskApiKey(key.publicId),
          refusals: { '401': window.counts[401], '403': window.counts[403], '429': window.counts[429] },
          threshold: deps.settings.threshold,
          windowSeconds: deps.settings.windowSeconds,
        },
      });
    }
  };

  return {
    observe(status, key, headers) {
      if (!(REFUSALS as readonly number[]).includes(status)) {
        return;
      }
      if (key) {
        count(key, status as Refusal);
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
  };
}
