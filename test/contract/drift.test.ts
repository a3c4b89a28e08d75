// The contract run must catch every drift of test/contract/helpers/drifts.ts by itself: each drift gets its own run,
// pointed by URL at a hop in front of the reference server (the --target mechanism), with the drifted spec
// when the spec is what changed. Runs stop at their first failure (--fail-fast) and three run side by side,
// so the file stays within a couple of minutes on two shared cores. A control run through the same kind of
// hop, with nothing drifted, must pass: the failures are the drifts', not the hop's. Every run has its own
// organization on the reference server.
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContractReport } from '../../src/contract/report.ts';
import { runContract } from '../../src/contract/run.ts';
import { DEFAULT_FAILED_AUTH_WINDOW } from '../../src/rate-limit/plans.ts';
import { type ServerHandle, startServer } from '../../src/server/index.ts';
import { parseSecretScanningKeys } from '../../src/webhooks/secret-scanning.ts';
import { startDriftHop } from './helpers/drift-proxy.ts';
import { DRIFTS as ALL_DRIFTS, type Drift } from './helpers/drifts.ts';

const root = resolve(import.meta.dirname, '../..');
// DRIFT_ONLY=name,name runs only those drifts (and the control): for working on one drift, never in CI.
const only = process.env.DRIFT_ONLY?.split(',').filter(Boolean);
const DRIFTS = only ? ALL_DRIFTS.filter((drift) => only.includes(drift.name)) : ALL_DRIFTS;
const CONCURRENCY = 3;
// GitHub's side of a secret-scanning key pair; the server knows its public half under one identifier per run, so the
// runs side by side never share a scanner's window (each spends its own for the 429).
const scanner = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const scannerKeyId = (index: number) => `drift-run-${index}`;
const workDir = mkdtempSync(join(tmpdir(), 'mailroom-drift-test-'));

interface Outcome {
  report?: ContractReport;
  error?: string;
  seconds: number;
}

let upstream: ServerHandle;
const outcomes = new Map<string, Outcome>();

/** One contract run through its own hop (its own client address) with its own key. */
async function runOne(drift: Drift | undefined, index: number): Promise<Outcome> {
  const name = drift?.name ?? 'control';
  const started = Date.now();
  // Its own organization (the first key of it, as `mailroom keys create --org` would make), so no run sees
  // another's keys or contacts.
  const key = (
    await upstream.createApiKey({ name: `Drift ${name}`, organization: `drift-${name}`, plan: 'enterprise' })
  ).plaintext;
  const hop = await startDriftHop(upstream.url, {
    drift: drift?.kind === 'server' ? drift.apply : undefined,
    forwardedFor: `203.0.113.${index + 1}`,
  });
  let spec: string | undefined;
  if (drift?.kind === 'spec') {
    const doc = JSON.parse(readFileSync(join(root, 'generated', 'openapi.json'), 'utf8'));
    drift.apply(doc);
    spec = join(workDir, `${name}.json`);
    writeFileSync(spec, JSON.stringify(doc));
  }
  const runDir = join(workDir, name);
  mkdirSync(runDir);
  try {
    // The control runs as CI would (everything side by side); each drift stops at its first failure.
    const report = await runContract({
      target: hop.url,
      apiKey: key,
      spec,
      failFast: Boolean(drift),
      workDir: runDir,
      secretScanning: {
        keyIdentifier: scannerKeyId(index),
        privateKey: scanner.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      },
    });
    return { report, seconds: (Date.now() - started) / 1000 };
  } catch (error) {
    return { error: error instanceof Error ? error.stack : String(error), seconds: (Date.now() - started) / 1000 };
  } finally {
    await hop.close();
  }
}

/** Check classes with at least one failure. */
const failingChecks = (report: ContractReport | undefined) =>
  (report?.checks ?? []).filter((check) => check.failures > 0).map((check) => check.check);

function firstFailure(report: ContractReport | undefined): string {
  const failed = report?.cases.find((c) => c.outcome === 'failed');
  return failed ? `${failed.suite}: ${failed.name}: ${failed.messages[0] ?? ''}` : '(nothing failed)';
}

