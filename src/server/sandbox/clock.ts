// The sandbox's clock (Stripe's test clocks are the precedent): the time every part of a sandbox reads — key and token
// expiry, the expiry scan that sends api_key.expiring and api_key.expired, request-log periods, the times it writes —
// is the real time plus an offset that `POST /sandbox/clock` moves forward. It never goes back but with a reset, which
// returns it to the real time. Only a sandbox has one; any other server reads its clock as given.

/** The most one call moves the clock: a year. */
export const MAX_ADVANCE_SECONDS = 31_536_000;

/** A clock that can be moved forward. */
export interface SandboxClock {
  /** The sandbox's now. */
  now(): Date;
  /** Moves the clock forward by `seconds` (1 to MAX_ADVANCE_SECONDS); the new now. */
  advance(seconds: number): Date;
  /** How far ahead of the underlying clock it is, in seconds. */
  offsetSeconds(): number;
  /** Back to the underlying clock (a reset). */
  reset(): void;
}

/** A sandbox clock over `base` (the server's clock as configured). */
export function createSandboxClock(base: () => Date): SandboxClock {
  let offsetMs = 0;
  return {
    now: () => new Date(base().getTime() + offsetMs),
    advance(seconds) {
      if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_ADVANCE_SECONDS) {
        throw new RangeError(`the clock moves forward by 1 to ${MAX_ADVANCE_SECONDS} whole seconds, not ${seconds}`);
      }
      offsetMs += seconds * 1000;
      return new Date(base().getTime() + offsetMs);
    },
    offsetSeconds: () => offsetMs / 1000,
    reset() {
      offsetMs = 0;
    },
  };
}
