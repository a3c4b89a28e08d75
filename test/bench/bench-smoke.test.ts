// Keeps `npm run bench` from rotting: one --quick run (tiny durations) must start every server,
// measure every scenario and write a complete JSON report. Deliberately no timing or threshold
// assertions: the numbers of a --quick run on a busy test machine mean nothing.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

interface ScenarioResult {
  label: string;
  server: string;
  expectedStatus: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  rssKiB: number | null;
  rounds: { rps: number; requests: number; unexpected: number; errors: number }[];
}

interface BenchReport {
  meta: { rounds: number; quick: boolean; pinned: boolean };
  results: Record<string, ScenarioResult>;
  ratios: Record<string, number | null>;
  pairedRatios: Record<string, number | null>;
  targets: { name: string; value: number | null; target: string; met: boolean }[];
  memory: {
    requests: number;
    rssBeforeKiB: number | null;
    rssAfterKiB: number | null;
    rssGrowthPct: number | null;
    heapUsedBeforeBytes: number | null;
    heapUsedAfterBytes: number | null;
  };
  problems: string[];
  table: string;
}

const SCENARIOS = [
  'server-get',
  'server-get-no-request-log',
  'express-get',
  'prism-get',
  'raw-get',
  'server-post',
  'server-rejected',
  'server-get-contact',
  'server-get-info-log',
] as const;
const RATIOS = [
  'requestLogOnVsOff',
  'requestLogCpuOnVsOff',
  'throughputVsExpress',
  'infoVsExpress',
  'p99VsExpress',
  'throughputVsPrism',
  'throughputVsRaw',
] as const;
const TARGETS = [
  'requestLogOnVsOff',
  'throughputVsExpress',
  'infoVsExpress',
  'p99VsExpress',
  'throughputVsPrism',
  'rssGrowthPct',
] as const;
// RSS comes from /proc/<pid>/status.
const hasProc = process.platform === 'linux';

function runBench(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, [join(root, 'scripts', 'bench.mjs'), ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => done({ code, output }));
  });
}

describe('npm run bench --quick', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailroom-bench-smoke-'));
  const jsonPath = join(dir, 'bench.json');
  let report: BenchReport;

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs every scenario and writes the JSON report', { timeout: 420_000 }, async () => {
    // This Node only (--no-lts): the LTS rows run the same script on another binary, installed as test:lts installs
    // it; they doubled this file's time in CI.
    const { code, output } = await runBench(['--quick', '--no-lts', '--json', jsonPath]);
    expect(code, output).toBe(0);
    report = JSON.parse(readFileSync(jsonPath, 'utf8')) as BenchReport;
    expect(report.meta.quick).toBe(true);
    expect(report.meta.rounds).toBeGreaterThanOrEqual(3);
    expect(output).toContain('| scenario');
    expect(report.table).toContain('reference server, GET /v1/api-keys/validate');
  });

  it.each(SCENARIOS)('has positive numbers for %s', (id) => {
    const row = report.results[id];
    expect(row, `no result for ${id}`).toBeDefined();
    if (!row) {
      return;
    }
    expect(row.rps).toBeGreaterThan(0);
    expect(row.p50Ms).toBeGreaterThan(0);
    expect(row.p99Ms).toBeGreaterThan(0);
    expect(row.p99Ms).toBeGreaterThanOrEqual(row.p50Ms);
    expect(row.rounds.length).toBe(report.meta.rounds);
    for (const r of row.rounds) {
      expect(r.requests).toBeGreaterThan(0);
    }
    if (hasProc) {
      expect(row.rssKiB).toBeGreaterThan(0);
    }
  });

  it('has the ratio fields and the targets', () => {
    for (const name of RATIOS) {
      expect(report.ratios[name], name).toBeGreaterThan(0);
    }
    for (const name of ['throughputVsExpress', 'infoVsExpress', 'p99VsExpress', 'throughputVsPrism']) {
      expect(report.pairedRatios[name], `paired ${name}`).toBeGreaterThan(0);
    }
    expect(report.targets.map((t) => t.name)).toEqual([...TARGETS]);
    for (const target of report.targets) {
      expect(typeof target.met).toBe('boolean');
      expect(target.target).toMatch(/^[<>]=? \d/);
    }
  });

  it('has the memory phase', () => {
    expect(report.memory.requests).toBeGreaterThan(0);
    expect(report.memory.heapUsedBeforeBytes).toBeGreaterThan(0);
    expect(report.memory.heapUsedAfterBytes).toBeGreaterThan(0);
    if (hasProc) {
      expect(report.memory.rssBeforeKiB).toBeGreaterThan(0);
      expect(report.memory.rssAfterKiB).toBeGreaterThan(0);
      expect(typeof report.memory.rssGrowthPct).toBe('number');
    }
  });
});
