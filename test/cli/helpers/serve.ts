import type { ChildProcess } from 'node:child_process';
import { afterAll } from 'vitest';
import { spawnMailroom } from './cli.ts';

/** Servers start in seconds alone, and in close to a minute when two start at once on a loaded machine. */
export const START_TIMEOUT_MS = 180_000;

const children: ChildProcess[] = [];

afterAll(() => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
    }
  }
});

/**
 * Starts `mailroom serve --memory` on port 0 as a user does (bin/mailroom.js, none of this process's settings but `env`), and
 * resolves with its output once it has printed the first key (or what `ready` matches); stopped when the file ends.
 */
export function serve(args: string[], env: Record<string, string> = {}, ready = /Try it:/): Promise<string> {
  const child = spawnMailroom(['serve', '--memory', '--port', '0', '--log-level', 'warn', ...args], env);
  children.push(child);
  let out = '';
  return new Promise((resolveOutput, reject) => {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (ready.test(out)) {
        resolveOutput(out);
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    child.once('exit', (code) => reject(new Error(`mailroom serve exited with ${code}:\n${out}`)));
  });
}

/** Runs `mailroom serve` with arguments it must refuse; resolves with its exit code and output. */
export function serveRefused(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string }> {
  const child = spawnMailroom(['serve', '--memory', '--port', '0', ...args], env);
  children.push(child);
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  return new Promise((resolveExit) => child.once('exit', (code) => resolveExit({ code, out })));
}

/** The URL and the first API key a `mailroom serve` start printed. */
export function urlAndKey(out: string): { url: string; key: string } {
  return {
    url: /listening on (http:\/\/\S+)/.exec(out)?.[1] ?? '',
    key: /^ {2}(mr_[a-z0-9]{8}_[A-Za-z0-9]{38})$/m.exec(out)?.[1] ?? '',
  };
}
