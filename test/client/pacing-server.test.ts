import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createMailroomClient, type MailroomClient } from '../../src/client/index.ts';
import { startServer } from '../../src/server/index.ts';

// A burst against the reference server on a plan of 10 requests a second: the paced client spends no request on a 429
// and takes about the time the windows allow; the same burst unpaced is mostly refused.

const BURST = 200;
const PER_SECOND = 10;

let server: Awaited<ReturnType<typeof startServer>>;
let pacedKey: string;
let unpacedKey: string;

beforeAll(async () => {
  server = await startServer({
    store: { kind: 'pglite' },
    logLevel: 'silent',
    plans: {
      // A 10-a-second burst window, and a minute budget with room for the whole burst (so the burst window binds).
      tenPerSecond: {
        windows: [
          { name: 'burst', limit: PER_SECOND, windowSeconds: 1 },
          { name: 'minute', limit: 1000, windowSeconds: 60 },
        ],
      },
    },
  });
  // One organization each: the pools are per organization, so the unpaced burst can't spend the paced one's.
  pacedKey = (await server.createApiKey({ name: 'Paced', organization: 'paced', plan: 'tenPerSecond' })).plaintext;
  unpacedKey = (await server.createApiKey({ name: 'Unpaced', organization: 'unpaced', plan: 'tenPerSecond' }))
    .plaintext;
});

afterAll(async () => {
  await server?.close();
});

/** Sends the burst at once from one client; returns each status and the wall time. */
async function burst(client: MailroomClient): Promise<{ statuses: number[]; ms: number }> {
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: BURST }, () => client.GET('/v1/api-keys/validate').then(({ response }) => response.status)),
  );
  return { statuses: results, ms: performance.now() - started };
}

const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;

describe('a client that paces itself by the RateLimit headers', () => {
  test(`a ${BURST}-request burst on a ${PER_SECOND}-a-second plan gets no 429, waiting for each window instead`, async () => {
    const waits: number[] = [];
    const paced = createMailroomClient({
      baseUrl: server.url,
      apiKey: pacedKey,
      // Retries off: a 429 must show, not be retried away.
      retry: false,
      pacing: { onWait: ({ waitMs }) => waits.push(waitMs) },
    });

    const { statuses, ms } = await burst(paced);

    expect({ ok: count(statuses, 200), refused: count(statuses, 429) }).toEqual({ ok: BURST, refused: 0 });
    // It held requests for the windows to reset: at least once per window after the first.
    expect(waits.length).toBeGreaterThanOrEqual(BURST / PER_SECOND - 1);
    expect(waits.every((waitMs) => waitMs > 0 && waitMs <= 1000)).toBe(true);
    const windows = BURST / PER_SECOND - 1;
    // biome-ignore lint/suspicious/noConsole: the burst's time is part of the test's output (no bound is asserted)
    console.info(
      `paced burst: ${BURST} requests, 0 refused, ${waits.length} waits, ${(ms / 1000).toFixed(1)} s ` +
        `(the windows allow it in just over ${windows} s)`,
    );
  });

  test('the same burst unpaced (pacing: false) spends most of its requests on 429s', async () => {
    const unpaced = createMailroomClient({ baseUrl: server.url, apiKey: unpacedKey, retry: false, pacing: false });

    const { statuses } = await burst(unpaced);

    expect(count(statuses, 200)).toBeLessThanOrEqual(2 * PER_SECOND);
    expect(count(statuses, 429)).toBeGreaterThanOrEqual(BURST - 2 * PER_SECOND);
  });
});
