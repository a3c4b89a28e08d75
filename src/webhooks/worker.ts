import type { Logger } from 'pino';
import type { ClaimedDelivery, ExpiryEvent, Store } from '../store/types.ts';
import { keyEvent } from './events.ts';
import { DEFAULT_RETRY_SCHEDULE, nextAttemptAt, retryAfterSeconds } from './retry-schedule.ts';
import { openSecret } from './seal.ts';
import { webhookHeaders } from './signature.ts';
import { type WebhookTransport, webhookTransport } from './transport.ts';
import { type UrlPolicy, urlProblem } from './url-guard.ts';

// The delivery worker: every instance runs one, started and stopped with its server. It claims due deliveries from
// the outbox (FOR UPDATE SKIP LOCKED with a lease, so instances never send the same row at once and a dead instance's
// rows come back when the lease runs out), sends each signed (transport.ts: connections reach only addresses the
// URL policy allows, checked where they are resolved), and records the outcome. Sends run concurrently, each
// bounded by its timeout, so a receiver that hangs holds one slot for 15 s and never the others. It also runs the
// expiry scan that writes api_key.expiring and api_key.expired.

/** How the worker runs; every field but the store's has a default. */
export interface DeliveryWorkerOptions {
  store: Store;
  serverSecret: string;
  logger: Logger;
  /** The server's clock: when deliveries are due and the expiry scan's now. Signatures carry the wall clock. */
  clock?: () => Date;
  /** Allow http and private addresses (--allow-private-webhooks). */
  allowPrivate?: boolean;
  resolve?: UrlPolicy['resolve'];
  /** Seconds to wait after each failed attempt (MAILROOM_WEBHOOK_RETRY_SCHEDULE). */
  retrySchedule?: readonly number[];
  /** How often the outbox is polled (a change on this instance nudges it at once). Default 1000 ms. */
  pollMs?: number;
  /** Sends in flight at most. Default 16. */
  concurrency?: number;
  /** Per attempt. Default 15 s. */
  timeoutMs?: number;
  /** How often keys are scanned for expiry events. Default 60 s. */
  expiryScanMs?: number;
  /** The version in the User-Agent. */
  version?: string;
}

/** A running worker. */
export interface DeliveryWorker {
  /** Polls now (a change on this instance wrote events). */
  nudge(): void;
  /** Stops polling, aborts sends in flight and gives their deliveries back (not counted); resolves when done. */
  close(): Promise<void>;
}

/** How far ahead api_key.expiring is sent: 7 days. */
export const EXPIRING_NOTICE_MS = 7 * 86_400_000;

/** A claim outlives its attempt's timeout by this much, so only a dead instance's claim ever runs out. */
const LEASE_MARGIN_MS = 45_000;

/** What sending a delivery needs: the worker's settings, resolved. */
interface Sender {
  store: Store;
  serverSecret: string;
  clock: () => Date;
  schedule: readonly number[];
  timeoutMs: number;
  policy: UrlPolicy;
  userAgent: string;
  transport: WebhookTransport;
}

/** Starts the worker. */
export function startDeliveryWorker(options: DeliveryWorkerOptions): DeliveryWorker {
  const { store, logger } = options;
  const clock = options.clock ?? (() => new Date());
  const concurrency = options.concurrency ?? 16;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const expiryScanMs = options.expiryScanMs ?? 60_000;
  const policy: UrlPolicy = { allowPrivate: options.allowPrivate ?? false, resolve: options.resolve };
  const sender: Sender = {
    store,
    serverSecret: options.serverSecret,
    clock,
    schedule: options.retrySchedule ?? DEFAULT_RETRY_SCHEDULE,
    timeoutMs,
    policy,
    userAgent: `Mailroom-Webhooks/${options.version ?? '0'}`,
    transport: webhookTransport(policy),
  };
  const inFlight = new Map<string, { controller: AbortController; done: Promise<void> }>();
  let polling: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  let lastScan = 0;
  let lastPoll: { clock: number; real: number } | undefined;

  const poll = (): void => {
    if (stopped) {
      return;
    }
    if (polling) {
      again = true;
      return;
    }
    polling = pollOnce()
      .catch((err: unknown) => logger.warn({ err: { message: (err as Error).message } }, 'webhook outbox poll failed'))
      .finally(() => {
        polling = undefined;
        if (again) {
          again = false;
          poll();
        }
      });
  };

  async function pollOnce(): Promise<void> {
    const now = clock();
    // A sandbox's clock may jump (forward by POST /sandbox/clock, back to the real time by a reset): scan after either.
    const jumped =
      lastPoll !== undefined && Math.abs(now.getTime() - lastPoll.clock - (Date.now() - lastPoll.real)) > 1000;
    lastPoll = { clock: now.getTime(), real: Date.now() };
    if (jumped || now.getTime() - lastScan >= expiryScanMs) {
      lastScan = now.getTime();
      const written = await store.writeKeyExpiryEvents(now, EXPIRING_NOTICE_MS, 500, (type: ExpiryEvent, key) =>
        keyEvent(type, key, now),
      );
      again ||= written > 0;
    }
    const free = concurrency - inFlight.size;
    if (free <= 0) {
      return;
    }
    const claimed = await store.claimWebhookDeliveries(now, timeoutMs + LEASE_MARGIN_MS, free);
    for (const delivery of claimed) {
      launch(delivery);
    }
    again ||= claimed.length === free;
  }

  function launch(delivery: ClaimedDelivery): void {
    const controller = new AbortController();
    const done = deliver(sender, delivery, controller.signal)
      .catch((err: unknown) =>
        logger.warn({ err: { message: (err as Error).message }, deliveryId: delivery.deliveryId }, 'webhook delivery'),
      )
      .finally(() => {
        inFlight.delete(delivery.deliveryId);
        poll();
      });
    inFlight.set(delivery.deliveryId, { controller, done });
  }

  const timer = setInterval(poll, options.pollMs ?? 1000);
  timer.unref();
  poll();

  return {
    nudge: poll,
    async close() {
      stopped = true;
      clearInterval(timer);
      await polling;
      for (const { controller } of inFlight.values()) {
        controller.abort();
      }
      await Promise.all([...inFlight.values()].map((entry) => entry.done));
      sender.transport.close();
    },
  };
}

