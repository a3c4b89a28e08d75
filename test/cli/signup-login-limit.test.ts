import { describe, expect, test } from 'vitest';
import { START_TIMEOUT_MS, serve, serveRefused, urlAndKey } from './helpers/serve.ts';

// `mailroom serve --signup-login-limit N` / MAILROOM_SIGNUP_LOGIN_LIMIT=N: the per-address window of sign-up and log-in
// (20 a minute by default), so a sandbox started for a contract run or a test suite can give its one address room.

/** Sends failed log-ins until one is refused; returns every status and the address window the first answer announced. */
async function logInUntilRefused(
  url: string,
  max: number,
): Promise<{ statuses: number[]; policy: string | undefined }> {
  const statuses: number[] = [];
  let policy: string | undefined;
  for (let i = 0; i < max && statuses.at(-1) !== 429; i++) {
    const response = await fetch(`${url}/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      // A different unknown email each time: the per-account window of failed log-ins never binds.
      body: JSON.stringify({ email: `nobody-${i}@example.com`, password: 'not the password' }),
    });
    // RateLimit-Policy lists the address window and the per-account window of failed log-ins.
    policy ??= response.headers
      .get('RateLimit-Policy')
      ?.split(', ')
      .find((item) => item.startsWith('"address"'));
    statuses.push(response.status);
    await response.body?.cancel();
  }
  return { statuses, policy };
}

describe('mailroom serve --signup-login-limit', () => {
  test(
    'the flag and MAILROOM_SIGNUP_LOGIN_LIMIT set how many sign-ups and log-ins an address gets a minute',
    async () => {
      const [flag, env, plain] = await Promise.all([
        serve(['--signup-login-limit', '3']),
        serve([], { MAILROOM_SIGNUP_LOGIN_LIMIT: '4' }),
        serve([]),
      ]);
      const byFlag = await logInUntilRefused(urlAndKey(flag).url, 10);
      expect(byFlag).toEqual({ statuses: [401, 401, 401, 429], policy: '"address";q=3;w=60' });
      const byEnv = await logInUntilRefused(urlAndKey(env).url, 10);
      expect(byEnv).toEqual({ statuses: [401, 401, 401, 401, 429], policy: '"address";q=4;w=60' });
      // Without either, the default of 20 a minute.
      const byDefault = await logInUntilRefused(urlAndKey(plain).url, 1);
      expect(byDefault).toEqual({ statuses: [401], policy: '"address";q=20;w=60' });
    },
    START_TIMEOUT_MS,
  );

  test.each([
    ['--signup-login-limit', '0'],
    ['--signup-login-limit', 'many'],
  ])('%s %s is refused with one line', async (flag, value) => {
    const { code, out } = await serveRefused([flag, value]);
    expect(code).toBe(1);
    expect(out).toContain('--signup-login-limit must be a whole number from 1 to 1000000.');
  });

  test('an unusable MAILROOM_SIGNUP_LOGIN_LIMIT is refused with one line', async () => {
    const { code, out } = await serveRefused([], { MAILROOM_SIGNUP_LOGIN_LIMIT: '-5' });
    expect(code).toBe(1);
    expect(out).toContain('--signup-login-limit must be a whole number from 1 to 1000000.');
  });
});
