// When a failed delivery is tried again: the Standard Webhooks schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after
// each failure, about a day and a half in all), or the operator's MAILROOM_WEBHOOK_RETRY_SCHEDULE.

/** Seconds to wait after the 1st, 2nd, … failed attempt; when they run out, the delivery has failed. */
export const DEFAULT_RETRY_SCHEDULE: readonly number[] = Object.freeze([5, 300, 1800, 7200, 18000, 36000, 36000]);

/** The longest wait a receiver's `Retry-After` can ask for (longer is capped): a day. */
export const MAX_RETRY_AFTER_SECONDS = 86_400;

/** Parses `MAILROOM_WEBHOOK_RETRY_SCHEDULE`: comma-separated non-negative seconds (`5,300,1800`). Throws on anything else. */
export function parseRetrySchedule(text: string): number[] {
  const parts = text.split(',').map((part) => part.trim());
  if (parts.length === 0 || parts.some((part) => !/^\d+(\.\d+)?$/.test(part))) {
    throw new Error(`a retry schedule is comma-separated seconds, such as 5,300,1800 (got ${JSON.stringify(text)})`);
  }
  return parts.map(Number);
}

/** Seconds of a `Retry-After` value (delay seconds or an HTTP date), or undefined when it says neither. */
export function retryAfterSeconds(value: string | null, now: Date): number | undefined {
  if (value === null) {
    return undefined;
  }
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) {
    return Math.min(Number(trimmed), MAX_RETRY_AFTER_SECONDS);
  }
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.min(Math.max(0, (at - now.getTime()) / 1000), MAX_RETRY_AFTER_SECONDS);
}

/**
 * When the attempt after `attempts` failed attempts is due: after the schedule's wait for that attempt, or the
 * receiver's Retry-After when that is longer; null when the schedule is spent.
 */
export function nextAttemptAt(
  schedule: readonly number[],
  attempts: number,
  now: Date,
  retryAfter?: number,
): Date | null {
  const wait = schedule[attempts - 1];
  if (wait === undefined) {
    return null;
  }
  return new Date(now.getTime() + Math.max(wait, retryAfter ?? 0) * 1000);
}
