import { describe, expect, it } from 'vitest';
import { allowedRequestId, checkSemantics, type ExchangeFacts } from '../../src/contract/header-semantics.ts';

const RULE = { pattern: /^[A-Za-z0-9._:-]+$/u, minLength: 1, maxLength: 128 };

const good: Record<string, string> = {
  'x-request-id': 'mrc-1.r:1',
  'x-ratelimit-limit': '100',
  'x-ratelimit-remaining': '42',
  'x-ratelimit-reset': '17',
  'ratelimit-policy': '"burst";q=10;w=1, "minute";q=100;w=60',
  ratelimit: '"minute";r=42;t=17',
};

const facts = (headers: Record<string, string | undefined>, extra: Partial<ExchangeFacts> = {}): ExchangeFacts => ({
  status: 200,
  headers: { ...good, ...headers },
  sentRequestId: 'mrc-1.r:1',
  ...extra,
});

const checks = (f: ExchangeFacts) => checkSemantics(f, RULE).map((finding) => finding.check);

describe('semantic header checks', () => {
  it('find nothing wrong with consistent headers', () => {
    expect(checkSemantics(facts({}), RULE)).toEqual([]);
  });

  it("accept a new X-Request-Id on a 431 (the head holding the caller's was never read), nowhere else", () => {
    expect(checks(facts({ 'x-request-id': 'a-new-one' }, { status: 431 }))).toEqual([]);
    expect(checks(facts({ 'x-request-id': 'a-new-one' }, { status: 400 }))).toEqual(['request-id']);
    expect(
      checks(facts({ 'x-request-id': 'a-new-one' }, { status: 431, body: { meta: { requestId: 'other' } } })),
    ).toEqual(['request-id']);
  });

  it.each<[string, Record<string, string | undefined>, Partial<ExchangeFacts>, string]>([
    ['Reset as a Unix time', { 'x-ratelimit-reset': '1796116449' }, {}, 'reset-window'],
    ['a window written w=60s', { 'ratelimit-policy': '"burst";q=10;w=1s' }, {}, 'ratelimit-syntax'],
    ['a policy named by a token, not a string', { 'ratelimit-policy': 'minute;q=100;w=60' }, {}, 'ratelimit-syntax'],
    ['a policy without q', { 'ratelimit-policy': '"minute";w=60' }, {}, 'ratelimit-syntax'],
    ['RateLimit naming an unlisted policy', { ratelimit: '"hour";r=42;t=17' }, {}, 'ratelimit-consistency'],
    ['r out of step with X-RateLimit-Remaining', { ratelimit: '"minute";r=100;t=17' }, {}, 'ratelimit-consistency'],
    ['t beyond the window', { ratelimit: '"minute";r=42;t=61', 'x-ratelimit-reset': '61' }, {}, 'reset-window'],
    ['Limit not the binding q', { 'x-ratelimit-limit': '10' }, {}, 'ratelimit-consistency'],
    [
      'remaining above limit',
      { 'x-ratelimit-remaining': '101', ratelimit: '"minute";r=101;t=17' },
      {},
      'ratelimit-consistency',
    ],
    [
      'a 429 without Retry-After',
      { 'x-ratelimit-remaining': '0', ratelimit: '"minute";r=0;t=17' },
      { status: 429 },
      'retry-after',
    ],
    [
      'a 429 whose Retry-After is shorter than t',
      { 'x-ratelimit-remaining': '0', ratelimit: '"minute";r=0;t=17', 'retry-after': '5' },
      { status: 429 },
      'retry-after',
    ],
    ['a 429 with requests remaining', { 'retry-after': '17' }, { status: 429 }, 'retry-after'],
    ['an allowed caller id not kept', { 'x-request-id': 'something-else' }, {}, 'request-id'],
    [
      'a caller id the schema refuses, kept',
      { 'x-request-id': 'has space' },
      { sentRequestId: 'has space' },
      'request-id',
    ],
    ['X-Request-Id differing from meta.requestId', {}, { body: { meta: { requestId: 'other' } } }, 'request-id'],
    ['no X-Request-Id', { 'x-request-id': undefined }, {}, 'request-id'],
  ])('catch %s', (_name, headers, extra, want) => {
    expect(checks(facts(headers, extra))).toContain(want);
  });

  it('accept a 429 whose Retry-After covers the window', () => {
    const exhausted = facts(
      { 'x-ratelimit-remaining': '0', ratelimit: '"minute";r=0;t=17', 'retry-after': '17' },
      { status: 429 },
    );
    expect(checkSemantics(exhausted, RULE)).toEqual([]);
  });

  it('replace is fine for a caller id the schema refuses', () => {
    expect(checks(facts({ 'x-request-id': 'generated-1' }, { sentRequestId: 'x'.repeat(129) }))).toEqual([]);
  });

  it.each([
    ['mrc-1.r:1', true],
    ['x'.repeat(128), true],
    ['x'.repeat(129), false],
    ['has space', false],
    ['', false],
  ])('allowedRequestId(%j) is %s', (id, want) => {
    expect(allowedRequestId(id, RULE)).toBe(want);
  });
});
