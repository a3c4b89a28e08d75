import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRateLimiter,
  type LimitDecision,
  type OrganizationSubject,
  type RateLimiter,
  type RateLimiterStoreOptions,
  UnknownPlanError,
  waitUntilUp,
} from '../../src/rate-limit/limiter.ts';
import { PlanConfigError, type PlanTable } from '../../src/rate-limit/plans.ts';

const REDIS_URL = process.env.MAILROOM_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const UNREACHABLE_REDIS_URL = 'redis://127.0.0.1:1';
// Every Redis key this file writes starts with RUN, so parallel runs never meet and cleanup is one SCAN.
const RUN = `mailroom-test:rl:${randomBytes(6).toString('hex')}`;

const L = 5;
// Windows are long (30 s, 60 s) so none can reset in the middle of a test.
const PLANS: PlanTable = {
  // The burst window (L) binds.
  small: {
    windows: [
      { name: 'burst', limit: L, windowSeconds: 30 },
      { name: 'minute', limit: 100, windowSeconds: 60 },
    ],
  },
  // The minute window (L) binds although burst is listed first.
  roomy: {
    windows: [
      { name: 'burst', limit: 50, windowSeconds: 30 },
      { name: 'minute', limit: L, windowSeconds: 60 },
    ],
  },
};
const FAILED_AUTH = { name: 'auth-failures', limit: 3, windowSeconds: 60 };
const ACCOUNT_WINDOWS = {
  user: { name: 'user', limit: L, windowSeconds: 60 },
  address: { name: 'address', limit: 2, windowSeconds: 60 },
};

let sequence = 0;
/** A fresh subject: unique org and key ids, so tests never share counts. */
function subject(overrides: Partial<OrganizationSubject> = {}): OrganizationSubject {
  sequence += 1;
  return {
    organizationId: `org_${sequence}_${randomBytes(4).toString('hex')}`,
    plan: 'small',
    keyId: `key_${sequence}_${randomBytes(4).toString('hex')}`,
    keyRateLimit: null,
    ...overrides,
  };
}

/** A fresh client address. */
function address(): string {
  sequence += 1;
  return `2001:db8::${sequence.toString(16)}`;
}

/** Consumes `count` requests one after the other and returns how many were admitted. */
async function consumeInSequence(
  limiter: RateLimiter,
  who: Parameters<RateLimiter['consume']>[0],
  count: number,
): Promise<number> {
  let admitted = 0;
  for (let i = 0; i < count; i += 1) {
    if ((await limiter.consume(who)).allowed) {
      admitted += 1;
    }
  }
  return admitted;
}

/** Polls `check` until it holds; resolves false if it never does within `timeoutMs` (no duration is asserted). */
/** A fail-closed outage: nothing admitted, every window shown exhausted, no retry time to promise. */
function expectOutage(decision: LimitDecision): void {
  expect(decision.outage).toBe(true);
  expect(decision.allowed).toBe(false);
  expect(decision.retryAfterSeconds).toBeNull();
  expect(decision.windows.length).toBeGreaterThan(0);
  for (const window of decision.windows) {
    expect(window.remaining).toBe(0);
    expect(window.resetSeconds).toBe(window.windowSeconds);
  }
}

async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) {
      return true;
    }
    await sleep(50);
  }
  return check();
}

function redisStore(
  keyPrefix: string,
  outagePolicy: 'fail-open' | 'fail-closed' = 'fail-closed',
  url = REDIS_URL,
): RateLimiterStoreOptions {
  return { kind: 'redis', url, keyPrefix, outagePolicy };
}

const admin = new Redis(REDIS_URL, { lazyConnect: true });

beforeAll(async () => {
  await admin.connect();
});

