import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis as RedisClient } from 'ioredis';
import type {
  RateLimiterRes as LimiterRes,
  RateLimiterMemory as MemoryLimiter,
  RateLimiterAbstract,
  RateLimiterRedis as RedisLimiter,
} from 'rate-limiter-flexible';
import { type LimitDecision, outageDecision, selectBindingWindow, type WindowState } from './decision.ts';
import {
  type AccountWindowName,
  type AccountWindows,
  ALIGNED_WINDOWS,
  DEFAULT_ACCOUNT_WINDOWS,
  DEFAULT_FAILED_AUTH_WINDOW,
  KEY_WINDOW_NAME,
  KEY_WINDOW_SECONDS,
  type PlanTable,
  validatePlanTable,
  validateWindow,
  type WindowConfig,
} from './plans.ts';

export type { LimitDecision, WindowState };

// rate-limiter-flexible's index loads every store it supports (Redis, Mongo, MySQL, …) and ioredis is only for
// --redis-url: the in-memory limiter loads its two classes, and the Redis ones are loaded with the first Redis store.
// A sandbox's start-up skips about 80 modules.
const require = createRequire(import.meta.url);
const RateLimiterMemory = require('rate-limiter-flexible/lib/RateLimiterMemory.js') as typeof MemoryLimiter;
const RateLimiterRes = require('rate-limiter-flexible/lib/RateLimiterRes.js') as typeof LimiterRes;

/** An API-key request: its organization's pool (by plan) and, optionally, its key's own budget. */
export interface OrganizationSubject {
  organizationId: string;
  plan: string;
  keyId: string;
  keyRateLimit: number | null;
}

/**
 * A request counted in one of the account windows instead: a user token's requests per user, public operations
 * (sign-up, log-in) per client address, failed log-ins per account (and address).
 */
export interface WindowSubject {
  window: AccountWindowName;
  id: string;
}

/** Who a request is counted against. */
export type LimitSubject = OrganizationSubject | WindowSubject;

/** Health of the counting store. */
export interface RateLimiterHealth {
  kind: 'memory' | 'redis';
  status: 'up' | 'down' | 'degraded';
}

/** The rate-limit engine used by the server. */
export interface RateLimiter {
  readonly kind: 'memory' | 'redis';
  /**
   * Counts one request against every applicable window. Under the fail-closed policy a store outage is not an
   * exception but an outage decision (`outage: true`, nothing admitted, every window exhausted). `at` places the
   * request in the slots of the clock-aligned windows (ALIGNED_WINDOWS; default: now); other windows ignore it.
   */
  consume(subject: LimitSubject, at?: Date): Promise<LimitDecision>;
  /** Same state as `consume` would report, without counting. */
  peek(subject: LimitSubject, at?: Date): Promise<LimitDecision>;
  /**
   * Takes back one request that `consume(subject, at)` counted (a log-in attempt that turned out not to be a failure,
   * or was refused before it was tried). A store error only leaves the count as it was; it is reported, not thrown.
   */
  refund(subject: WindowSubject, at: Date): Promise<void>;
  /** Whether `ip` is already over its failed-authentication budget; does not count. */
  checkFailedAuth(ip: string): Promise<LimitDecision>;
  /** Counts one failed authentication for `ip`. */
  recordFailedAuth(ip: string): Promise<LimitDecision>;
  /** Forgets every count, so every window starts unspent (a sandbox reset; the memory store only). */
  reset(): Promise<void>;
  /** Redis down with fail-open is 'degraded' (limits are per instance meanwhile); with fail-closed it is 'down'. */
  health(): Promise<RateLimiterHealth>;
  /** Releases the store connection. */
  close(): Promise<void>;
}

/** Where counts live: this process's memory, or Redis shared by all instances. */
export type RateLimiterStoreOptions =
  | { kind: 'memory' }
  | {
      kind: 'redis';
      url: string;
      keyPrefix?: string;
      outagePolicy: 'fail-open' | 'fail-closed';
      commandTimeoutMs?: number;
    };

/** Options of `createRateLimiter`. */
export interface CreateRateLimiterOptions {
  plans: PlanTable;
  failedAuth?: WindowConfig;
  /** The user, address and account windows (defaults: DEFAULT_ACCOUNT_WINDOWS). */
  accountWindows?: Partial<AccountWindows>;
  store: RateLimiterStoreOptions;
  /** Called with Redis connection errors (they repeat while Redis is unreachable); e.g. log them. */
  onStoreError?: (error: Error) => void;
}

