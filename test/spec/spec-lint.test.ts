// The real contract, openapi/openapi.yaml, linted by the real Redocly CLI with the root redocly.yaml (the recommended
// ruleset plus the mailroom rules): it must come out with no errors and no warnings. Each problem is printed in the
// failure message as `severity rule file:line:col pointer message`.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const configPath = path.join(repoRoot, 'redocly.yaml');
const specPath = 'openapi/openapi.yaml';

interface Problem {
  ruleId: string;
  severity: 'error' | 'warn';
  message: string;
  ignored?: boolean;
  location: { source: { ref: string }; pointer?: string; start?: { line: number; col: number } }[];
}

interface LintReport {
  totals: { errors: number; warnings: number; ignored: number };
  problems: Problem[];
}

interface CliRun {
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
function runRedocly(args: string[]): Promise<CliRun> {
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

function describeProblem(problem: Problem): string {
  const [where] = problem.location;
  const position = where?.start ? `:${where.start.line}:${where.start.col}` : '';
  const pointer = where?.pointer ? ` ${where.pointer}` : '';
  return `${problem.severity} ${problem.ruleId} ${where?.source.ref ?? '?'}${position}${pointer} ${problem.message}`;
}

test('the project spec passes the root redocly.yaml with no errors and no warnings', async () => {
  const run = await runRedocly([
    'lint',
    specPath,
    '--config',
    configPath,
    '--format',
    'json',
    '--max-problems',
    '10000',
  ]);
  const start = run.stdout.indexOf('{');
  expect(start, `redocly lint printed no JSON report (exit code ${run.code}):\n${run.stderr}`).toBeGreaterThanOrEqual(
    0,
  );
  const report = JSON.parse(run.stdout.slice(start)) as LintReport;
  const problems = report.problems.filter((problem) => problem.ignored !== true).map(describeProblem);
  expect(problems, `${problems.length} problem(s) in ${specPath}:\n${problems.join('\n')}\n`).toEqual([]);
  expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  expect(run.stderr, 'redocly.yaml itself has problems').not.toMatch(/Your config has/);
  expect(run.code).toBe(0);
});
