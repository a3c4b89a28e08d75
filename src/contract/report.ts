// The contract run's report: every case (Dredd transaction, scenario step, edge value, setup step) with what
// the observer found on its requests, the checks by class, and the three forms CI wants: a human summary,
// a JSON summary and JUnit XML (built with junit-report-builder).
import junitReportBuilder, { type Builder } from 'junit-report-builder';
import type { CaseResult, Outcome, Suite } from './cases.ts';
import { DECLARED_HEADER_CHECKS } from './declared-headers.ts';
import { EVENT_CHECKS } from './events.ts';
import { SEMANTIC_CHECKS } from './header-semantics.ts';
import { type Exchange, PRISM_CHECKS } from './observer.ts';
import { STATE_CHECKS } from './state/checks.ts';
import { SIGN_IN_CHECKS } from './state/spray.ts';
import type { StrictnessSummary } from './strict-spec.ts';

/** How the target answered the scenarios probe. */
export interface ScenarioProbe {
  honoured: boolean;
  detail: string;
}

/** Every check class the run reports, with what it checks. */
export const CHECKS: Record<string, string> = {
  dredd: "Dredd (Gavel): each documented (operation, status) transaction's status, content type and body schema",
  expectation: 'each scenario, edge-value and setup step got the status it arranged for',
  ...PRISM_CHECKS,
  ...SEMANTIC_CHECKS,
  ...DECLARED_HEADER_CHECKS,
  ...STATE_CHECKS,
  ...SIGN_IN_CHECKS,
  ...EVENT_CHECKS,
  transport: 'the target (and Prism in front of it) answered at all',
};

const SUITES: Suite[] = ['setup', 'dredd', 'scenario', 'edge-values', 'state', 'clean-up'];

type Tally = Record<Outcome, number>;
const emptyTally = (): Tally => ({ passed: 0, failed: 0, 'needs-scenarios': 0, skipped: 0, 'not-run': 0 });

/** One check class and what it found. */
export interface CheckTally {
  check: string;
  description: string;
  /** Findings of this class (for dredd and expectation: failed cases). */
  failures: number;
  /** Up to 20 of them. */
  examples: string[];
}

/** The whole report of a run (the JSON summary). */
export interface ContractReport {
  ok: boolean;
  runId: string;
  target: string;
  spec: string;
  failFast: boolean;
  requireScenarios: boolean;
  scenarios: ScenarioProbe;
  strictness: StrictnessSummary;
  counts: Tally & { cases: number; responses: number };
  suites: Record<Suite, Tally>;
  checks: CheckTally[];
  cases: CaseResult[];
  problems: string[];
  seconds: number;
  phases: Record<string, number>;
  workDir: string;
}

/** What `buildReport` merges. */
export interface ReportInput {
  runId: string;
  target: string;
  spec: string;
  strictness: StrictnessSummary;
  probe: ScenarioProbe;
  failFast: boolean;
  requireScenarios: boolean;
  cases: CaseResult[];
  exchanges: Exchange[];
  attribution: Map<string, string>;
  problems: string[];
  seconds: number;
  phases: Record<string, number>;
  workDir: string;
}