/** Thrown when a subject's plan is not in the plan table. */
export class UnknownPlanError extends Error {
  override name = 'UnknownPlanError';
  readonly plan: string;

  constructor(plan: string) {
    super(`unknown rate-limit plan "${plan}"`);
    this.plan = plan;
  }
}

/** Default Redis key prefix; every limiter adds scope, window and policy after it. */
export const DEFAULT_REDIS_KEY_PREFIX = 'mailroom:rl';

/** Default Redis command timeout: bounds the latency a Redis problem can add to a request. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 500;

// A limiter of one window; `RateLimiterMemory` and `RateLimiterRedis` share this interface.
interface CountedWindow {
  config: WindowConfig;
  limiter: RateLimiterAbstract;
}

// One window applied to one subject id (org id, key id or IP); a clock-aligned window's slot ends at `slot.end`.
interface WindowCheck {
  window: CountedWindow;
  id: string;
  slot?: { now: number; end: number };
}

interface Store {
  kind: 'memory' | 'redis';
  /** Builds the limiter of one window; `scope` keeps counts of different windows and policies apart. */
  window(config: WindowConfig, scope: string): CountedWindow;
  /** The decision when the store could not answer (not a rate-limit rejection): an outage, or the error rethrown. */
  failure(error: unknown, checks: WindowCheck[]): LimitDecision;
  health(): Promise<RateLimiterHealth>;
  close(): Promise<void>;
}

/** Creates the rate-limit engine; all limiters are built here (per plan window), none per request. */
export function createRateLimiter(opts: CreateRateLimiterOptions): RateLimiter {
  const plans = validatePlanTable(opts.plans, 'plans');
  const failedAuthConfig = validateWindow(opts.failedAuth ?? DEFAULT_FAILED_AUTH_WINDOW, 'failedAuth');
  const store = opts.store.kind === 'redis' ? redisStore(opts.store, opts.onStoreError) : memoryStore();

  const planWindows = new Map<string, CountedWindow[]>();
  let failedAuth: CountedWindow;
  const accountWindows = new Map<AccountWindowName, CountedWindow>();
  // Keys with their own rateLimit: one limiter per distinct value, created on first use.
  const keyWindows = new Map<number, CountedWindow>();
  // Every window's limiter, built here (and again by `reset`, whose new limiters count from nothing): none per request.
  const buildWindows = () => {
    for (const [plan, config] of Object.entries(plans)) {
      planWindows.set(
        plan,
        config.windows.map((window) => store.window(window, `org:${plan}`)),
      );
    }
    failedAuth = store.window(failedAuthConfig, 'ip');
    for (const [name, config] of Object.entries({ ...DEFAULT_ACCOUNT_WINDOWS, ...opts.accountWindows })) {
      accountWindows.set(name as AccountWindowName, store.window(validateWindow(config, name), name));
    }
    keyWindows.clear();
  };
  buildWindows();

  const keyWindow = (rateLimit: number): CountedWindow => {
    let window = keyWindows.get(rateLimit);
    if (window === undefined) {
      window = store.window({ name: KEY_WINDOW_NAME, limit: rateLimit, windowSeconds: KEY_WINDOW_SECONDS }, 'key');
      keyWindows.set(rateLimit, window);
    }
    return window;
  };

  const checksFor = (subject: LimitSubject, at?: Date): WindowCheck[] => {
    if ('window' in subject) {
      const window = accountWindows.get(subject.window);
      if (window === undefined) {
        throw new RangeError(`unknown account window ${subject.window}`);
      }
      if (!ALIGNED_WINDOWS.has(subject.window)) {
        return [{ window, id: subject.id }];
      }
      // The slot of `at`: its own key, so counts of earlier slots never reach it (RLF expires them in real time).
      const now = at?.getTime() ?? Date.now();
      const length = window.config.windowSeconds * 1000;
      const slot = Math.floor(now / length);
      return [{ window, id: `${subject.id}@${slot}`, slot: { now, end: (slot + 1) * length } }];
    }
    const windows = planWindows.get(subject.plan);
    if (windows === undefined) {
      throw new UnknownPlanError(subject.plan);
    }
    const checks = windows.map((window) => ({ window, id: subject.organizationId }));
    if (subject.keyRateLimit !== null) {
      if (!Number.isSafeInteger(subject.keyRateLimit) || subject.keyRateLimit <= 0) {
        throw new RangeError(`keyRateLimit must be a positive integer or null, got ${subject.keyRateLimit}`);
      }
      checks.push({ window: keyWindow(subject.keyRateLimit), id: subject.keyId });
    }
    return checks;
  };

  // Every authenticated request first peeks at its address's failed-authentication window. In memory, only this
  // process records failures, so an address it has not seen fail within the window is known untouched without asking
  // the store: the common case costs a map lookup. (With Redis another instance may have counted, so it always asks.)
  const failedRecently = new Map<string, number>();
  const untouched: LimitDecision = Object.freeze(
    decisionOf(failedAuthConfig, { remaining: failedAuthConfig.limit, resetSeconds: failedAuthConfig.windowSeconds }),
  );

  return {
    kind: store.kind,
    consume: async (subject, at) => evaluate(store, checksFor(subject, at), 'consume'),
    peek: async (subject, at) => evaluate(store, checksFor(subject, at), 'peek'),
    refund: async (subject, at) => {
      await Promise.all(
        checksFor(subject, at).map(({ window, id }) =>
          window.limiter.reward(id, 1).catch((error: unknown) => {
            opts.onStoreError?.(error instanceof Error ? error : new Error(String(error)));
          }),
        ),
      );
    },
    checkFailedAuth: async (ip) => {
      if (store.kind === 'memory') {
        const until = failedRecently.get(ip);
        if (until === undefined) {
          return untouched;
        }
        if (until <= Date.now()) {
          failedRecently.delete(ip);
          return untouched;
        }
      }
      return evaluate(store, [{ window: failedAuth, id: ip }], 'peek');
    },
    recordFailedAuth: async (ip) => {
      if (store.kind === 'memory') {
        if (failedRecently.size >= MAX_REMEMBERED_ADDRESSES) {
          failedRecently.clear(); // the store still holds the counts: forgetting only costs lookups
        }
        failedRecently.set(ip, Date.now() + failedAuthConfig.windowSeconds * 1000);
      }
      return evaluate(store, [{ window: failedAuth, id: ip }], 'consume');
    },
    reset: async () => {
      if (store.kind !== 'memory') {
        throw new Error('only the in-memory rate limiter can be reset (a sandbox runs without Redis)');
      }
      buildWindows();
      failedRecently.clear();
    },
    health: () => store.health(),
    close: () => store.close(),
  };
}