beforeAll(async () => {
  // It trusts the hops' X-Forwarded-For: each run has its own client address.
  // Each run has its own client address (the hop's X-Forwarded-For); the address window has room for one run's
  // sign-ups and log-ins, so a run catches its drift without first waiting a minute for that window.
  upstream = await startServer({
    port: 0,
    logLevel: 'error',
    trustProxy: true,
    accountWindows: {
      address: { name: 'address', limit: 100, windowSeconds: 60 },
      // Room for the user-token requests (the /organizations twins' Dredd cases use one owner's token).
      user: { name: 'user', limit: 1000, windowSeconds: 60 },
    },
    // And room for its failed authentications (the run's 401 cases), so no run waits a minute for that window.
    failedAuth: { ...DEFAULT_FAILED_AUTH_WINDOW, limit: 1000 },
    // The runs' webhook endpoints point at their receivers on 127.0.0.1.
    webhooks: {
      allowPrivate: true,
      // Keys scanned for expiry every second: a run's api_key.expiring comes at once.
      expiryScanMs: 1000,
      secretScanningKeys: parseSecretScanningKeys(
        JSON.stringify(
          Array.from({ length: DRIFTS.length + 1 }, (_, index) => ({
            key_identifier: scannerKeyId(index),
            key: scanner.publicKey.export({ type: 'spki', format: 'pem' }),
          })),
        ),
      ),
    },
  });
  const queue: Array<[Drift | undefined, number]> = [
    [undefined, 0],
    ...DRIFTS.map((d, i): [Drift, number] => [d, i + 1]),
  ];
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const [drift, index] = next;
        outcomes.set(drift?.name ?? 'control', await runOne(drift, index));
      }
    }),
  );
  // What caught each drift, for the record (and the lead's note).
  const lines = ['| drift | kind | caught by (check classes) | first failure | s |', '|---|---|---|---|---:|'];
  for (const drift of DRIFTS) {
    const outcome = outcomes.get(drift.name);
    const first = firstFailure(outcome?.report).replace(/\|/g, '\\|').slice(0, 160);
    lines.push(
      `| ${drift.name} | ${drift.kind} | ${failingChecks(outcome?.report).join(', ')} | ${first} | ${outcome?.seconds.toFixed(1)} |`,
    );
  }
  mkdirSync(join(root, 'test-output', 'contract'), { recursive: true });
  writeFileSync(join(root, 'test-output', 'contract', 'drifts.md'), `${lines.join('\n')}\n`);
}, 900_000);

afterAll(async () => {
  await upstream?.close();
  rmSync(workDir, { recursive: true, force: true });
});

describe('drift test: the contract run alone catches each drift', () => {
  it('has at least 20 kinds of drift, in both directions', () => {
    expect(DRIFTS.length).toBeGreaterThanOrEqual(20);
    expect(DRIFTS.filter((d) => d.kind === 'server').length).toBeGreaterThanOrEqual(10);
    expect(DRIFTS.filter((d) => d.kind === 'spec').length).toBeGreaterThanOrEqual(10);
  });

  it('passes through a hop with nothing drifted (the control)', () => {
    const control = outcomes.get('control');
    expect(control?.error).toBeUndefined();
    expect(control?.report?.ok, firstFailure(control?.report)).toBe(true);
    expect(control?.report?.counts.failed).toBe(0);
  });

  it.each(DRIFTS.map((d) => [d.name, d] as const))('fails on drift %s', (_name, drift) => {
    const outcome = outcomes.get(drift.name);
    expect(outcome?.error).toBeUndefined();
    const report = outcome?.report;
    expect(report?.ok, `${drift.description}: the run passed`).toBe(false);
    expect(report?.problems, 'the run itself broke instead of catching the drift').toEqual([]);
    const caught = failingChecks(report);
    expect(
      caught.some((check) => drift.caughtBy.includes(check)),
      `${drift.description}: expected one of ${drift.caughtBy.join(', ')}, got ${caught.join(', ')}; ${firstFailure(report)}`,
    ).toBe(true);
  });
});
