import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, where redocly.yaml lives. */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** One problem in `redocly lint --format json` output. */
export interface Problem {
  ruleId: string;
  severity: 'error' | 'warn';
  message: string;
  ignored?: boolean;
  location: { source: { ref: string }; pointer?: string; start?: { line: number; col: number } }[];
}

/** One file's report in `redocly lint --format json` output. */
export interface LintReport {
  totals: { errors: number; warnings: number; ignored: number };
  problems: Problem[];
}

/** What one CLI run printed and how it ended. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function redoclyBin(): string {
  const require = createRequire(import.meta.url);
  const packageJsonPath = require.resolve('@redocly/cli/package.json');
  const { bin } = JSON.parse(readFileSync(packageJsonPath, 'utf8')) as { bin: Record<string, string> };
  const relative = bin.redocly;
  if (relative === undefined) {
    throw new Error('@redocly/cli has no `redocly` bin');
  }
  return path.join(path.dirname(packageJsonPath), relative);
}

/** Runs the Redocly CLI with the current Node; resolves (never rejects) with the output, whatever the exit code. */
export function runRedocly(args: string[]): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [redoclyBin(), ...args],
      {
        cwd: repoRoot,
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
      },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== 'number') {
          reject(error);
          return;
        }
        resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
      },
    );
  });
}
