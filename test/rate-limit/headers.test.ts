import { describe, expect, it } from 'vitest';
import {
  combineDecisions,
  type LimitDecision,
  outageDecision,
  selectBindingWindow,
  type WindowState,
} from '../../src/rate-limit/decision.ts';
import { describeRefusal, rateLimitHeaders } from '../../src/rate-limit/headers.ts';
import { createRateLimiter } from '../../src/rate-limit/limiter.ts';
import { DEFAULT_PLANS } from '../../src/rate-limit/plans.ts';

function window(name: string, limit: number, remaining: number, resetSeconds: number, windowSeconds = 60): WindowState {
  return { name, limit, remaining, resetSeconds, windowSeconds };
}

function decision(windows: WindowState[], allowed = true, retryAfterSeconds: number | null = null): LimitDecision {
  return { allowed, windows, binding: selectBindingWindow(windows), retryAfterSeconds };
}

describe('combineDecisions', () => {
  it.each([
    {
      case: 'both admit: the binding window is the one with fewer left',
      a: decision([window('address', 20, 19, 60)]),
      b: decision([window('account', 10, 4, 900, 900)]),
      want: { allowed: true, binding: 'account', retryAfterSeconds: null, names: ['address', 'account'] },
    },
    {
      case: 'one refuses: refused, with its retry time',
      a: decision([window('address', 20, 0, 12)], false, 12),
      b: decision([window('account', 10, 4, 900, 900)]),
      want: { allowed: false, binding: 'address', retryAfterSeconds: 12, names: ['address', 'account'] },
    },
    {
      case: 'both refuse: the later retry time',
      a: decision([window('address', 20, 0, 12)], false, 12),
      b: decision([window('account', 10, 0, 700, 900)], false, 700),
      want: { allowed: false, binding: 'account', retryAfterSeconds: 700, names: ['address', 'account'] },
    },
  ])('$case', ({ a, b, want }) => {
    const combined = combineDecisions(a, b);
    expect({
      allowed: combined.allowed,
      binding: combined.binding.name,
      retryAfterSeconds: combined.retryAfterSeconds,
      names: combined.windows.map((w) => w.name),
    }).toEqual(want);
    expect(combined.outage).toBeUndefined();
  });

  it('an outage in either is an outage of both, with no retry time', () => {
    const combined = combineDecisions(
      decision([window('address', 20, 19, 60)]),
      outageDecision([{ name: 'account', limit: 10, windowSeconds: 900 }]),
    );
    expect(combined).toMatchObject({ allowed: false, outage: true, retryAfterSeconds: null });
  });
});

describe('selectBindingWindow', () => {
  it.each([
    {
      case: 'a single window',
      windows: [window('minute', 100, 42, 17)],
      expected: 'minute',
    },
    {
      case: 'the lowest remaining, listed first',
      windows: [window('burst', 10, 3, 1, 1), window('minute', 100, 42, 17)],
      expected: 'burst',
    },
    {
      case: 'the lowest remaining, listed last',
      windows: [window('burst', 50, 49, 1, 1), window('minute', 100, 7, 40)],
      expected: 'minute',
    },
    {
      case: 'a tie on remaining goes to the larger resetSeconds',
      windows: [window('burst', 10, 0, 1, 1), window('minute', 100, 0, 35)],
      expected: 'minute',
    },
    {
      case: 'a tie on remaining goes to the larger resetSeconds whatever the order',
      windows: [window('minute', 100, 0, 35), window('burst', 10, 0, 1, 1)],
      expected: 'minute',
    },
    {
      case: 'a per-key window lower than the plan',
      windows: [window('burst', 10, 9, 1, 1), window('minute', 100, 99, 60), window('key', 5, 4, 60)],
      expected: 'key',
    },
    {
      case: 'a full tie keeps the first listed',
      windows: [window('a', 10, 5, 30), window('b', 20, 5, 30)],
      expected: 'a',
    },
  ])('picks $case', ({ windows, expected }) => {
    expect(selectBindingWindow(windows).name).toBe(expected);
  });

  it('refuses an empty list of windows', () => {
    expect(() => selectBindingWindow([])).toThrow(RangeError);
  });
});

