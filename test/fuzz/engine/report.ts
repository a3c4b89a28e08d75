import { FINDING_KINDS, type FindingKind } from './checks.ts';
import type { FuzzReport } from './run.ts';

const mib = (bytes: number | undefined) => (bytes === undefined ? '?' : `${(bytes / 1024 / 1024).toFixed(1)} MiB`);

/** Whether a run found nothing that fails it (undeclared statuses are information only). */
export function passed(report: FuzzReport): boolean {
  return (
    report.findings.length === 0 && report.dataIntactAfterRun && report.dataIntactAfterRestart && !report.stoppedEarly
  );
}

/** The run's figures: what was sent, how fast, the server's memory, the statuses. */
function figureLines(report: FuzzReport): string[] {
  const rss =
    report.rssBeforeBytes && report.rssAfterBytes
      ? `${mib(report.rssBeforeBytes)} before → ${mib(report.rssAfterBytes)} after (${(((report.rssAfterBytes - report.rssBeforeBytes) / report.rssBeforeBytes) * 100).toFixed(1)} %)`
      : 'not measured';
  return [
    `Mailroom fuzz: seed ${report.seed}, ${report.requestsSent} of ${report.requestsPlanned} requests over ${report.operations} operations, ${report.classes.length} classes`,
    `Time ${report.seconds} s (${Math.round(report.requestsSent / Math.max(report.seconds, 0.1))} requests/s); server RSS ${rss}`,
    `Statuses: ${Object.entries(report.statusCounts)
      .sort()
      .map(([status, count]) => `${status} ×${count}`)
      .join(', ')}`,
  ];
}

/** The findings table: one line per kind with its count and classes, then whether the data stayed intact. */
function findingTable(report: FuzzReport): string[] {
  const out = ['finding                                           count  classes (cases)'];
  for (const [kind, label] of Object.entries(FINDING_KINDS) as [FindingKind, string][]) {
    const found = report.findings.filter((f) => f.kind === kind);
    const byClass = new Map<string, number>();
    for (const f of found) {
      const name = f.cls ? `${f.group}: ${f.cls}` : 'not tied to a case';
      byClass.set(name, (byClass.get(name) ?? 0) + 1);
    }
    const classes = [...byClass.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([name, count]) => `${name} (${count})`)
      .join('; ');
    out.push(`${label.padEnd(48)}  ${String(found.length).padStart(5)}  ${classes}`);
  }
  out.push(
    `${'data intact after the run'.padEnd(48)}  ${report.dataIntactAfterRun ? '  yes' : '   NO'}  (${report.seededRows} seeded rows)`,
    `${'data intact after a restart'.padEnd(48)}  ${report.dataIntactAfterRestart ? '  yes' : '   NO'}  ${report.restartProblems.slice(0, 5).join('; ')}`,
  );
  return out;
}

/** Up to `examples × 4` findings of each kind, one per class and operation, each with the case to replay. */
function exampleLines(report: FuzzReport, examples: number): string[] {
  const out = ['', `Examples (replay one with --case N and the same --seed and --requests):`];
  for (const kind of Object.keys(FINDING_KINDS) as FindingKind[]) {
    const seen = new Set<string>();
    for (const f of report.findings.filter((x) => x.kind === kind)) {
      const key = `${f.cls}|${f.operation}`;
      if (seen.has(key) || seen.size >= examples * 4) {
        continue;
      }
      seen.add(key);
      out.push(
        `  [${kind}] ${f.n === undefined ? '' : `case ${f.n} `}${f.group ? `${f.group}: ${f.cls} ` : ''}${f.operation ? `on ${f.operation}` : ''}: ${f.detail}`,
      );
    }
  }
  return out;
}

/** Every class run, by group, with its cases, operations and findings. */
function classLines(report: FuzzReport): string[] {
  const out = ['', 'Classes (cases, operations, findings):'];
  let group = '';
  for (const c of report.classes) {
    if (c.group !== group) {
      group = c.group;
      out.push(`  ${group}`);
    }
    out.push(
      `    ${c.name}: ${c.cases} cases, ${c.operations} operations${c.findings > 0 ? `, ${c.findings} findings` : ''}`,
    );
  }
  return out;
}

/** The report as text: figures, findings per kind with their classes, and the classes run. */
export function formatReport(report: FuzzReport, options: { examples?: number; classes?: boolean } = {}): string {
  const examples = options.examples ?? 3;
  const out = [...figureLines(report), '', ...findingTable(report)];
  if (report.stoppedEarly) {
    out.push('', 'Stopped early: the time limit ran out before every request was sent.');
  }
  if (report.findings.length > 0 && examples > 0) {
    out.push(...exampleLines(report, examples));
  }
  const undeclared = Object.entries(report.undeclared);
  if (undeclared.length > 0) {
    out.push(
      '',
      `Answers with a status the operation does not declare (information): ${undeclared.map(([k, n]) => `${k} ×${n}`).join(', ')}`,
    );
  }
  if (options.classes) {
    out.push(...classLines(report));
  }
  if (report.classesNotApplicable.length > 0) {
    out.push('', `Classes no operation of the spec offers a target for: ${report.classesNotApplicable.join('; ')}`);
  }
  out.push('', passed(report) ? 'PASS' : 'FAIL');
  return out.join('\n');
}
