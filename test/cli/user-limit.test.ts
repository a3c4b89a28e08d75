import { describe, expect, test } from 'vitest';
import { START_TIMEOUT_MS, serve, serveRefused, urlAndKey } from './helpers/serve.ts';

// `mailroom serve --user-limit N` / MAILROOM_USER_LIMIT=N: the `user` window, every request made with a user token
// counted per user (120 a minute by default), so a sandbox a contract run or a console test drives can give it room.

/** Signs a user up, then asks GET /auth/me until refused; returns every status and the user window announced. */
async function meUntilRefused(url: string, max: number): Promise<{ statuses: number[]; policy: string | undefined }> {
  const signUp = await fetch(`${url}/auth/signup`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: 'limit@example.com', password: 'a long and unusual password', name: 'Limit' }),
  });
  expect(signUp.status).toBe(201);
  const token = ((await signUp.json()) as { data: { token: string } }).data.token;
  const statuses: number[] = [];
  let policy: string | undefined;
  for (let i = 0; i < max && statuses.at(-1) !== 429; i++) {
    const response = await fetch(`${url}/auth/me`, { headers: { Authorization: `Bearer ${token}` } });
    policy ??= response.headers
      .get('RateLimit-Policy')
      ?.split(', ')
      .find((item) => item.startsWith('"user"'));
    statuses.push(response.status);
    await response.body?.cancel();
  }
  return { statuses, policy };
}

describe('mailroom serve --user-limit', () => {
  test(
    'the flag and MAILROOM_USER_LIMIT set how many requests a user token gets a minute',
    async () => {
      const [flag, env, plain] = await Promise.all([
        serve(['--user-limit', '3']),
        serve([], { MAILROOM_USER_LIMIT: '4' }),
        serve([]),
      ]);
      expect(await meUntilRefused(urlAndKey(flag).url, 10)).toEqual({
        statuses: [200, 200, 200, 429],
        policy: '"user";q=3;w=60',
      });
      expect(await meUntilRefused(urlAndKey(env).url, 10)).toEqual({
        statuses: [200, 200, 200, 200, 429],
        policy: '"user";q=4;w=60',
      });
      // Without either, the default of 120 a minute.
      expect(await meUntilRefused(urlAndKey(plain).url, 1)).toEqual({ statuses: [200], policy: '"user";q=120;w=60' });
    },
    START_TIMEOUT_MS,
  );

  test.each([
    ['--user-limit', '0'],
    ['--user-limit', 'many'],
  ])('%s %s is refused with one line', async (flag, value) => {
    const { code, out } = await serveRefused([flag, value]);
    expect(code).toBe(1);
    expect(out).toContain('--user-limit must be a whole number from 1 to 1000000.');
  });
});