afterAll(async () => {
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${RUN}:*`, 'COUNT', 1000);
    if (keys.length > 0) {
      await admin.del(...keys);
    }
    cursor = next;
  } while (cursor !== '0');
  await admin.quit();
});

// Redis suites use fail-closed so a silent fallback to memory would fail the test instead of passing it.
describe.each([
  { label: 'memory', store: (): RateLimiterStoreOptions => ({ kind: 'memory' }) },
  { label: 'redis', store: (): RateLimiterStoreOptions => redisStore(`${RUN}:suite`) },
])('rate limiter with the $label store', ({ store }) => {
  let limiter: RateLimiter;

  beforeAll(async () => {
    limiter = createRateLimiter({
      plans: PLANS,
      failedAuth: FAILED_AUTH,
      accountWindows: ACCOUNT_WINDOWS,
      store: store(),
    });
    expect(await waitUntilUp(limiter)).toBe(true);
  });

  afterAll(async () => {
    await limiter.close();
  });

  it('admits exactly the limit, then refuses with a retry-after of at least one second', async () => {
    const who = subject();
    for (let i = 0; i < L; i += 1) {
      expect((await limiter.consume(who)).allowed).toBe(true);
    }
    const refused = await limiter.consume(who);
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(refused.retryAfterSeconds).toBeLessThanOrEqual(30);
    expect(refused.binding).toMatchObject({ name: 'burst', limit: L, remaining: 0 });
  });

  it('admits exactly the limit when three times as many requests arrive at once', async () => {
    const who = subject();
    const decisions = await Promise.all(Array.from({ length: 3 * L }, () => limiter.consume(who)));
    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(L);
  });

  it('shares one pool among all keys of an organization', async () => {
    const first = subject();
    const second = subject({ organizationId: first.organizationId });
    expect(await consumeInSequence(limiter, first, 3)).toBe(3);
    expect(await consumeInSequence(limiter, second, L)).toBe(L - 3);
  });

  it('keeps separate pools for different organizations', async () => {
    const first = subject();
    const second = subject();
    expect(await consumeInSequence(limiter, first, L + 1)).toBe(L);
    expect(await consumeInSequence(limiter, second, L + 1)).toBe(L);
  });

  it('binds to the per-key rateLimit when it is lower than the plan', async () => {
    const who = subject({ keyRateLimit: 2 });
    const first = await limiter.consume(who);
    expect(first.windows.map((window) => window.name)).toEqual(['burst', 'minute', 'key']);
    expect(first.binding).toMatchObject({ name: 'key', limit: 2, remaining: 1, windowSeconds: 60 });
    expect((await limiter.consume(who)).allowed).toBe(true);
    const refused = await limiter.consume(who);
    expect(refused.allowed).toBe(false);
    expect(refused.binding.name).toBe('key');
    expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    // The org pool is still open to the organization's other keys.
    expect((await limiter.consume({ ...who, keyId: `${who.keyId}-other`, keyRateLimit: null })).allowed).toBe(true);
  });

  it('counts a per-key rateLimit per key, not per organization', async () => {
    const first = subject({ keyRateLimit: 2 });
    const second = subject({ organizationId: first.organizationId, keyRateLimit: 2 });
    expect(await consumeInSequence(limiter, first, 3)).toBe(2);
    expect(await consumeInSequence(limiter, second, 3)).toBe(2);
  });

  it('ignores a per-key rateLimit higher than the plan', async () => {
    const who = subject({ keyRateLimit: 1000 });
    expect(await consumeInSequence(limiter, who, L + 2)).toBe(L);
  });

  it('peeks at the state without counting', async () => {
    const who = subject();
    const fresh = await limiter.peek(who);
    expect(fresh.allowed).toBe(true);
    expect(fresh.retryAfterSeconds).toBeNull();
    expect(fresh.windows).toEqual([
      { name: 'burst', limit: L, remaining: L, resetSeconds: 30, windowSeconds: 30 },
      { name: 'minute', limit: 100, remaining: 100, resetSeconds: 60, windowSeconds: 60 },
    ]);
    await consumeInSequence(limiter, who, 2);
    expect((await limiter.peek(who)).binding.remaining).toBe(L - 2);
    expect((await limiter.peek(who)).binding.remaining).toBe(L - 2);
    expect((await limiter.consume(who)).binding.remaining).toBe(L - 3);
  });

  it('peeks at an exhausted pool as refused, with a retry-after', async () => {
    const who = subject();
    await consumeInSequence(limiter, who, L);
    const peeked = await limiter.peek(who);
    expect(peeked.allowed).toBe(false);
    expect(peeked.binding).toMatchObject({ name: 'burst', remaining: 0 });
    expect(peeked.retryAfterSeconds).toBeGreaterThanOrEqual(1);
  });

  it('lowers remaining by one per request and never reports it above the limit or below zero', async () => {
    const who = subject();
    const seen: number[] = [];
    for (let i = 0; i < L + 2; i += 1) {
      const decision = await limiter.consume(who);
      seen.push(decision.binding.remaining);
      for (const window of decision.windows) {
        expect(window.remaining).toBeLessThanOrEqual(window.limit);
        expect(window.remaining).toBeGreaterThanOrEqual(0);
        expect(window.resetSeconds).toBeGreaterThanOrEqual(0);
        expect(window.resetSeconds).toBeLessThanOrEqual(window.windowSeconds);
      }
    }
    expect(seen).toEqual([4, 3, 2, 1, 0, 0, 0]);
  });

  it('binds to the window with the fewest remaining requests, whatever its position', async () => {
    const who = subject({ plan: 'roomy' });
    const first = await limiter.consume(who);
    expect(first.binding).toMatchObject({ name: 'minute', limit: L, remaining: L - 1 });
    expect(await consumeInSequence(limiter, who, L)).toBe(L - 1);
    const refused = await limiter.consume(who);
    expect(refused.binding.name).toBe('minute');
    expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(refused.retryAfterSeconds).toBeLessThanOrEqual(60);
  });

  it('limits failed authentications per client address', async () => {
    const ip = address();
    const fresh = await limiter.checkFailedAuth(ip);
    expect(fresh.allowed).toBe(true);
    expect(fresh.binding).toEqual({
      name: 'auth-failures',
      limit: 3,
      remaining: 3,
      resetSeconds: 60,
      windowSeconds: 60,
    });
    // Checking does not count.
    expect((await limiter.checkFailedAuth(ip)).binding.remaining).toBe(3);
    const recorded = [];
    for (let i = 0; i < FAILED_AUTH.limit; i += 1) {
      recorded.push(await limiter.recordFailedAuth(ip));
    }
    expect(recorded.map((decision) => [decision.allowed, decision.binding.remaining])).toEqual([
      [true, 2],
      [true, 1],
      [true, 0],
    ]);
    const blocked = await limiter.checkFailedAuth(ip);
    expect(blocked.allowed).toBe(false);
    expect(blocked.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect((await limiter.recordFailedAuth(ip)).allowed).toBe(false);
    expect((await limiter.checkFailedAuth(address())).allowed).toBe(true);
  });

  it('counts a user, an address and an account each in its own window, apart from organizations', async () => {
    const user = { window: 'user' as const, id: `usr_${randomBytes(6).toString('hex')}` };
    expect(await consumeInSequence(limiter, user, L + 2)).toBe(L);
    const refused = await limiter.consume(user);
    expect(refused.windows.map((w) => w.name)).toEqual(['user']);
    expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    // Another user, and an organization with the same id, are untouched.
    expect((await limiter.consume({ window: 'user', id: `${user.id}-other` })).allowed).toBe(true);
    expect((await limiter.consume(subject({ organizationId: user.id }))).allowed).toBe(true);

    const ip = address();
    expect(await consumeInSequence(limiter, { window: 'address', id: ip }, 3)).toBe(2);
    // The account window keeps its default (10 failed log-ins an hour, clock-aligned) when only the others are given.
    const account = await limiter.peek({ window: 'account', id: ip }, new Date('2031-01-01T10:15:00.000Z'));
    expect(account.binding).toEqual({
      name: 'account',
      limit: 10,
      remaining: 10,
      resetSeconds: 2700,
      windowSeconds: 3600,
    });
  });

  it('counts failed log-ins in slots of the given clock: a new slot starts afresh, a refund gives back one', async () => {
    const email = { window: 'account-address' as const, id: `pair-${randomBytes(6).toString('hex')}` };
    const at = (iso: string) => new Date(`2031-01-01T${iso}Z`);
    const remaining: number[] = [];
    for (const time of ['10:00:00.000', '10:05:00.000', '10:14:59.000']) {
      remaining.push((await limiter.consume(email, at(time))).binding.remaining);
    }
    expect(remaining).toEqual([4, 3, 2]);
    // The slot 10:00-10:15 ends in 60 seconds, whatever the time of the first count was.
    expect((await limiter.peek(email, at('10:14:00.000'))).binding).toMatchObject({ remaining: 2, resetSeconds: 60 });
    await limiter.refund(email, at('10:14:30.000'));
    expect((await limiter.peek(email, at('10:14:30.000'))).binding.remaining).toBe(3);
    // The next slot is its own: nothing of the last one reaches it, and a refund there gives no extra try here.
    expect((await limiter.consume(email, at('10:15:00.000'))).binding).toMatchObject({
      remaining: 4,
      resetSeconds: 900,
    });
    expect((await limiter.peek(email, at('10:14:59.999'))).binding.remaining).toBe(3);
    for (let i = 0; i < 4; i++) {
      await limiter.consume(email, at('10:20:00.000'));
    }
    const refused = await limiter.consume(email, at('10:20:00.000'));
    expect(refused).toMatchObject({ allowed: false, retryAfterSeconds: 600 });
  });

  it('rejects a plan missing from the table with UnknownPlanError', async () => {
    await expect(limiter.consume(subject({ plan: 'platinum' }))).rejects.toBeInstanceOf(UnknownPlanError);
    await expect(limiter.peek(subject({ plan: 'platinum' }))).rejects.toBeInstanceOf(UnknownPlanError);
  });

  it('rejects a per-key rateLimit that is not a positive integer', async () => {
    await expect(limiter.consume(subject({ keyRateLimit: 0 }))).rejects.toBeInstanceOf(RangeError);
    await expect(limiter.consume(subject({ keyRateLimit: 1.5 }))).rejects.toBeInstanceOf(RangeError);
  });

  it('reports its store as up', async () => {
    expect(await limiter.health()).toEqual({ kind: limiter.kind, status: 'up' });
  });
});

describe('rate limiter configuration', () => {
  it('refuses an invalid plan table with a PlanConfigError', () => {
    const plans = { pro: { windows: [{ name: 'burst', limit: 0, windowSeconds: 1 }] } };
    expect(() => createRateLimiter({ plans, store: { kind: 'memory' } })).toThrow(PlanConfigError);
  });

  it('refuses an invalid failed-authentication window with a PlanConfigError', () => {
    const failedAuth = { name: 'auth-failures', limit: 5, windowSeconds: 0.5 };
    expect(() => createRateLimiter({ plans: PLANS, failedAuth, store: { kind: 'memory' } })).toThrow(
      'failedAuth: windowSeconds must be a positive integer',
    );
  });

  it('uses 20 failed authentications per minute by default', async () => {
    const limiter = createRateLimiter({ plans: PLANS, store: { kind: 'memory' } });
    const decision = await limiter.checkFailedAuth(address());
    expect(decision.binding).toEqual({
      name: 'auth-failures',
      limit: 20,
      remaining: 20,
      resetSeconds: 60,
      windowSeconds: 60,
    });
    await limiter.close();
  });
});

describe('rate limiter on Redis', () => {
  it('stores counts in Redis under the key prefix', async () => {
    const prefix = `${RUN}:stored`;
    const limiter = createRateLimiter({ plans: PLANS, store: redisStore(prefix) });
    try {
      expect(await waitUntilUp(limiter)).toBe(true);
      const who = subject();
      await limiter.consume(who);
      const keys = await admin.keys(`${prefix}:*`);
      expect(keys.sort()).toEqual([
        `${prefix}:org:small:burst:5/30s:${who.organizationId}`,
        `${prefix}:org:small:minute:100/60s:${who.organizationId}`,
      ]);
      expect(await admin.get(keys[0] as string)).toBe('1');
    } finally {
      await limiter.close();
    }
  });

  it('shares counts exactly between two instances on the same Redis and prefix', async () => {
    const store = redisStore(`${RUN}:instances`);
    const first = createRateLimiter({ plans: PLANS, failedAuth: FAILED_AUTH, store });
    const second = createRateLimiter({ plans: PLANS, failedAuth: FAILED_AUTH, store });
    try {
      expect(await waitUntilUp(first)).toBe(true);
      expect(await waitUntilUp(second)).toBe(true);
      const who = subject();
      const decisions = await Promise.all(
        Array.from({ length: 3 * L }, (_, i) => (i % 2 === 0 ? first : second).consume(who)),
      );
      expect(decisions.filter((decision) => decision.allowed)).toHaveLength(L);
      expect((await second.peek(who)).binding.remaining).toBe(0);

      const ip = address();
      await first.recordFailedAuth(ip);
      await second.recordFailedAuth(ip);
      expect((await first.checkFailedAuth(ip)).binding.remaining).toBe(FAILED_AUTH.limit - 2);
    } finally {
      await first.close();
      await second.close();
    }
  });

  it('keeps counting in memory with the same limits when Redis is unreachable and the policy is fail-open', async () => {
    const errors: Error[] = [];
    const limiter = createRateLimiter({
      plans: PLANS,
      failedAuth: FAILED_AUTH,
      store: redisStore(`${RUN}:open`, 'fail-open', UNREACHABLE_REDIS_URL),
      onStoreError: (error) => errors.push(error),
    });
    try {
      const who = subject();
      expect(await consumeInSequence(limiter, who, L)).toBe(L);
      const refused = await limiter.consume(who);
      expect(refused.allowed).toBe(false);
      expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect((await limiter.peek(who)).binding.remaining).toBe(0);
      expect((await limiter.recordFailedAuth(address())).allowed).toBe(true);
      expect(await limiter.health()).toEqual({ kind: 'redis', status: 'degraded' });
      expect(await eventually(() => errors.length > 0)).toBe(true);
    } finally {
      await limiter.close();
    }
  });

  it('answers fast with an outage decision when Redis is unreachable and the policy is fail-closed', {
    timeout: 3_000,
  }, async () => {
    const limiter = createRateLimiter({
      plans: PLANS,
      failedAuth: FAILED_AUTH,
      store: redisStore(`${RUN}:closed`, 'fail-closed', UNREACHABLE_REDIS_URL),
    });
    try {
      for (const decision of [
        await limiter.consume(subject()),
        await limiter.peek(subject()),
        await limiter.checkFailedAuth(address()),
        await limiter.recordFailedAuth(address()),
      ]) {
        expectOutage(decision);
      }
      expect(await limiter.health()).toEqual({ kind: 'redis', status: 'down' });
    } finally {
      await limiter.close();
    }
  });

  it('recovers without a restart when Redis becomes reachable again', { timeout: 20_000 }, async () => {
    const target = new URL(REDIS_URL);
    const proxy = tcpProxy(target.hostname, Number(target.port || 6379));
    await proxy.start();
    const prefix = `${RUN}:recovery`;
    const limiter = createRateLimiter({
      plans: PLANS,
      store: redisStore(prefix, 'fail-closed', `redis://127.0.0.1:${proxy.port}`),
    });
    const direct = createRateLimiter({ plans: PLANS, store: redisStore(prefix) });
    try {
      expect(await waitUntilUp(limiter)).toBe(true);
      expect(await waitUntilUp(direct)).toBe(true);
      const who = subject();
      expect((await limiter.consume(who)).allowed).toBe(true);

      await proxy.stop();
      expect(await eventually(async () => (await limiter.health()).status === 'down')).toBe(true);
      expectOutage(await limiter.consume(who));

      await proxy.start();
      expect(await waitUntilUp(limiter, 15_000)).toBe(true);
      expect((await limiter.consume(who)).binding.remaining).toBe(L - 2);
      expect((await direct.peek(who)).binding.remaining).toBe(L - 2);
    } finally {
      await limiter.close();
      await direct.close();
      await proxy.stop();
    }
  });
});

/** A TCP relay to the real Redis that can be cut and restored on the same port, to simulate an outage. */
function tcpProxy(host: string, targetPort: number) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  return {
    get port(): number {
      return port;
    },
    async start(): Promise<void> {
      const listening = createServer((client) => {
        const upstream = connect(targetPort, host);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        for (const socket of [client, upstream]) {
          sockets.add(socket);
          socket.on('error', drop);
          socket.on('close', drop);
        }
        client.pipe(upstream).pipe(client);
      });
      await new Promise<void>((resolve, reject) => {
        listening.once('error', reject);
        listening.listen(port, '127.0.0.1', () => resolve());
      });
      server = listening;
      const bound = listening.address();
      port = typeof bound === 'object' && bound !== null ? bound.port : port;
    },
    async stop(): Promise<void> {
      const closing = server;
      server = undefined;
      for (const socket of sockets) {
        socket.destroy();
      }
      sockets.clear();
      if (closing !== undefined) {
        await new Promise<void>((resolve) => closing.close(() => resolve()));
      }
    },
  };
}