/** Addresses remembered as having failed recently (memory store), before the memory is dropped and rebuilt. */
const MAX_REMEMBERED_ADDRESSES = 100_000;

/** A decision about one window in a given state, admitted. */
function decisionOf(config: WindowConfig, state: { remaining: number; resetSeconds: number }): LimitDecision {
  const window = { name: config.name, limit: config.limit, windowSeconds: config.windowSeconds, ...state };
  return { allowed: true, windows: [window], binding: window, retryAfterSeconds: null };
}

/** Resolves true once `health()` says 'up' (false after `timeoutMs`), so a server can count in Redis from request one. */
export async function waitUntilUp(limiter: RateLimiter, timeoutMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await limiter.health()).status === 'up') {
      return true;
    }
    if (Date.now() >= deadline) {
      return false;
    }
    await sleep(50);
  }
}

/**
 * Counts (or reads) every window in parallel. A request is admitted only if all windows admit it; a rejected request
 * still counts in the windows that admitted it (RLF counts atomically per window, there is no cross-window rollback).
 */
async function evaluate(store: Store, checks: WindowCheck[], mode: 'consume' | 'peek'): Promise<LimitDecision> {
  const outcomes = await Promise.allSettled(
    checks.map(({ window, id }) => (mode === 'consume' ? window.limiter.consume(id) : window.limiter.get(id))),
  );
  const windows: WindowState[] = [];
  let failure: { reason: unknown } | undefined;
  let allowed = true;
  let retryAfterSeconds = 0;
  outcomes.forEach((outcome, index) => {
    const { window, slot } = checks[index] as WindowCheck;
    const config = window.config;
    let state: WindowState;
    let rejects: boolean;
    if (outcome.status === 'fulfilled') {
      state = windowState(config, outcome.value, mode, slot);
      // A peek reports whether the next request would pass: a window with nothing left would reject it.
      rejects = mode === 'peek' && state.remaining === 0;
    } else if (outcome.reason instanceof RateLimiterRes) {
      // RLF rejects an over-limit consume with a RateLimiterRes; any other rejection is a store failure.
      state = windowState(config, outcome.reason, mode, slot);
      rejects = true;
    } else {
      failure ??= { reason: outcome.reason };
      return;
    }
    if (rejects) {
      allowed = false;
      retryAfterSeconds = Math.max(retryAfterSeconds, state.resetSeconds, 1);
    }
    windows.push(state);
  });
  if (failure !== undefined) {
    return store.failure(failure.reason, checks);
  }
  return {
    allowed,
    windows,
    binding: selectBindingWindow(windows),
    retryAfterSeconds: allowed ? null : retryAfterSeconds,
  };
}

