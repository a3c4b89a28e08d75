import { describe, expect, test } from 'vitest';
import { spawnMailroom } from './helpers/cli.ts';

// A supervisor (systemd, a test runner, a CI job's cleanup) may stop `mailroom serve` the moment it says it listens.
// The signal handlers used to be installed only after the banner's store lookups, so a SIGTERM sent at the first
// line killed the process without closing its store.

const TIMEOUT_MS = 120_000;

describe('mailroom serve and signals', () => {
  test(
    'a SIGTERM sent as soon as it says it is listening stops it cleanly, with exit code 0',
    async () => {
      const child = spawnMailroom(['serve', '--memory', '--port', '0', '--log-level', 'warn']);
      let out = '';
      let stderr = '';
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
      });
      child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        const first = out === '';
        out += chunk;
        if (first && /listening on/.test(out)) {
          child.kill('SIGTERM');
        }
      });
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((done) =>
        child.once('exit', (exitCode, exitSignal) => done([exitCode, exitSignal])),
      );
      expect({ code, signal }, `${out}\n${stderr}`).toEqual({ code: 0, signal: null });
    },
    TIMEOUT_MS,
  );
});
