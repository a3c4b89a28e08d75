import { rm } from 'node:fs/promises';
import { expect, test } from 'vitest';
import { freshDataDir } from '../helpers/data-dir.ts';
import type { Finding, FindingKind } from './engine/checks.ts';
import { allClasses } from './engine/classes.ts';
import { formatReport } from './engine/report.ts';
import { DEFAULT_FUZZ_OPTIONS, runFuzz } from './engine/run.ts';
import { loadFuzzSpec } from './engine/spec.ts';

// The seeded ~1,000-request run of `npm run fuzz` (the full run is 10,000): a real server process, every class of
// input at least once, every operation, stored rows checked after the run and after a restart.
//
// Findings left open for another piece of work are listed here, each class with the kinds of finding it may show
// until then; anything else fails the test. None is open: the request-pipeline defects of issue 12 (1, 4, 5, 7) are
// fixed, and `npm run fuzz` reports them no more. Add a line only with the issue that will close it.

const OPEN: Record<string, { defect: string; kinds: FindingKind[] }> = {};

const key = (f: Pick<Finding, 'group' | 'cls'>) => `${f.group}: ${f.cls}`;

test('every open finding names a class of the tables', () => {
  const spec = loadFuzzSpec();
  const names = new Set(allClasses(spec).map((cls) => `${cls.group}: ${cls.name}`));
  expect(Object.keys(OPEN).filter((name) => !names.has(name))).toEqual([]);
});

test('1,000 seeded hostile requests over every operation: no finding outside the open defects, data intact', async () => {
  const dataDir = await freshDataDir();
  try {
    const report = await runFuzz({ ...DEFAULT_FUZZ_OPTIONS, seed: 1, requests: 1000, dataDir });
    const text = formatReport(report);
    const spec = loadFuzzSpec();

    expect(report.requestsSent, text).toBe(1000);
    expect(report.stoppedEarly, text).toBe(false);
    expect(report.operations, text).toBe(spec.operations.length);
    const applicable = allClasses(spec).filter((cls) => spec.operations.some((op) => cls.applies(op, spec)));
    expect(report.classes.length, text).toBe(applicable.length);

    const unexpected = report.findings.filter((f) => !(f.cls && OPEN[key(f)]?.kinds.includes(f.kind)));
    expect(
      unexpected.map(
        (f) => `${f.kind} ${f.n === undefined ? '' : `case ${f.n} `}${key(f)} ${f.operation ?? ''}: ${f.detail}`,
      ),
      text,
    ).toEqual([]);
    expect(report.crashed, text).toBe(false);
    expect(report.dataIntactAfterRestart, text).toBe(true);
    expect(report.rssBeforeBytes, text).toBeGreaterThan(0);
    expect(report.rssAfterBytes, text).toBeGreaterThan(0);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}, 600_000);