/** Converts RLF's result for one window into its public state; a clock-aligned window resets when its slot ends. */
function windowState(
  config: WindowConfig,
  res: LimiterRes | null,
  mode: 'consume' | 'peek',
  slot?: { now: number; end: number },
): WindowState {
  const { name, limit, windowSeconds } = config;
  const slotReset = slot && Math.min(windowSeconds, Math.max(1, Math.ceil((slot.end - slot.now) / 1000)));
  // Nothing counted yet (or, in memory, an expired record not yet purged): the window would start now.
  if (res === null || (mode === 'peek' && res.msBeforeNext <= 0)) {
    return { name, limit, remaining: limit, resetSeconds: slotReset ?? windowSeconds, windowSeconds };
  }
  const remaining = Math.min(limit, Math.max(0, limit - res.consumedPoints));
  const resetSeconds = slotReset ?? Math.min(windowSeconds, Math.max(0, Math.ceil(res.msBeforeNext / 1000)));
  return { name, limit, remaining, resetSeconds, windowSeconds };
}

/** RLF key prefix of one window: scope, name and policy, so a config change never mixes old and new counts. */
function windowPrefix(base: string, scope: string, config: WindowConfig): string {
  return `${base}:${scope}:${config.name}:${config.limit}/${config.windowSeconds}s`;
}

function memoryStore(): Store {
  return {
    kind: 'memory',
    window: (config, scope) => ({
      config,
      limiter: new RateLimiterMemory({
        points: config.limit,
        duration: config.windowSeconds,
        keyPrefix: windowPrefix('mem', scope, config),
      }),
    }),
    // The memory store has no I/O; an error here is a bug, surfaced as is.
    failure: (error) => {
      throw error;
    },
    health: async () => ({ kind: 'memory', status: 'up' }),
    close: async () => {},
  };
}

function redisStore(
  options: Extract<RateLimiterStoreOptions, { kind: 'redis' }>,
  onStoreError: ((error: Error) => void) | undefined,
): Store {
  const failOpen = options.outagePolicy === 'fail-open';
  const keyPrefix = options.keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX;
  const { Redis } = require('ioredis') as { Redis: typeof RedisClient };
  const RateLimiterRedis = require('rate-limiter-flexible/lib/RateLimiterRedis.js') as typeof RedisLimiter;
  const client = new Redis(options.url, {
    // Never queue commands while disconnected: an outage must fail fast, not hang requests.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    connectTimeout: 2_000,
    // Reconnect forever with a short capped backoff, so Redis coming back needs no restart.
    retryStrategy: (times) => Math.min(times * 100, 2_000),
  });
  // Without a listener ioredis prints every connection error to the console.
  client.on('error', (error: Error) => onStoreError?.(error));

  const down: RateLimiterHealth = { kind: 'redis', status: failOpen ? 'degraded' : 'down' };
  return {
    kind: 'redis',
    window: (config, scope) => ({
      config,
      limiter: new RateLimiterRedis({
        storeClient: client,
        points: config.limit,
        duration: config.windowSeconds,
        keyPrefix: windowPrefix(keyPrefix, scope, config),
        // Reject at once while not connected, instead of waiting for the command timeout on every request.
        rejectIfRedisNotReady: true,
        // RLF's fallback on store errors: per-instance memory limits of the same size while Redis is out.
        insuranceLimiter: failOpen
          ? new RateLimiterMemory({
              points: config.limit,
              duration: config.windowSeconds,
              keyPrefix: windowPrefix('insurance', scope, config),
            })
          : undefined,
      }),
    }),
    // Only fail-closed gets here: fail-open limiters answer from their insurance limiter instead of failing.
    failure: (_error, checks) => outageDecision(checks.map((check) => check.window.config)),
    health: async () => {
      if (client.status !== 'ready') {
        return down;
      }
      try {
        await client.ping();
        return { kind: 'redis', status: 'up' };
      } catch {
        return down;
      }
    },
    close: async () => {
      if (client.status === 'ready') {
        try {
          await client.quit();
          return;
        } catch {
          // Fall through to a hard disconnect.
        }
      }
      client.disconnect();
    },
  };
}
