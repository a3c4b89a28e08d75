import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { parseApiKey } from '../../src/keys/api-key.ts';
import { cleanEnv, ROOT, spawnMailroom } from './helpers/cli.ts';
import { START_TIMEOUT_MS, serve, serveRefused, urlAndKey } from './helpers/serve.ts';

// `mailroom serve --sandbox --seed FILE` as CI jobs run it, `mailroom keys generate` for fixed keys, and the refusals:
// each a single line naming what to change.

/** The README's fixture, as its *seeded sandbox in CI* section shows it. */
const FIXTURE = fileURLToPath(new URL('./fixtures/sandbox.yaml', import.meta.url));
const CI_KEY = 'mr_acmeci01_SandboxCiKeyOfTheAcmeFixture00012qK3tj';
const run = promisify(execFile);

/** Once the seeded keys are printed, the start is done (a fixture with keys gets no first key). */
const SEEDED = /API keys of the fixture without a fixed apiKey[^\n]*\n[^\n]+\n/;

async function post(url: string, path: string, key: string): Promise<Response> {
  return fetch(`${url}${path}`, { method: 'POST', headers: { 'X-API-Key': key } });
}

describe('mailroom serve --sandbox --seed', () => {
  test(
    'starts with the fixture, says so, prints the keys it drew, and resets to it',
    async () => {
      const out = await serve(['--sandbox', '--seed', FIXTURE], {}, SEEDED);
      expect(out).toContain(`  Sandbox:     ON  POST /sandbox/reset (any key of the sandbox) restores ${FIXTURE}`);
      expect(out).toContain(`  Seed:        ${FIXTURE}: 1 organizations, 1 users, 3 API keys, 1 contacts`);
      expect(out).not.toContain('First API key');
      const drawn = /^ {2}Acme \/ Read-only dashboard \(key_[a-z0-9]{16}\): (mr_\S+)$/m.exec(out)?.[1] ?? '';
      expect(parseApiKey(drawn).ok).toBe(true);
      expect(out, 'a fixed key is never printed').not.toContain(CI_KEY);
      const { url } = urlAndKey(out);
      const created = await fetch(`${url}/v1/contacts`, {
        method: 'POST',
        headers: { 'X-API-Key': CI_KEY, 'Content-Type': 'application/json' },
        body: JSON.stringify({ email: 'new@example.com' }),
      });
      expect(created.status).toBe(201);
      const reset = await post(url, '/sandbox/reset', drawn);
      expect(reset.status).toBe(200);
      const contacts = (await (await fetch(`${url}/v1/contacts`, { headers: { 'X-API-Key': CI_KEY } })).json()) as {
        data: { email: string }[];
      };
      expect(contacts.data.map((c) => c.email)).toEqual(['lin@example.com']);
      const expired = await fetch(`${url}/v1/api-keys/validate`, {
        headers: { 'X-API-Key': /^ {2}Acme \/ Expired \(key_[a-z0-9]{16}\): (mr_\S+)$/m.exec(out)?.[1] ?? '' },
      });
      expect(expired.status).toBe(401);
      const login = await fetch(`${url}/auth/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email: 'ada@example.com', password: 'correct horse battery staple' }),
      });
      expect(login.status).toBe(200);
    },
    START_TIMEOUT_MS,
  );

  test(
    'MAILROOM_SANDBOX and MAILROOM_SEED do the same; without a fixture a reset keeps the first key it printed',
    async () => {
      const [seeded, plain] = await Promise.all([
        serve([], { MAILROOM_SANDBOX: '1', MAILROOM_SEED: FIXTURE }, SEEDED),
        serve(['--sandbox']),
      ]);
      expect(seeded).toContain('Sandbox:     ON');
      expect((await post(urlAndKey(seeded).url, '/sandbox/reset', CI_KEY)).status).toBe(200);
      const { url, key } = urlAndKey(plain);
      expect(plain).toContain('restores the state it started with');
      const reset = await post(url, '/sandbox/reset', key);
      expect(await reset.json()).toMatchObject({ data: { seed: null, restored: { apiKeys: 1, organizations: 1 } } });
      expect((await fetch(`${url}/v1/api-keys/validate`, { headers: { 'X-API-Key': key } })).status).toBe(200);
    },
    START_TIMEOUT_MS,
  );

  test(
    'without --sandbox there is no reset (404) and the banner says nothing of a sandbox',
    async () => {
      const out = await serve([]);
      expect(out).not.toContain('Sandbox:');
      const { url, key } = urlAndKey(out);
      expect((await post(url, '/sandbox/reset', key)).status).toBe(404);
    },
    START_TIMEOUT_MS,
  );
});

describe('what mailroom serve refuses, in one line each', () => {
  test('a fixture with a fixed key without --sandbox', async () => {
    const { code, out } = await serveRefused(['--seed', FIXTURE]);
    expect(code).toBe(1);
    expect(out.trim().split('\n')).toEqual([
      `mailroom: ${FIXTURE}:11:17: organizations[0].keys[0].apiKey: a fixed API key is allowed only in sandbox mode (mailroom serve --sandbox, MAILROOM_SANDBOX=1)`,
    ]);
  });

  test('a fixture with mistakes: one line per mistake, with file, line and field', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mailroom-cli-seed-'));
    try {
      const fixture = join(dir, 'fixtures.yaml');
      await writeFile(
        fixture,
        'users:\n  - email: ada\n    password: short\norganizations:\n  - name: Acme\n    plan: gold\n',
      );
      const { code, out } = await serveRefused(['--sandbox', '--seed', fixture]);
      expect(code).toBe(1);
      expect(out.trim().split('\n')).toEqual([
        `mailroom: ${fixture}:2:12: users[0].email: must be an email address`,
        `mailroom: ${fixture}:3:15: users[0].password: must NOT have fewer than 10 characters`,
      ]);
      const missing = await serveRefused(['--sandbox', '--seed', join(dir, 'missing.yaml')]);
      expect(missing.out.trim()).toBe(
        `mailroom: ${join(dir, 'missing.yaml')}: cannot read the seed file: no such file`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('--sandbox with --database-url', async () => {
    const child = spawnMailroom(['serve', '--sandbox', '--database-url', 'postgres://postgres@127.0.0.1:5432/test']);
    let out = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(out.trim()).toMatch(
      /^mailroom: sandbox mode runs on the embedded database .*drop --database-url \(DATABASE_URL\)$/,
    );
  });

  test('--sandbox with --redis-url', async () => {
    const { code, out } = await serveRefused(['--sandbox', '--redis-url', 'redis://127.0.0.1:6379']);
    expect(code).toBe(1);
    expect(out.trim()).toBe(
      'mailroom: sandbox mode counts rate limits in memory (a reset empties them): drop --redis-url (REDIS_URL)',
    );
  });
});

describe('mailroom keys generate', () => {
  const keysGenerate = async (...args: string[]) => {
    try {
      const { stdout } = await run(process.execPath, ['bin/mailroom.js', 'keys', 'generate', ...args], {
        cwd: ROOT,
        env: cleanEnv(),
      });
      return { code: 0, out: stdout };
    } catch (error) {
      const failed = error as { code: number; stderr: string };
      return { code: failed.code, out: failed.stderr };
    }
  };

  test('prints a new valid key, stored nowhere', async () => {
    const { code, out } = await keysGenerate();
    expect(code).toBe(0);
    expect(parseApiKey(out.trim()).ok).toBe(true);
  });

  test('completes a key of your choosing with its checksum, or fixes a wrong one', async () => {
    expect((await keysGenerate('mr_acmeci01_SandboxCiKeyOfTheAcmeFixture0001')).out.trim()).toBe(CI_KEY);
    expect((await keysGenerate(`${CI_KEY.slice(0, -6)}AAAAAA`)).out.trim()).toBe(CI_KEY);
    const refused = await keysGenerate('mr_ACME_short');
    expect(refused.code).toBe(1);
    expect(refused.out.trim()).toBe(
      'mailroom: mr_ACME_short is not mr_<8 lowercase letters or digits>_<32 letters or digits> (or a whole key to fix the checksum of)',
    );
  });
});