/** Merges the observer's findings into the cases that sent the requests, and tallies everything. */
export function buildReport(input: ReportInput): ContractReport {
  const checks = new Map<string, CheckTally>(
    Object.entries(CHECKS).map(([check, description]) => [check, { check, description, failures: 0, examples: [] }]),
  );
  const count = (check: string, example: string) => {
    const tally = checks.get(check) ?? { check, description: check, failures: 0, examples: [] };
    checks.set(check, tally);
    tally.failures += 1;
    if (tally.examples.length < 20) {
      tally.examples.push(example);
    }
  };
  const cases = input.cases.map((c) => ({ ...c, messages: [...c.messages] }));
  for (const c of cases) {
    if (c.outcome === 'failed') {
      // A line tagged `[class] …` (the state phase's) counts under that class; anything else is an expectation.
      const tagged = c.messages
        .flatMap((message) => message.split('\n'))
        .map((line) => /^\[([a-z-]+)\] (.*)$/.exec(line))
        .filter((match): match is RegExpExecArray => match !== null && match[1] !== undefined && match[1] in CHECKS);
      for (const [, check, message] of tagged) {
        count(check as string, `${c.suite}: ${c.name}: ${message}`);
      }
      if (tagged.length === 0) {
        count(c.suite === 'dredd' ? 'dredd' : 'expectation', `${c.suite}: ${c.name}: ${c.messages[0] ?? ''}`);
      }
    }
  }
  const byRequestId = new Map<string, CaseResult>();
  for (const c of cases) {
    for (const id of c.requestIds) {
      byRequestId.set(id, c);
    }
  }
  let unattributed: CaseResult | undefined;
  for (const exchange of input.exchanges) {
    if (exchange.findings.length === 0) {
      continue;
    }
    // A Dredd hook's arranging request carries its transaction's id plus ".a<n>".
    const owner = byRequestId.get(exchange.requestId) ?? byRequestId.get(exchange.requestId.replace(/\.a\d+$/, ''));
    let target = owner;
    if (!target) {
      unattributed ??= {
        suite: 'setup',
        name: 'requests no case claims',
        outcome: 'failed',
        messages: [],
        requestIds: [],
        seconds: 0,
      };
      target = unattributed;
    }
    for (const finding of exchange.findings) {
      const where = `${exchange.method} ${exchange.url} → ${exchange.status}`;
      target.messages.push(`[${finding.check}] ${finding.message} (${where})`);
      count(finding.check, `${target.suite}: ${target.name}: ${finding.message} (${where})`);
    }
    target.outcome = 'failed';
  }
  if (unattributed) {
    cases.push(unattributed);
  }

  const counts = { ...emptyTally(), cases: cases.length, responses: input.exchanges.length };
  const suites = Object.fromEntries(SUITES.map((suite) => [suite, emptyTally()])) as Record<Suite, Tally>;
  for (const c of cases) {
    counts[c.outcome] += 1;
    suites[c.suite][c.outcome] += 1;
  }
  const ok =
    input.problems.length === 0 &&
    counts.failed === 0 &&
    counts['not-run'] === 0 &&
    (!input.requireScenarios || counts['needs-scenarios'] === 0);
  return {
    ok,
    runId: input.runId,
    target: input.target,
    spec: input.spec,
    failFast: input.failFast,
    requireScenarios: input.requireScenarios,
    scenarios: input.probe,
    strictness: input.strictness,
    counts,
    suites,
    checks: [...checks.values()],
    cases,
    problems: input.problems,
    seconds: Number(input.seconds.toFixed(1)),
    phases: Object.fromEntries(Object.entries(input.phases).map(([phase, s]) => [phase, Number(s.toFixed(1))])),
    workDir: input.workDir,
  };
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The human summary. `verbose` lists every case. */
export function formatReport(report: ContractReport, { verbose = false } = {}): string {
  const out: string[] = [];
  const s = report.strictness;
  out.push(
    '',
    `Contract run ${report.runId} against ${report.target}`,
    `  spec: ${report.spec}; strict copy: ${s.closedObjects} response objects closed, ${s.utcTimestamps} timestamps must be UTC (Z), ${s.pinnedErrorResponses} error responses pinned to their codes`,
    `  scenarios: ${report.scenarios.honoured ? 'honoured' : 'not honoured'} (${report.scenarios.detail})`,
    '',
    `Cases: ${report.counts.cases}: ${report.counts.passed} passed, ${report.counts.failed} failed, ${report.counts['needs-scenarios']} need scenarios, ${report.counts.skipped} skipped, ${report.counts['not-run']} not run`,
  );
  for (const [suite, t] of Object.entries(report.suites)) {
    const extra = [
      t.failed ? `${t.failed} failed` : '',
      t['needs-scenarios'] ? `${t['needs-scenarios']} need scenarios` : '',
      t.skipped ? `${t.skipped} skipped` : '',
      t['not-run'] ? `${t['not-run']} not run` : '',
    ].filter(Boolean);
    const total = t.passed + t.failed + t['needs-scenarios'] + t.skipped + t['not-run'];
    out.push(
      `  ${suite.padEnd(12)} ${String(t.passed).padStart(4)} of ${String(total).padEnd(4)} passed${extra.length ? ` (${extra.join(', ')})` : ''}`,
    );
  }
  out.push('', `Checks on ${plural(report.counts.responses, 'response')}, by class (failures):`);
  for (const check of report.checks) {
    out.push(`  ${check.check.padEnd(22)} ${String(check.failures).padStart(4)}  ${check.description}`);
  }
  const needs = report.cases.filter((c) => c.outcome === 'needs-scenarios');
  if (needs.length > 0) {
    out.push(
      '',
      `Need scenarios (not passed: only a target that honours Prefer: code=… produces them${report.requireScenarios ? '; --require-scenarios makes them failures' : ''}):`,
    );
    for (const c of needs) {
      out.push(`  ${c.suite}: ${c.name}`);
    }
  }
  const skippedBy = new Map<string, CaseResult[]>();
  for (const c of report.cases.filter((x) => x.outcome === 'skipped')) {
    const why = c.messages[0] ?? 'not for this target';
    skippedBy.set(why, [...(skippedBy.get(why) ?? []), c]);
  }
  for (const [why, cases] of skippedBy) {
    out.push('', `Skipped (${why}):`, ...cases.map((c) => `  ${c.suite}: ${c.name}`));
  }
  const failed = report.cases.filter((c) => c.outcome === 'failed');
  if (failed.length > 0) {
    out.push('', 'FAILED:');
    for (const c of failed) {
      out.push(`  ${c.suite}: ${c.name}${c.arranged ? `  [arranged: ${c.arranged}]` : ''}`);
      for (const message of c.messages.slice(0, 6)) {
        out.push(`    ${message.split('\n').join('\n    ')}`);
      }
      if (c.messages.length > 6) {
        out.push(`    … ${c.messages.length - 6} more`);
      }
    }
  }
  const notRun = report.cases.filter((c) => c.outcome === 'not-run');
  if (notRun.length > 0) {
    out.push(
      '',
      `Not run: ${plural(notRun.length, 'case')}${report.failFast ? ' (--fail-fast stopped at the first failure)' : ''}`,
    );
  }
  for (const problem of report.problems) {
    out.push(`PROBLEM: ${problem}`);
  }
  if (verbose) {
    out.push('', 'Every case:');
    for (const c of report.cases) {
      out.push(`  ${c.outcome.padEnd(15)} ${c.suite}: ${c.name}${c.arranged ? `  [${c.arranged}]` : ''}`);
    }
  }
  const phases = Object.entries(report.phases)
    .map(([phase, seconds]) => `${phase} ${seconds} s`)
    .join(', ');
  out.push(
    '',
    `Contract ${report.ok ? 'PASSED' : 'FAILED'} in ${report.seconds} s (${phases})`,
    `Logs: ${report.workDir}`,
  );
  return out.join('\n');
}

// The package is CommonJS whose module.exports is the builder; its typings describe an ES default export.
const junitRoot = ((junitReportBuilder as unknown as { default?: Builder }).default ??
  (junitReportBuilder as unknown as Builder)) as Builder;

/** JUnit XML: a testsuite per suite with a testcase per case, and a "checks" testsuite with one per class. */
export function junitXml(report: ContractReport): string {
  const builder = junitRoot.newBuilder();
  for (const suite of SUITES) {
    const testSuite = builder.testSuite().name(`contract.${suite}`);
    for (const c of report.cases.filter((x) => x.suite === suite)) {
      const testCase = testSuite.testCase().className(`contract.${suite}`).name(c.name).time(c.seconds);
      if (c.arranged) {
        testCase.property('arranged', c.arranged);
      }
      if (c.outcome === 'failed') {
        testCase.failure(c.messages.join('\n'), 'ContractViolation');
      } else if (c.outcome === 'needs-scenarios' || c.outcome === 'skipped' || c.outcome === 'not-run') {
        testCase.skipped().property('outcome', c.outcome).standardOutput(c.messages.join('\n'));
      }
    }
  }
  const checks = builder.testSuite().name('contract.checks');
  for (const check of report.checks) {
    const testCase = checks.testCase().className('contract.checks').name(`${check.check}: ${check.description}`);
    if (check.failures > 0) {
      testCase.failure(`${plural(check.failures, 'failure')}:\n${check.examples.join('\n')}`, 'ContractViolation');
    }
  }
  return builder.build();
}

/** The JSON summary (the report without the per-case request ids). */
export function jsonSummary(report: ContractReport): string {
  return `${JSON.stringify(
    { ...report, cases: report.cases.map(({ requestIds: _ids, ...rest }) => rest) },
    null,
    2,
  )}\n`;
}