/** One claimed delivery: attempted, and its outcome recorded (or given back, when the worker is stopping). */
async function deliver(sender: Sender, delivery: ClaimedDelivery, stopping: AbortSignal): Promise<void> {
  const { store, clock, schedule } = sender;
  const result = await attempt(sender, delivery, stopping);
  if (stopping.aborted) {
    // Stopped mid-send: the attempt doesn't count; this or another instance sends it again.
    await store.releaseWebhookDelivery(delivery.deliveryId);
    return;
  }
  const at = clock();
  const failed = !result.ok;
  const next = failed && !result.final ? nextAttemptAt(schedule, delivery.attempts, at, result.retryAfter) : null;
  await store.recordWebhookAttempt(delivery.deliveryId, {
    status: result.ok ? 'succeeded' : next ? 'pending' : 'failed',
    nextAttemptAt: next,
    at,
    responseStatus: result.status ?? null,
    error: result.error ?? null,
  });
  if (result.status === 410) {
    await store.disableWebhookEndpoint(delivery.endpointId, 'the receiver answered 410 Gone', at);
  }
}

/** The secrets a delivery is signed with: the endpoint's, and the previous one while its overlap lasts. */
function signingSecrets(sender: Sender, delivery: ClaimedDelivery, now: Date): string[] {
  const secrets = [openSecret(delivery.secretSealed, sender.serverSecret)];
  if (delivery.previousSecretSealed && delivery.previousSecretExpiresAt && delivery.previousSecretExpiresAt > now) {
    secrets.push(openSecret(delivery.previousSecretSealed, sender.serverSecret));
  }
  return secrets;
}

/** One attempt: the URL checked (its name is checked where it is resolved, by the transport), then the signed POST. */
async function attempt(sender: Sender, delivery: ClaimedDelivery, stopping: AbortSignal): Promise<AttemptResult> {
  // A disabled endpoint gets nothing but the test pings sent to it on purpose.
  if (delivery.disabled && delivery.eventType !== 'ping') {
    return { ok: false, final: true, error: 'the endpoint is disabled' };
  }
  const problem = await urlProblem(delivery.url, sender.policy, { resolveNames: false });
  if (problem) {
    return { ok: false, error: `refused: the URL ${problem}` };
  }
  const now = sender.clock();
  const timestamp = Math.floor(Date.now() / 1000);
  const timeout = AbortSignal.timeout(sender.timeoutMs);
  try {
    const { status, headers } = await sender.transport.post(delivery.url, {
      body: delivery.payload,
      signal: AbortSignal.any([timeout, stopping]),
      headers: {
        'content-type': 'application/json',
        'user-agent': sender.userAgent,
        ...webhookHeaders(signingSecrets(sender, delivery, now), delivery.eventId, timestamp, delivery.payload),
      },
    });
    if (status >= 200 && status < 300) {
      return { ok: true, status };
    }
    const retryAfterHeader = headers['retry-after'] ?? null;
    const retryAfter = status === 429 || status === 503 ? retryAfterSeconds(retryAfterHeader, now) : undefined;
    return {
      ok: false,
      status,
      final: status === 410,
      retryAfter,
      error: status >= 300 && status < 400 ? 'redirects are not followed' : undefined,
    };
  } catch (err) {
    return { ok: false, error: timeout.aborted ? `no answer within ${sender.timeoutMs / 1000} s` : causeOf(err) };
  }
}

/** What one attempt came to. */
interface AttemptResult {
  ok: boolean;
  status?: number;
  error?: string;
  /** No retry: the receiver is gone (410), or the endpoint was disabled. */
  final?: boolean;
  retryAfter?: number | undefined;
}

/** What a failed fetch says went wrong (undici puts the socket's error in `cause`). */
function causeOf(err: unknown): string {
  const cause = (err as { cause?: { message?: unknown } }).cause;
  return typeof cause?.message === 'string' ? cause.message : (err as Error).message;
}
