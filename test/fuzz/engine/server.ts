import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FuzzServerOptions } from './serve.ts';

const SERVE = fileURLToPath(new URL('./serve.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** The server under fuzz, in its own process. */
export interface ServerProcess {
  pid: number;
  port: number;
  url: string;
  /** Set once the process has exited (a crash when it happens during the run). */
  exited(): { code: number | null; signal: string | null } | undefined;
  /** Resident set size now, in bytes (from /proc). */
  rss(): number | undefined;
  /** SIGTERM, then SIGKILL after 15 s; resolves with how it exited. */
  stop(): Promise<{ code: number | null; signal: string | null }>;
}

/** Starts `serve.ts` with `options`, its log appended to `logFile`; resolves once it listens. */
export async function startServerProcess(options: FuzzServerOptions, logFile: string): Promise<ServerProcess> {
  const log = openSync(logFile, 'a');
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', SERVE], {
    cwd: ROOT,
    env: { ...process.env, MAILROOM_FUZZ_SERVER: JSON.stringify(options), NO_COLOR: '1' },
    stdio: ['ignore', log, log, 'pipe'],
  });
  closeSync(log);
  let exit: { code: number | null; signal: string | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    });
  });
  const control = child.stdio[3];
  if (!control || !('on' in control)) {
    throw new Error('no control channel to the server process');
  }
  const ready = await new Promise<{ url: string; port: number }>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`the server did not start within 120 s; see ${logFile}`)), 120_000);
    control.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const line = text.split('\n')[0];
      if (text.includes('\n') && line) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as { url: string; port: number });
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`the server exited while starting (${code ?? signal}); see ${logFile}`));
    });
  });
  const pid = child.pid ?? 0;
  return {
    pid,
    port: ready.port,
    url: ready.url,
    exited: () => exit,
    rss() {
      try {
        const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
        return kib === undefined ? undefined : Number(kib) * 1024;
      } catch {
        return undefined;
      }
    },
    async stop() {
      if (exit) {
        return exit;
      }
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}
