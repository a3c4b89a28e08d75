import { parseRateLimitHeaders, type RateLimitState } from './rate-limit-headers.ts';

/**
 * What a client knows of the server's binding rate-limit window:
 * - `unknown`: nothing yet, or its last window has reset: one request (a probe) is sent, the others wait for its answer;
 * - `unannounced`: the probe's answer carried no rate-limit headers: nothing to pace by;
 * - `budget`: `left` more requests fit before `resetAt` (ms since the epoch), counted down as they are sent.
 */
export type PaceState =
  | { kind: 'unknown' }
  | { kind: 'unannounced' }
  | { kind: 'budget'; left: number; resetAt: number };

/** What a request about to be sent should do: go, wait until `until` (ms since the epoch), or wait for an answer. */
export type PaceDecision = { go: true } | { go: false; until: number } | { go: false; until?: undefined };

/** How the client paces itself. Every field is optional. */
export interface PacingOptions {
  /** A window that resets later than this is not waited for: the request goes, and the server's 429 answers it. */
  maxWaitMs?: number;
  /** Called when a request is held until the window resets (once per wait, not per request held). */
  onWait?: (event: { waitMs: number; state: PaceState }) => void;
  /** The current time in ms. Injectable for tests. */
  now?: () => number;
}

/** The default: a window that resets within 60 s is waited for, as the retry policy waits for a `Retry-After`. */
export const DEFAULT_PACING = { maxWaitMs: 60_000 } as const satisfies PacingOptions;

/** The state at `now`: a spent budget whose window has reset is unknown again (its next request is a probe). */
export function expirePace(state: PaceState, now: number): PaceState {
  return state.kind === 'budget' && state.left === 0 && now >= state.resetAt ? { kind: 'unknown' } : state;
}

/**
 * Whether a request may be sent now, given the state (see expirePace) and the client's requests in flight: with a
 * budget left, yes; with none, not before the window resets, unless that is more than `maxWaitMs` away; when the state
 * is unknown, only one request at a time, until an answer says how many fit.
 */
export function decidePace(state: PaceState, inFlight: number, now: number, maxWaitMs: number): PaceDecision {
  if (state.kind === 'unannounced' || (state.kind === 'budget' && state.left > 0)) {
    return { go: true };
  }
  if (state.kind === 'budget') {
    return state.resetAt - now > maxWaitMs ? { go: true } : { go: false, until: state.resetAt };
  }
  return inFlight === 0 ? { go: true } : { go: false };
}

/** The state after sending one request: a budget is spent by one; an unknown state has its probe out. */
export function spendPace(state: PaceState): PaceState {
  return state.kind === 'budget' ? { ...state, left: Math.max(0, state.left - 1) } : state;
}

/**
 * The state after an answer that announced `announced` (null: no rate-limit headers), `sentAfter` being the requests
 * this client sent after the answered one (in flight or answered): the server may have counted them after it, so they
 * come off its `remaining`. A budget only ever shrinks here (answers arrive out of order; an older one must not give
 * back what a newer one spent); it grows by the probe after its window resets. `resetAt` moves only with a smaller
 * budget, so the waits follow the window that binds. A server that announces nothing is not paced.
 */
export function observePace(
  state: PaceState,
  announced: RateLimitState | null,
  sentAfter: number,
  now: number,
): PaceState {
  if (announced === null) {
    return state.kind === 'unknown' ? { kind: 'unannounced' } : state;
  }
  const left = Math.max(0, announced.remaining - sentAfter);
  const resetAt = now + announced.resetSeconds * 1000;
  if (state.kind !== 'budget' || left < state.left) {
    return { kind: 'budget', left, resetAt };
  }
  return state;
}

/** One client's pacing: the state every request of the client shares, and the wait they share. */
export interface Pacer {
  readonly state: PaceState;
  /** Sends `request` with `fetch` once the window allows it, and records what its answer announces. */
  send(request: Request, fetch: (request: Request) => Promise<Response>): Promise<Response>;
  /**
   * Forgets the window (the state is unknown again: the next request goes alone and its answer sets the budget), for
   * when the server's windows were emptied behind the answers' back (a sandbox reset). Held requests decide again.
   */
  forget(): void;
}

