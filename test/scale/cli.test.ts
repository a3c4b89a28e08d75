import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api } from './helpers/api.ts';
import { deleteRedisKeys, PG_URL, REDIS_URL, scaleSuite, withAdmin } from './helpers/cluster.ts';

const suite = scaleSuite();
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SECRET = 'cli-test-secret-0123456789';
const CLI_TEST_TIMEOUT_MS = 40_000;

/**
 * DATABASE_URL for the CLI: the test database, with this file's schema as search_path (a libpq `options` startup
 * parameter), so the CLI migrates and writes there instead of `public`. The start-up report shows host and path only.
 */
const databaseUrl = `${PG_URL}?options=${encodeURIComponent(`-c search_path=${suite.schema}`)}`;
const redisHost = new URL(REDIS_URL).host;
const pgHostAndPath = (() => {
  const url = new URL(PG_URL);
  return `${url.host}${url.pathname}`;
})();

const children: ChildProcess[] = [];
const organizations: string[] = [];

beforeAll(async () => {
  // The CLI gets no schema option of its own (it would use `public`): create this file's schema for it.
  await withAdmin((admin) => admin.query(`CREATE SCHEMA IF NOT EXISTS "${suite.schema}"`));
});

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
  }
  // The CLI counts under the default prefix 'mailroom:rl'; delete what the requests of this file left there.
  for (const organizationId of organizations) {
    await deleteRedisKeys(`mailroom:rl:*:${organizationId}`);
  }
});

interface Cli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with stdout once it matches `pattern`; rejects if the process exits first or `timeoutMs` passes. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The environment of the test run minus every setting the CLI reads, plus `env`. */
function cliEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('MAILROOM_') && name !== 'DATABASE_URL' && name !== 'REDIS_URL') {
      clean[name] = value;
    }
  }
  return { ...clean, ...env };
}

function runCli(args: string[], env: Record<string, string>): Cli {
  const child = spawn(process.execPath, ['bin/mailroom.js', ...args], {
    cwd: ROOT,
    env: cliEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.once('exit', (code, signal) => resolveExit({ code, signal }));
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForOutput(pattern, timeoutMs = 25_000) {
      return new Promise((resolveOutput, reject) => {
        const timer = setTimeout(() => {
          clearInterval(poll);
          reject(
            new Error(`CLI output did not match ${pattern} within ${timeoutMs} ms.\nstdout:\n${out}\nstderr:\n${err}`),
          );
        }, timeoutMs);
        const poll = setInterval(() => {
          if (pattern.test(out)) {
            clearInterval(poll);
            clearTimeout(timer);
            resolveOutput(out);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearInterval(poll);
            clearTimeout(timer);
            reject(new Error(`CLI exited (${child.exitCode ?? child.signalCode}).\nstdout:\n${out}\nstderr:\n${err}`));
          }
        }, 50);
      });
    },
  };
}

async function stop(cli: Cli): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  cli.child.kill('SIGTERM');
  return cli.exited;
}

describe('mailroom serve with PostgreSQL and Redis', () => {
  it(
    'reports PostgreSQL and Redis at start-up and serves with both',
    async () => {
      const cli = runCli(
        ['serve', '--port', '0', '--database-url', databaseUrl, '--redis-url', REDIS_URL, '--log-level', 'warn'],
        { MAILROOM_SERVER_SECRET: SECRET },
      );
      try {
        // A fresh schema: the CLI shows how to sign up first, then ends its report with a first key and a curl line.
        const out = await cli.waitForOutput(/Try it:\n.*\n/);
        expect(out.indexOf('/auth/signup')).toBeGreaterThan(0);
        expect(out.indexOf('/auth/signup')).toBeLessThan(out.indexOf('First API key'));
        expect(out).toContain(`Database:    PostgreSQL at ${pgHostAndPath}\n`);
        expect(out).toContain(`Rate limits: Redis (${redisHost}), fail-open on outage\n`);

        const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
        const key = /X-API-Key: (mr_\S+)"/.exec(out)?.[1];
        expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        expect(url).not.toMatch(/:0$/);
        expect(key).toBeDefined();

        const health = await api({ url: url as string }, '/v1/health', { key: key as string });
        expect(health.status).toBe(200);
        organizations.push(health.body.data.organizationId);
        expect(health.body.data.stores).toEqual({
          database: { kind: 'postgres', status: 'up' },
          rateLimiter: { kind: 'redis', status: 'up' },
        });
      } finally {
        expect(await stop(cli)).toEqual({ code: 0, signal: null });
      }
    },
    CLI_TEST_TIMEOUT_MS,
  );

  it(
    'takes the stores and the outage policy from DATABASE_URL, REDIS_URL and MAILROOM_REDIS_OUTAGE_POLICY',
    async () => {
      const cli = runCli(['serve', '--port', '0', '--log-level', 'warn'], {
        MAILROOM_SERVER_SECRET: SECRET,
        DATABASE_URL: databaseUrl,
        REDIS_URL,
        MAILROOM_REDIS_OUTAGE_POLICY: 'fail-closed',
      });
      try {
        const out = await cli.waitForOutput(/Rate limits: .*\n/);
        expect(out).toContain(`Database:    PostgreSQL at ${pgHostAndPath}\n`);
        expect(out).toContain(`Rate limits: Redis (${redisHost}), fail-closed on outage\n`);
        const url = /listening on (http:\/\/\S+)/.exec(out)?.[1] as string;
        expect((await api({ url }, '/livez')).status).toBe(200);
      } finally {
        expect(await stop(cli)).toEqual({ code: 0, signal: null });
      }
    },
    CLI_TEST_TIMEOUT_MS,
  );

  it(
    'exits 1 with a one-line error when MAILROOM_SERVER_SECRET is missing with --database-url',
    async () => {
      const cli = runCli(['serve', '--port', '0', '--database-url', databaseUrl, '--redis-url', REDIS_URL], {});
      const exit = await cli.exited;
      expect(exit).toEqual({ code: 1, signal: null });
      expect(cli.stdout()).toBe('');
      const lines = cli.stderr().trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^mailroom: MAILROOM_SERVER_SECRET is required with DATABASE_URL/);
    },
    CLI_TEST_TIMEOUT_MS,
  );
});
