import { rm } from 'node:fs/promises';
import { expect, test } from 'vitest';
import type { Finding, FindingKind } from '../../scripts/fuzz/checks.ts';
import { allClasses } from '../../scripts/fuzz/classes.ts';
import { formatReport } from '../../scripts/fuzz/report.ts';
import { DEFAULT_FUZZ_OPTIONS, runFuzz } from '../../scripts/fuzz/run.ts';
import { loadFuzzSpec } from '../../scripts/fuzz/spec.ts';
import { freshDataDir } from '../server/support.ts';

// The seeded ~1,000-request run of `npm run fuzz` (the full run is 10,000): a real server process, every class of
// input at least once, every operation, stored rows checked after the run and after a restart.
//
// Findings the request-pipeline rework of issue 12 is fixing (defects 1, 4, 5, 7; not this suite's to fix) are
// listed here, each class with the kinds of finding it may show until then. Anything else fails the test. When a
// defect is fixed, delete its lines: `npm run fuzz` must then report them no more.

const OPEN: Record<string, { defect: string; kinds: FindingKind[] }> = {
  // Defect 1: a request whose framing fails reaches its handler (DELETE deletes, then the edge answers 400), or is
  // answered 2xx by a handler that did not wait for the body.
  'framing: Transfer-Encoding: xchunked': {
    defect: '1',
    kinds: ['refused-yet-executed', 'logged-error', 'server-error'],
  },
  'framing: Transfer-Encoding: identity': {
    defect: '1',
    kinds: ['refused-yet-executed', 'logged-error', 'server-error'],
  },
  'framing: a chunk size that is not hex': { defect: '1', kinds: ['refused-yet-executed'] },
  'framing: a chunk size that is not hex, without Content-Type': {
    defect: '1',
    kinds: ['refused-yet-executed', 'logged-error'],
  },
  'framing: a chunk size that overflows': { defect: '1', kinds: ['refused-yet-executed'] },
  'framing: chunk extensions over 16 KiB': { defect: '1', kinds: ['refused-yet-executed'] },
  'framing: chunk data longer than its size': { defect: '1', kinds: ['accepted-invalid', 'refused-yet-executed'] },
  'slow: a body shorter than its Content-Length': { defect: '1', kinds: ['accepted-invalid'] },
  'slow: a chunked body that never ends': { defect: '1', kinds: ['accepted-invalid'] },
  // Defect 1, last sentence: PATCH /v1/contacts/{id} reaches the handler with no body and throws a TypeError.
  'encoding: an empty body': { defect: '1', kinds: ['server-error', 'logged-error'] },
  // Defect 4: lenient numbers.
  'schema: query.limit: a lenient integer (0x10, 1e1, 010, …)': { defect: '4', kinds: ['accepted-invalid'] },
  // Defect 5: HEAD answers 405.
  'method: HEAD on a GET route': { defect: '5', kinds: ['unexpected-status'] },
  // Defect 7: invalid text stored as U+FFFD.
  'encoding: invalid UTF-8 inside a string': { defect: '7', kinds: ['accepted-invalid'] },
  'encoding: a lone surrogate escape': { defect: '7', kinds: ['accepted-invalid'] },
  'encoding: an overlong UTF-8 sequence': { defect: '7', kinds: ['accepted-invalid'] },
};

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
