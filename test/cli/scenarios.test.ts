import { describe, expect, test } from 'vitest';
import { START_TIMEOUT_MS, serve, urlAndKey } from './helpers/serve.ts';

// `mailroom serve --scenarios` / MAILROOM_SCENARIOS=1, as a user starts it: the banner says so loudly, /v1/health
// reports it, and the printed key can force a documented response at once.

describe('mailroom serve --scenarios', () => {
  test(
    'the flag and MAILROOM_SCENARIOS=1 turn scenarios on, loudly, and the printed key can force a 503 at once',
    async () => {
      const [flag, env] = await Promise.all([serve(['--scenarios']), serve([], { MAILROOM_SCENARIOS: '1' })]);
      for (const out of [flag, env]) {
        expect(out).toMatch(/^ {2}Scenarios: +ON {2}!!! sandbox only: .*\n.*never run this in production$/m);
        const { url, key } = urlAndKey(out);
        const health = await fetch(`${url}/v1/health`, { headers: { 'X-API-Key': key } });
        expect(((await health.json()) as { data: { scenarios: boolean } }).data.scenarios).toBe(true);
        const forced = await fetch(`${url}/v1/health`, { headers: { 'X-API-Key': key, Prefer: 'code=503' } });
        expect(forced.status).toBe(503);
      }
    },
    START_TIMEOUT_MS,
  );
});
