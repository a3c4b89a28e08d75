// The real contract, openapi/openapi.yaml, linted by the real Redocly CLI with the root redocly.yaml (the recommended
// ruleset plus the mailroom rules): it must come out with no errors and no warnings. Each problem is printed in the
// failure message as `severity rule file:line:col pointer message`.
import path from 'node:path';
import { expect, test } from 'vitest';
import { type LintReport, type Problem, repoRoot, runRedocly } from '../helpers/redocly-cli.ts';

const configPath = path.join(repoRoot, 'redocly.yaml');
const specPath = 'openapi/openapi.yaml';

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