/**
 * Creates a pacer: requests of one client go through it, so they share one view of the window and one wait. When an
 * answer says the window is spent (`RateLimit: "burst";r=0;t=1`), later requests are held until it resets instead of
 * being sent to be refused with a 429; the first request after the reset goes alone and its answer sets the new budget.
 * A held request whose signal aborts rejects with the signal's reason at once.
 */
export function createPacer(options: PacingOptions = {}): Pacer {
  const maxWaitMs = options.maxWaitMs ?? DEFAULT_PACING.maxWaitMs;
  if (!Number.isFinite(maxWaitMs) || maxWaitMs < 0) {
    throw new RangeError('pacing.maxWaitMs must be a non-negative number');
  }
  const now = options.now ?? Date.now;
  let state: PaceState = { kind: 'unknown' };
  let sent = 0;
  let inFlight = 0;
  // Held requests wait on one promise, settled whenever the state may let one of them go: an answer, or the timer.
  let wake: { promise: Promise<void>; resolve: () => void } | undefined;
  let timer: { at: number; handle: ReturnType<typeof setTimeout> } | undefined;
  let waiting = 0;

  function wakeAll(): void {
    const current = wake;
    wake = undefined;
    current?.resolve();
  }

  function changed(): Promise<void> {
    if (wake === undefined) {
      let resolve = () => {};
      const promise = new Promise<void>((done) => {
        resolve = done;
      });
      wake = { promise, resolve };
    }
    return wake.promise;
  }

  function wakeAt(at: number): void {
    if (timer?.at === at) {
      return;
    }
    if (timer !== undefined) {
      clearTimeout(timer.handle);
    }
    options.onWait?.({ waitMs: at - now(), state });
    timer = {
      at,
      handle: setTimeout(
        () => {
          timer = undefined;
          wakeAll();
        },
        Math.max(0, at - now()),
      ),
    };
  }

  // Takes a slot in the same step as the decision, so requests admitted together can't all see the same free slot.
  async function admit(signal: AbortSignal): Promise<number> {
    for (;;) {
      signal.throwIfAborted();
      state = expirePace(state, now());
      const decision = decidePace(state, inFlight, now(), maxWaitMs);
      if (decision.go) {
        state = spendPace(state);
        inFlight++;
        return ++sent;
      }
      if (decision.until !== undefined) {
        wakeAt(decision.until);
      }
      waiting++;
      try {
        await untilAborted(changed(), signal);
      } finally {
        waiting--;
        // Nobody left to wake (every held request was aborted): the timer would only keep the process alive.
        if (waiting === 0 && signal.aborted && timer !== undefined) {
          clearTimeout(timer.handle);
          timer = undefined;
        }
      }
    }
  }

  return {
    get state() {
      return state;
    },
    async send(request, fetch) {
      const seq = await admit(request.signal);
      let response: Response | undefined;
      try {
        response = await fetch(request);
        return response;
      } finally {
        inFlight--;
        // A network error says nothing about the window: the state stays, and the next request decides again.
        if (response !== undefined) {
          state = observePace(state, parseRateLimitHeaders(response.headers, now()), sent - seq, now());
        }
        wakeAll();
      }
    },
    forget() {
      state = { kind: 'unknown' };
      if (timer !== undefined) {
        clearTimeout(timer.handle);
        timer = undefined;
      }
      wakeAll();
    },
  };
}

/** Wraps `fetch` so every request it sends goes through `pacer` (the client's own retries included). */
export function pacedFetch(
  fetch: (request: Request) => Promise<Response>,
  pacer: Pacer,
): (request: Request) => Promise<Response> {
  return (request) => pacer.send(request, fetch);
}

/** `promise`, or a rejection with the signal's reason as soon as it aborts. */
function untilAborted(promise: Promise<void>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
