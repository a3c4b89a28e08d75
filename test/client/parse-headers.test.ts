import { describe, expect, test } from 'vitest';
import {
  type HeaderSource,
  parseRateLimitHeaders,
  parseRetryAfter,
  type RateLimitState,
} from '../../src/client/index.ts';

const NOW = Date.parse('2026-11-22T10:30:00.000Z');
const at = (seconds: number) => new Date(NOW + seconds * 1000);

const FREE_PLAN = '"burst";q=10;w=1, "minute";q=100;w=60';

describe('parseRateLimitHeaders', () => {
  const cases: [string, HeaderSource, RateLimitState | null][] = [
    [
      'reads every header the server sends',
      {
        'X-RateLimit-Limit': '100',
        'X-RateLimit-Remaining': '42',
        'X-RateLimit-Reset': '17',
        'RateLimit-Policy': FREE_PLAN,
        RateLimit: '"minute";r=42;t=17',
      },
      { limit: 100, remaining: 42, resetSeconds: 17, resetAt: at(17), policy: FREE_PLAN, window: 'minute' },
    ],
    [
      'reads only the X-RateLimit-* trio',
      { 'x-ratelimit-limit': '10', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1' },
      { limit: 10, remaining: 0, resetSeconds: 1, resetAt: at(1) },
    ],
    [
      'reads a fetch Headers object',
      new Headers({ 'X-RateLimit-Limit': '3', 'X-RateLimit-Remaining': '2', 'X-RateLimit-Reset': '60' }),
      { limit: 3, remaining: 2, resetSeconds: 60, resetAt: at(60) },
    ],
    [
      'falls back to the IETF draft headers when X-RateLimit-* are absent',
      { 'RateLimit-Policy': FREE_PLAN, RateLimit: '"burst";r=3;t=1' },
      { limit: 10, remaining: 3, resetSeconds: 1, resetAt: at(1), policy: FREE_PLAN, window: 'burst' },
    ],
    [
      'takes the item with the fewest remaining when RateLimit lists several',
      { 'RateLimit-Policy': FREE_PLAN, RateLimit: '"minute";r=50;t=30, "burst";r=2;t=1' },
      { limit: 10, remaining: 2, resetSeconds: 1, resetAt: at(1), policy: FREE_PLAN, window: 'burst' },
    ],
    [
      'accepts token (unquoted) window names and surrounding whitespace',
      { 'RateLimit-Policy': 'minute;q=100;w=60', RateLimit: ' minute ; r=7 ; t=9 ' },
      { limit: 100, remaining: 7, resetSeconds: 9, resetAt: at(9), policy: 'minute;q=100;w=60', window: 'minute' },
    ],
    [
      'keeps quoted names containing commas and semicolons whole',
      { 'RateLimit-Policy': '"a,b;c";q=5;w=60', RateLimit: '"a,b;c";r=4;t=60' },
      { limit: 5, remaining: 4, resetSeconds: 60, resetAt: at(60), policy: '"a,b;c";q=5;w=60', window: 'a,b;c' },
    ],
    [
      'prefers X-RateLimit-* over the draft headers when both are present and disagree',
      { 'X-RateLimit-Limit': '20', 'X-RateLimit-Remaining': '19', 'X-RateLimit-Reset': '60', RateLimit: '"x";r=1;t=1' },
      { limit: 20, remaining: 19, resetSeconds: 60, resetAt: at(60), window: 'x' },
    ],
    ['is null without rate-limit headers (GET /livez)', { 'X-Request-Id': 'abc' }, null],
    ['is null when the limit is unknown', { 'X-RateLimit-Remaining': '1', 'X-RateLimit-Reset': '1' }, null],
    [
      'is null when the draft RateLimit names a window the policy does not list',
      { 'RateLimit-Policy': FREE_PLAN, RateLimit: '"key";r=1;t=60' },
      null,
    ],
    [
      'ignores values that are not non-negative integers',
      { 'X-RateLimit-Limit': '100', 'X-RateLimit-Remaining': '-1', 'X-RateLimit-Reset': '17' },
      null,
    ],
    ['ignores decimals', { 'X-RateLimit-Limit': '1.5', 'X-RateLimit-Remaining': '1', 'X-RateLimit-Reset': '1' }, null],
    ['ignores empty values', { 'X-RateLimit-Limit': '', 'X-RateLimit-Remaining': '1', 'X-RateLimit-Reset': '1' }, null],
  ];

  test.each(cases)('%s', (_name, headers, expected) => {
    expect(parseRateLimitHeaders(headers, NOW)).toEqual(expected);
  });
});

describe('parseRetryAfter', () => {
  const cases: [string, string | null | undefined, number | undefined][] = [
    ['delay-seconds', '1', 1000],
    ['delay-seconds with whitespace', ' 42 ', 42_000],
    ['zero seconds', '0', 0],
    ['IMF-fixdate in the future', 'Sun, 22 Nov 2026 10:30:05 GMT', 5000],
    ['RFC 850 date', 'Sunday, 22-Nov-26 10:30:30 GMT', 30_000],
    ['asctime date (read as GMT)', 'Sun Nov 22 10:31:00 2026', 60_000],
    ['a date in the past is 0', 'Sun, 22 Nov 2026 10:29:00 GMT', 0],
    ['a fraction is ignored', '1.5', undefined],
    ['a negative number is ignored', '-1', undefined],
    ['garbage is ignored', 'soon', undefined],
    ['a date without GMT is ignored', 'Sun, 22 Nov 2026 10:30:05 +0100', undefined],
    ['empty is ignored', '', undefined],
    ['absent (null) is undefined', null, undefined],
    ['absent (undefined) is undefined', undefined, undefined],
  ];

  test.each(cases)('%s: %j', (_name, value, expected) => {
    expect(parseRetryAfter(value, NOW)).toBe(expected);
  });
});
