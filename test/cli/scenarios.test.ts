import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';

// `mailroom serve --scenarios` / MAILROOM_SCENARIOS=1, as a user starts it: the banner says so loudly, /v1/health
// reports it, and the printed key can force a documented response at once.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// Two servers start at once; each takes seconds alone and close to a minute on a loaded machine.
const START_TIMEOUT_MS = 180_000;
const children: ChildProcess[] = [];

afterAll(() => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
    }
  }
});

/** Starts `mailroom serve --memory` on port 0 and resolves with its output once it has printed the first key. */
function serve(args: string[], env: Record<string, string> = {}): Promise<string> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('MAILROOM_')));
  const child = spawn(
    process.execPath,
    ['bin/mailroom.js', 'serve', '--memory', '--port', '0', '--log-level', 'warn', ...args],
    {
      cwd: ROOT,
      env: { ...clean, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  let out = '';
  return new Promise((resolveOutput, reject) => {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (/Try it:/.test(out)) {
        resolveOutput(out);
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    child.once('exit', (code) => reject(new Error(`mailroom serve exited with ${code}:\n${out}`)));
  });
}

function urlAndKey(out: string): { url: string; key: string } {
  return {
    url: /listening on (http:\/\/\S+)/.exec(out)?.[1] ?? '',
    key: /^ {2}(mr_[a-z0-9]{8}_[A-Za-z0-9]{38})$/m.exec(out)?.[1] ?? '',
  };
}

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
