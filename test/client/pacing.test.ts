import { afterEach, describe, expect, test } from 'vitest';
import {
  createMailroomClient,
  createPacer,
  decidePace,
  expirePace,
  observePace,
  type PaceDecision,
  type PaceState,
  parseRateLimitHeaders,
  type RateLimitState,
  spendPace,
} from '../../src/client/index.ts';
import { ok, type ScriptedReply, type ScriptedServer, startScriptedServer } from './helpers/scripted-server.ts';

const NOW = Date.parse('2026-11-22T10:30:00.000Z');
const UNKNOWN: PaceState = { kind: 'unknown' };
const UNANNOUNCED: PaceState = { kind: 'unannounced' };
const budget = (left: number, resetInMs = 1000): PaceState => ({ kind: 'budget', left, resetAt: NOW + resetInMs });

/** The state a response with `RateLimit: "burst";r=<remaining>;t=<resetSeconds>` announces. */
const announced = (remaining: number, resetSeconds = 1): RateLimitState =>
  parseRateLimitHeaders(
    { 'RateLimit-Policy': '"burst";q=10;w=1', RateLimit: `"burst";r=${remaining};t=${resetSeconds}` },
    NOW,
  ) as RateLimitState;

describe('decidePace', () => {
  const cases: [string, PaceState, number, PaceDecision][] = [
    ['a budget left: go', budget(3), 5, { go: true }],
    ['a server that announces nothing: go', UNANNOUNCED, 50, { go: true }],
    ['nothing known and nothing in flight: go, as the probe', UNKNOWN, 0, { go: true }],
    ['nothing known and the probe out: wait for its answer', UNKNOWN, 1, { go: false }],
    ['the budget spent: wait for the reset', budget(0, 800), 0, { go: false, until: NOW + 800 }],
    [
      'the budget spent, the reset just within maxWaitMs: wait',
      budget(0, 60_000),
      0,
      { go: false, until: NOW + 60_000 },
    ],
    ['the budget spent, the reset past maxWaitMs: go, for the 429', budget(0, 60_001), 0, { go: true }],
  ];
  test.each(cases)('%s', (_, state, inFlight, want) => {
    expect(decidePace(state, inFlight, NOW, 60_000)).toEqual(want);
  });
});

describe('expirePace', () => {
  const cases: [string, PaceState, number, PaceState][] = [
    ['a spent budget whose window reset is unknown again', budget(0, 1000), NOW + 1000, UNKNOWN],
    ['a spent budget before its reset stays', budget(0, 1000), NOW + 999, budget(0, 1000)],
    ['a budget with requests left stays, reset or not', budget(2, 1000), NOW + 5000, budget(2, 1000)],
    ['unannounced stays', UNANNOUNCED, NOW + 5000, UNANNOUNCED],
  ];
  test.each(cases)('%s', (_, state, now, want) => {
    expect(expirePace(state, now)).toEqual(want);
  });
});

describe('spendPace', () => {
  const cases: [string, PaceState, PaceState][] = [
    ['a send takes one from the budget', budget(3), budget(2)],
    ['never below zero', budget(0), budget(0)],
    ['a probe changes nothing (its answer does)', UNKNOWN, UNKNOWN],
    ['an unannounced send changes nothing', UNANNOUNCED, UNANNOUNCED],
  ];
  test.each(cases)('%s', (_, state, want) => {
    expect(spendPace(state)).toEqual(want);
  });
});

describe('observePace', () => {
  const cases: [string, PaceState, RateLimitState | null, number, PaceState][] = [
    ["the probe's answer sets the budget", UNKNOWN, announced(9), 0, budget(9)],
    ['requests sent after the answered one come off its remaining', budget(5), announced(6), 3, budget(3)],
    ['an older answer never gives back what a newer one spent', budget(2, 400), announced(7), 1, budget(2, 400)],
    ['an equal budget keeps its reset time', budget(4, 400), announced(4), 0, budget(4, 400)],
    ['a spent window waits its announced seconds', budget(3, 400), announced(0, 2), 0, budget(0, 2000)],
    ['never below zero', budget(3), announced(1), 5, budget(0)],
    ['a probe answered without rate-limit headers: nothing to pace by', UNKNOWN, null, 0, UNANNOUNCED],
    ['an answer without them leaves a budget alone', budget(4), null, 0, budget(4)],
    ['a server that starts announcing is paced from then on', UNANNOUNCED, announced(5), 0, budget(5)],
  ];
  test.each(cases)('%s', (_, state, seen, sentAfter, want) => {
    expect(observePace(state, seen, sentAfter, NOW)).toEqual(want);
  });
});

const KEY = 'mr_a1b2c3d4_Xk3PqR7sT1uVwY9zA2bC4dE6fG8hJ0kL1mN3pQ';
const servers: ScriptedServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** A server whose n-th answer is `replies[n]` (the last one repeats). */
async function serve(replies: ScriptedReply[]): Promise<ScriptedServer> {
  const server = await startScriptedServer(
    (_request, index) => replies[Math.min(index, replies.length - 1)] as ScriptedReply,
  );
  servers.push(server);
  return server;
}

