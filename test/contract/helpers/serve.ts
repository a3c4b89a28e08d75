// Test helper: `mailroom serve --memory` as a separate process, as a deployment would run, reached only by
// the URL and the first key its banner prints.
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../../..');

/** A plan table with room for several contract runs at once (each makes about 1,000 requests). */
export const ROOMY_FREE_PLAN = JSON.stringify({
  free: {
    windows: [
      { name: 'burst', limit: 1000, windowSeconds: 1 },
      { name: 'minute', limit: 100_000, windowSeconds: 60 },
    ],
  },
});

export interface ServeProcess {
  url: string;
  /** The first key, from the banner. */
  key: string;
  stop(): Promise<void>;
}

/** Starts `node bin/mailroom.js serve --memory --port 0 ...args` and reads its URL and first key. */
export async function startServeProcess(args: string[] = [], env: Record<string, string> = {}): Promise<ServeProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['bin/mailroom.js', 'serve', '--memory', '--port', '0', '--log-level', 'warn', ...args],
    { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let banner = '';
  child.stdout?.on('data', (chunk) => {
    banner += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    banner += chunk;
  });
  const stop = () =>
    new Promise<void>((done) => {
      process.off('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) {
        done();
        return;
      }
      child.once('exit', () => done());
      child.kill('SIGTERM');
    });
  try {
    const { url, key } = await new Promise<{ url: string; key: string }>((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`no banner within 90 s:\n${banner}`)), 90_000);
      const check = () => {
        const url = /listening on (http:\/\/\S+)/.exec(banner)?.[1];
        const key = /^\s+(mr_[a-z0-9]{8}_[A-Za-z0-9]{38})\s*$/m.exec(banner)?.[1];
        if (url && key) {
          clearTimeout(timer);
          done({ url, key });
        }
      };
      child.stdout?.on('data', check);
      child.once('exit', (code) => {
        clearTimeout(timer);
        fail(new Error(`mailroom serve exited with ${code}:\n${banner}`));
      });
    });
    return { url, key, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
