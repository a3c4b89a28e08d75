// Running the `mailroom` command as users do: bin/mailroom.js (the compiled build), with none of the caller's
// MAILROOM_*, DATABASE_URL or REDIS_URL settings unless a test gives them.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The repository root: where bin/mailroom.js runs from. */
export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** This process's environment without the settings `mailroom` reads, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('MAILROOM_') && name !== 'DATABASE_URL' && name !== 'REDIS_URL') {
      env[name] = value;
    }
  }
  return { ...env, ...extra };
}

/** Starts `mailroom ...args` with piped output. */
export function spawnMailroom(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ['bin/mailroom.js', ...args], {
    cwd: ROOT,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** What one run of the command printed, and its exit code. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `mailroom ...args --data-dir <dataDir>` to its end; resolves with the exit code and output, never throws. */
export async function runMailroom(dataDir: string, ...args: string[]): Promise<CliRun> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/mailroom.js', ...args, '--data-dir', dataDir], {
      cwd: ROOT,
      env: cleanEnv(),
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}