const spent = (resetSeconds: number, status = 200): ScriptedReply => ({
  status,
  headers: {
    'RateLimit-Policy': '"burst";q=10;w=1',
    RateLimit: `"burst";r=0;t=${resetSeconds}`,
    ...(status === 429 ? { 'Retry-After': String(resetSeconds) } : {}),
  },
  body: status === 429 ? undefined : { success: true, data: {} },
});

describe('a client instance shares one wait', () => {
  test('requests sent together after a spent window are held by one wait, then all sent', async () => {
    const server = await serve([spent(1), ok({})]);
    const receivedAtWait: number[] = [];
    const mailroom = createMailroomClient({
      baseUrl: server.url,
      apiKey: KEY,
      pacing: { onWait: () => receivedAtWait.push(server.requests.length) },
    });
    await mailroom.GET('/v1/api-keys/validate');

    const statuses = await Promise.all(
      [1, 2, 3].map(() => mailroom.GET('/v1/api-keys/validate').then(({ response }) => response.status)),
    );

    expect(receivedAtWait).toEqual([1]);
    expect(statuses).toEqual([200, 200, 200]);
    expect(server.requests).toHaveLength(4);
  });

  test("the client's own retry of a 429 is held for the window too", async () => {
    const server = await serve([spent(1, 429), ok({})]);
    const waits: number[] = [];
    const mailroom = createMailroomClient({
      baseUrl: server.url,
      apiKey: KEY,
      // The retry policy's own wait is skipped: only the pacer holds the retry.
      retry: { sleep: async () => {}, random: () => 0 },
      pacing: { onWait: ({ waitMs }) => waits.push(waitMs) },
    });

    const { response } = await mailroom.GET('/v1/api-keys/validate');

    expect(response.status).toBe(200);
    expect(server.requests).toHaveLength(2);
    expect(waits).toHaveLength(1);
  });

  test('a held request rejects with its signal’s reason when the caller aborts, and is never sent', async () => {
    const server = await serve([spent(30), ok({})]);
    const controller = new AbortController();
    const mailroom = createMailroomClient({
      baseUrl: server.url,
      apiKey: KEY,
      pacing: { onWait: () => controller.abort(new Error('caller gave up')) },
    });
    await mailroom.GET('/v1/api-keys/validate');

    const held = mailroom.GET('/v1/api-keys/validate', { signal: controller.signal });

    await expect(held).rejects.toThrow('caller gave up');
    expect(server.requests).toHaveLength(1);
  });

  test('a window that resets after maxWaitMs is not waited for: the request goes', async () => {
    const server = await serve([spent(120), spent(119, 429)]);
    const waits: number[] = [];
    const mailroom = createMailroomClient({
      baseUrl: server.url,
      apiKey: KEY,
      retry: false,
      pacing: { maxWaitMs: 60_000, onWait: ({ waitMs }) => waits.push(waitMs) },
    });
    await mailroom.GET('/v1/api-keys/validate');

    const { response } = await mailroom.GET('/v1/api-keys/validate');

    expect(response.status).toBe(429);
    expect(waits).toEqual([]);
  });

  test('forgetting the window releases a held request at once: it goes alone, as the probe', async () => {
    const server = await serve([spent(30), ok({})]);
    const waits: number[] = [];
    const mailroom = createMailroomClient({
      baseUrl: server.url,
      apiKey: KEY,
      pacing: { onWait: ({ waitMs }) => waits.push(waitMs) },
    });
    await mailroom.GET('/v1/api-keys/validate');

    const held = mailroom.GET('/v1/api-keys/validate');
    await new Promise((resolve) => setImmediate(resolve));
    expect(waits, 'held for the 30-second window').toHaveLength(1);
    mailroom.forgetRateLimits();

    expect((await held).response.status).toBe(200);
    expect(server.requests).toHaveLength(2);
  });

  test('answers without rate-limit headers leave the client unpaced', async () => {
    const server = await serve([ok({})]);
    const pacer = createPacer();
    const fetchOnce = (request: Request) => fetch(request);

    await pacer.send(new Request(`${server.url}/livez`), fetchOnce);

    expect(pacer.state).toEqual({ kind: 'unannounced' });
  });

  test('a network error leaves the state as it was, and the next request decides again', async () => {
    const pacer = createPacer();
    const unreachable = new Request('http://127.0.0.1:1/v1/api-keys/validate');

    await expect(pacer.send(unreachable, (request) => fetch(request))).rejects.toThrow();

    expect(pacer.state).toEqual({ kind: 'unknown' });
    const server = await serve([spent(1)]);
    await pacer.send(new Request(`${server.url}/v1/api-keys/validate`), (request) => fetch(request));
    expect(pacer.state).toMatchObject({ kind: 'budget', left: 0 });
  });

  test('pacing.maxWaitMs must be a non-negative number', () => {
    expect(() => createPacer({ maxWaitMs: -1 })).toThrow('pacing.maxWaitMs must be a non-negative number');
    expect(() =>
      createMailroomClient({ baseUrl: 'http://127.0.0.1:1', apiKey: KEY, pacing: { maxWaitMs: Number.NaN } }),
    ).toThrow('pacing.maxWaitMs must be a non-negative number');
  });
});
