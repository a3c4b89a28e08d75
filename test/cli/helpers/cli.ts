// Running the `mailroom` command as users do (bin/mailroom.js, the compiled build) on a data directory of the test's.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** What one run of the command printed, and its exit code. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `mailroom ...args --data-dir <dataDir>` with none of the caller's MAILROOM_*, DATABASE_URL or REDIS_URL
 * settings; resolves with the exit code and output, never throws.
 */
export async function runMailroom(dataDir: string, ...args: string[]): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('MAILROOM_') && name !== 'DATABASE_URL' && name !== 'REDIS_URL') {
      env[name] = value;
    }
  }
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/mailroom.js', ...args, '--data-dir', dataDir], {
      cwd: ROOT,
      env,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}
