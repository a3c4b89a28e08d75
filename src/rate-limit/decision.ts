import type { WindowConfig } from './plans.ts';

/** The state of one window after (or, for peeks, without) counting a request. */
export interface WindowState {
  name: string;
  limit: number;
  remaining: number;
  resetSeconds: number;
  windowSeconds: number;
}

/**
 * What the limiter decided about one request: every applicable window, the binding one, whether the request is
 * admitted, and when to retry if it is not. `outage` is set when the counting store could not answer under the
 * fail-closed policy: nothing is admitted and every window is shown exhausted.
 */
export interface LimitDecision {
  allowed: boolean;
  windows: WindowState[];
  binding: WindowState;
  /** Seconds until a refused request may be retried; null when admitted or during an outage. */
  retryAfterSeconds: number | null;
  outage?: boolean;
}

/**
 * The most restrictive window, the one X-RateLimit-* describe: lowest `remaining`, ties broken by the larger
 * `resetSeconds` (the one that takes longer to recover), then by order.
 */
export function selectBindingWindow(windows: readonly WindowState[]): WindowState {
  const [first, ...rest] = windows;
  if (first === undefined) {
    throw new RangeError('a decision needs at least one window');
  }
  let binding = first;
  for (const window of rest) {
    if (
      window.remaining < binding.remaining ||
      (window.remaining === binding.remaining && window.resetSeconds > binding.resetSeconds)
    ) {
      binding = window;
    }
  }
  return binding;
}

/** The decision when the counting store is down under fail-closed: nothing admitted, every window exhausted. */
export function outageDecision(configs: readonly WindowConfig[]): LimitDecision {
  const windows = configs.map(({ name, limit, windowSeconds }) => ({
    name,
    limit,
    remaining: 0,
    resetSeconds: windowSeconds,
    windowSeconds,
  }));
  return { allowed: false, windows, binding: selectBindingWindow(windows), retryAfterSeconds: null, outage: true };
}

/**
 * The decision as it would be with every window exhausted (a sandbox scenario's 429): the same windows, none left,
 * the binding one chosen as always, and a retry time that is that window's real reset.
 */
export function exhaustedDecision(decision: LimitDecision): LimitDecision {
  const windows = decision.windows.map((window) => ({ ...window, remaining: 0 }));
  const binding = selectBindingWindow(windows);
  return { allowed: false, windows, binding, retryAfterSeconds: Math.max(1, binding.resetSeconds) };
}

/**
 * One decision from two made for the same request (a log-in counts against its address and its account): every
 * window of both, admitted only if both admit, the later retry time, an outage if either store was down.
 */
export function combineDecisions(a: LimitDecision, b: LimitDecision): LimitDecision {
  const windows = [...a.windows, ...b.windows];
  const allowed = a.allowed && b.allowed;
  const outage = Boolean(a.outage || b.outage);
  const retry = Math.max(a.retryAfterSeconds ?? 0, b.retryAfterSeconds ?? 0);
  return {
    allowed,
    windows,
    binding: selectBindingWindow(windows),
    retryAfterSeconds: allowed || outage ? null : retry || null,
    ...(outage ? { outage } : {}),
  };
}