describe('rateLimitHeaders', () => {
  it('describes the binding window in X-RateLimit-* and RateLimit, and every window in RateLimit-Policy', () => {
    const headers = rateLimitHeaders(decision([window('burst', 50, 49, 1, 1), window('minute', 100, 42, 17)]));
    expect(headers).toEqual({
      'X-RateLimit-Limit': '100',
      'X-RateLimit-Remaining': '42',
      'X-RateLimit-Reset': '17',
      'RateLimit-Policy': '"burst";q=50;w=1, "minute";q=100;w=60',
      RateLimit: '"minute";r=42;t=17',
    });
  });

  it('adds Retry-After only when the request is refused', () => {
    const refused = rateLimitHeaders(decision([window('burst', 10, 0, 1, 1), window('minute', 100, 0, 35)], false, 35));
    expect(refused['Retry-After']).toBe('35');
    expect(refused.RateLimit).toBe('"minute";r=0;t=35');
    expect(refused['X-RateLimit-Remaining']).toBe('0');
    const admitted = rateLimitHeaders(decision([window('minute', 100, 0, 35)], true, null));
    expect(admitted).not.toHaveProperty('Retry-After');
  });

  it('never sends a Retry-After below one second', () => {
    const headers = rateLimitHeaders(decision([window('burst', 10, 0, 0, 1)], false, 0));
    expect(headers['Retry-After']).toBe('1');
  });

  it('keeps Remaining within zero and Limit and sends whole numbers', () => {
    const headers = rateLimitHeaders(decision([window('minute', 100, 250, 16.2)]));
    expect(headers['X-RateLimit-Remaining']).toBe('100');
    expect(headers['X-RateLimit-Reset']).toBe('17');
    expect(rateLimitHeaders(decision([window('minute', 100, -3, 5)]))['X-RateLimit-Remaining']).toBe('0');
  });

  it('sends the reset as delta seconds, not as an epoch', () => {
    const headers = rateLimitHeaders(decision([window('minute', 100, 99, 60)]));
    expect(Number(headers['X-RateLimit-Reset'])).toBeLessThanOrEqual(60);
  });

  it('quotes window names as structured-field strings', () => {
    const headers = rateLimitHeaders(decision([window('odd"name\\', 1, 1, 1, 1)]));
    expect(headers['RateLimit-Policy']).toBe('"odd\\"name\\\\";q=1;w=1');
  });

  it('describes a real decision of the default free plan', async () => {
    const limiter = createRateLimiter({ plans: DEFAULT_PLANS, store: { kind: 'memory' } });
    const who = { organizationId: 'org_headers', plan: 'free', keyId: 'key_headers', keyRateLimit: null };
    const headers = rateLimitHeaders(await limiter.consume(who));
    expect(headers['RateLimit-Policy']).toBe('"burst";q=10;w=1, "minute";q=100;w=60');
    expect(headers['X-RateLimit-Limit']).toBe('10');
    expect(headers['X-RateLimit-Remaining']).toBe('9');
    expect(headers).not.toHaveProperty('Retry-After');
    await limiter.close();
  });
});

describe('outage decisions and refusals', () => {
  it('an outage shows every window exhausted, binds the longest and promises no Retry-After', () => {
    const outage = outageDecision([
      { name: 'burst', limit: 10, windowSeconds: 1 },
      { name: 'minute', limit: 100, windowSeconds: 60 },
    ]);
    expect(outage).toMatchObject({ allowed: false, outage: true, retryAfterSeconds: null });
    expect(rateLimitHeaders(outage)).toEqual({
      'X-RateLimit-Limit': '100',
      'X-RateLimit-Remaining': '0',
      'X-RateLimit-Reset': '60',
      'RateLimit-Policy': '"burst";q=10;w=1, "minute";q=100;w=60',
      RateLimit: '"minute";r=0;t=60',
    });
  });

  it('the refusal sentence names the window and the same wait as Retry-After', () => {
    const refused = decision([window('minute', 100, 0, 35)], false, 35);
    expect(describeRefusal(refused)).toBe(
      'Too many requests: the minute window of 100 is exhausted. Retry after 35 seconds.',
    );
    expect(rateLimitHeaders(refused)['Retry-After']).toBe('35');
    expect(describeRefusal(decision([window('burst', 10, 0, 0, 1)], false, 0), 'attempts')).toBe(
      'Too many attempts: the burst window of 10 is exhausted. Retry after 1 second.',
    );
  });
});
