import { describe, expect, test } from 'vitest';
import {
  DEFAULT_RETRY_SCHEDULE,
  nextAttemptAt,
  parseRetrySchedule,
  retryAfterSeconds,
} from '../../src/webhooks/retry-schedule.ts';

// When a failed delivery is tried again: the schedule (MAILROOM_WEBHOOK_RETRY_SCHEDULE), and Retry-After on top.

const NOW = new Date('2026-11-20T09:00:00.000Z');
const at = (seconds: number) => new Date(NOW.getTime() + seconds * 1000);

describe('parseRetrySchedule', () => {
  test.each([
    ['5,300,1800', [5, 300, 1800]],
    [' 1 , 2 ', [1, 2]],
    ['0.5', [0.5]],
  ])('%j → %j', (text, schedule) => {
    expect(parseRetrySchedule(text)).toEqual(schedule);
  });
  test.each(['', '5,,6', '-1', 'five', '5;6', '1e3'])('refuses %j', (text) => {
    expect(() => parseRetrySchedule(text)).toThrow(/comma-separated seconds/);
  });
});

describe('nextAttemptAt', () => {
  test.each([
    [1, undefined, at(5)],
    [2, undefined, at(300)],
    [7, undefined, at(36000)],
    [8, undefined, null],
    [1, 60, at(60)],
    [2, 60, at(300)],
    [8, 60, null],
  ] as const)('after %i failed attempts, Retry-After %s → %s', (attempts, retryAfter, due) => {
    expect(nextAttemptAt(DEFAULT_RETRY_SCHEDULE, attempts, NOW, retryAfter)).toEqual(due);
  });
});

describe('retryAfterSeconds', () => {
  test.each([
    ['120', 120],
    ['0', 0],
    ['999999999', 86_400],
    ['Fri, 20 Nov 2026 09:01:00 GMT', 60],
    ['Fri, 20 Nov 2026 08:00:00 GMT', 0],
    ['soon', undefined],
    [null, undefined],
  ] as const)('%s → %s', (value, seconds) => {
    expect(retryAfterSeconds(value, NOW)).toBe(seconds);
  });
});
