// The contract run as a product: `npm run test:contract` (the run pointed at an in-process reference
// server) must pass, writing the JUnit report CI renders; and `mailroom contract --target URL --api-key KEY`
// must pass against a separately started `mailroom serve`, reached only by its URL and its first key.
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ContractReport } from '../../src/contract/report.ts';
import { ROOMY_FREE_PLAN, startServeProcess } from './helpers/serve.ts';

const root = resolve(import.meta.dirname, '../..');
const outDir = join(root, 'test-output', 'contract');
// A run takes 20–90 s alone; two side by side on two cores shared with other suites have taken 230 s.
const RUN_TIMEOUT_MS = 360_000;
mkdirSync(outDir, { recursive: true });

const children = new Set<ChildProcess>();
afterAll(() => {
  for (const child of children) {
    child.kill('SIGKILL');
  }
});

/** Runs a node script with `args`; resolves with its exit code and output. */
function runNode(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, args, {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: RUN_TIMEOUT_MS,
      killSignal: 'SIGTERM',
    });
    children.add(child);
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    child.on('error', fail);
    child.on('close', (code) => {
      children.delete(child);
      done({ code, output });
    });
  });
}

const readReport = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as ContractReport;

/** Every documented (operation, status) pair of the bundled spec: one Dredd transaction each. */
function documentedPairs(): number {
  const spec = JSON.parse(readFileSync(join(root, 'generated', 'openapi.json'), 'utf8'));
  let pairs = 0;
  for (const item of Object.values<Record<string, { responses?: object }>>(spec.paths)) {
    for (const operation of Object.values(item)) {
      pairs += Object.keys(operation?.responses ?? {}).length;
    }
  }
  return pairs;
}

/** Every Dredd transaction of the operations marked `x-sandbox-only: true` (they exist only on a sandbox). */
function sandboxOnlyPairs(): string[] {
  const spec = JSON.parse(readFileSync(join(root, 'generated', 'openapi.json'), 'utf8'));
  const names: string[] = [];
  for (const [path, item] of Object.entries<Record<string, { summary: string; responses?: object }>>(spec.paths)) {
    for (const operation of Object.values(item)) {
      if ((operation as { 'x-sandbox-only'?: boolean })?.['x-sandbox-only'] === true) {
        for (const status of Object.keys(operation.responses ?? {})) {
          names.push(`dredd: ${path} > ${operation.summary} > ${status} > application/json`);
        }
      }
    }
  }
  return names.sort();
}

/**
 * The scenario steps a plain server can't be made to produce in a contract run, each for its reason
 * (src/contract/scenario.ts forces them with `Prefer: code=…, example=…` on a target that honours it).
 * Everything else documented (KEY_LIMIT_REACHED, KEY_ALREADY_ROTATED, IDEMPOTENCY_KEY_REUSED, LAST_OWNER, the
 * 429s of spent user and address windows, 431, …) the run arranges for real through the public API.
 */
const SCENARIO_ONLY_STEPS = [
  // A key only expires with time.
  'scenario: 401 an expired key',
  // A user token only expires with time (30 days).
  'scenario: 401 an expired user token',
  // Rotating needs a key that has expired: time again.
  'scenario: 409 KEY_EXPIRED rotating an expired key',
  // A retry must land while the first request with its Idempotency-Key is still running, which a create of a few
  // milliseconds never allows reliably.
  'scenario: 409 IDEMPOTENCY_KEY_IN_USE retrying while the first request runs',
  // Creating an organization has no other 409 than IDEMPOTENCY_KEY_IN_USE, so its Dredd pair is scenario-only for
  // the same reason (src/contract/dredd-hooks/arrange-state.cjs SCENARIO_ONLY_PAIRS).
  'dredd: /organizations > Create an organization > 409 > application/json',
  // Registering a webhook endpoint likewise: its only 409 is IDEMPOTENCY_KEY_IN_USE.
  'dredd: /v1/webhook-endpoints > Create a webhook endpoint > 409 > application/json',
  "dredd: /organizations/{organizationId}/webhook-endpoints > Create an organization's webhook endpoint > 409 > application/json",
];

/**
 * What only a cooperative server can produce, so a plain server's run lists it as "needs scenarios": every
 * documented 500 and 503 but a sandbox-only operation's, which is skipped (Dredd forces them with `Prefer: code=…` on
 * a target that honours it) and the
 * scenario-only steps above.
 */
function expectedNeedsScenarios(): string[] {
  const spec = JSON.parse(readFileSync(join(root, 'generated', 'openapi.json'), 'utf8'));
  const names: string[] = [];
  for (const [path, item] of Object.entries<Record<string, { summary: string; responses: object }>>(spec.paths)) {
    for (const operation of Object.values(item)) {
      for (const status of ['500', '503']) {
        if (!operation?.responses || (operation as { 'x-sandbox-only'?: boolean })['x-sandbox-only'] === true) {
          continue; // path-level parameters, not an operation; or an operation only a sandbox has (skipped)
        }
        if (status in operation.responses) {
          names.push(`dredd: ${path} > ${operation.summary} > ${status} > application/json`);
        }
      }
    }
  }
  return [...names, ...SCENARIO_ONLY_STEPS].sort();
}

describe('contract run (mailroom contract)', () => {
  // The two full runs go side by side: each is mostly child processes, so they share the two cores.
  it.concurrent(
    'passes against the in-process sandbox with scenarios, every documented response included, and writes JUnit and JSON',
    async () => {
      const junit = join(outDir, 'junit.xml');
      const json = join(outDir, 'in-process.json');
      rmSync(junit, { force: true });
      const { code, output } = await runNode(['scripts/contract.mjs', '--junit', junit, '--json', json]);
      expect(code, output).toBe(0);
      const report = readReport(json);
      expect(report.ok, output).toBe(true);
      expect(report.counts.failed, output).toBe(0);
      expect(report.counts['not-run'], output).toBe(0);
      expect(report.problems, output).toEqual([]);
      // The sandbox honours scenarios: every documented (operation, status) pair passed, 500s and 503s included.
      expect(report.scenarios.honoured, output).toBe(true);
      expect(report.counts['needs-scenarios'], output).toBe(0);
      expect(report.suites.dredd.passed, output).toBe(documentedPairs());
      // The strict copy closed the response objects and pinned every error response to its codes.
      expect(report.strictness.closedObjects, output).toBeGreaterThan(20);
      expect(report.strictness.pinnedErrorResponses, output).toBeGreaterThan(100);
      expect(report.counts.responses, output).toBeGreaterThan(200);

      const xml = readFileSync(junit, 'utf8');
      const testcases = xml.match(/<testcase /g)?.length ?? 0;
      expect(testcases, xml.slice(0, 500)).toBe(report.counts.cases + report.checks.length);
      expect(xml).not.toMatch(/<failure/);
      // Skipped only: what no server can be made to produce (a current password shorter than any password may be).
      const skipped = report.cases.filter((c) => c.outcome === 'skipped');
      for (const c of skipped) {
        expect(`${c.suite}: ${c.name}: ${c.messages.join(' ')}`).toMatch(/^edge-values: .*can't be arranged/);
      }
      expect(xml.match(/<skipped\/>/g)?.length ?? 0, xml.slice(0, 500)).toBe(skipped.length);
    },
    RUN_TIMEOUT_MS + 10_000,
  );

  it.concurrent(
    'passes against a separately started mailroom serve, by URL, with the key from its banner',
    async () => {
      // The banner's key is on the free plan: the deployment gives it room for the run (about 1,000 requests), and this
      // one client address room for the run's sign-ups, log-ins and failed authentications, so the run never waits.
      // Its webhook endpoints point at the run's receiver on 127.0.0.1 (--allow-private-webhooks), and it knows the
      // public half of a secret-scanning key pair made here, whose private half the run signs reports with. It takes the
      // client address from X-Forwarded-For (--trust-proxy), so the run's sign-in spray comes from several addresses,
      // and scans keys for expiry every second, so the run's api_key.expiring comes at once.
      const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const keyIdentifier = 'contract-test-secret-scanning-key';
      const privateKeyFile = join(outDir, 'secret-scanning-key.pem');
      writeFileSync(privateKeyFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      const serve = await startServeProcess(
        [
          '--signup-login-limit',
          '100',
          '--user-limit',
          '1000',
          '--failed-auth-limit',
          '1000',
          '--allow-private-webhooks',
          '--trust-proxy',
          '--expiry-scan-seconds',
          '1',
        ],
        {
          MAILROOM_PLANS: ROOMY_FREE_PLAN,
          MAILROOM_SECRET_SCANNING_PUBLIC_KEYS: JSON.stringify([
            { key_identifier: keyIdentifier, key: pair.publicKey.export({ type: 'spki', format: 'pem' }) },
          ]),
        },
      );
      try {
        const json = join(outDir, 'serve-by-url.json');
        const { code, output } = await runNode(
          [
            'bin/mailroom.js',
            'contract',
            '--target',
            serve.url,
            '--json',
            json,
            '--secret-scanning-key',
            privateKeyFile,
            '--secret-scanning-key-id',
            keyIdentifier,
          ],
          { MAILROOM_API_KEY: serve.key },
        );
        expect(code, output).toBe(0);
        const report = readReport(json);
        expect(report.ok, output).toBe(true);
        expect(report.target).toBe(serve.url);
        expect(report.counts.failed, output).toBe(0);
        // A plain server (no --scenarios): what only a cooperative server produces is listed, never passed.
        expect(report.scenarios.honoured, output).toBe(false);
        const needs = report.cases
          .filter((c) => c.outcome === 'needs-scenarios')
          .map((c) => `${c.suite}: ${c.name}`)
          .sort();
        expect(needs, output).toEqual(expectedNeedsScenarios());
        // Not a sandbox (no --sandbox): its x-sandbox-only operations are never sent, and say why.
        const skipped = report.cases.filter((c) => c.outcome === 'skipped' && c.suite === 'dredd');
        expect(skipped.map((c) => `${c.suite}: ${c.name}`).sort(), output).toEqual(sandboxOnlyPairs());
        expect(sandboxOnlyPairs().length).toBeGreaterThan(0);
        for (const c of skipped) {
          expect(c.messages.join(' '), output).toMatch(/x-sandbox-only/);
        }
        expect(
          report.suites.dredd.passed + report.suites.dredd['needs-scenarios'] + report.suites.dredd.skipped,
          output,
        ).toBe(documentedPairs());
      } finally {
        await serve.stop();
      }
    },
    RUN_TIMEOUT_MS + 90_000,
  );

  it('refuses a target that is not an http(s) URL, with one line', async () => {
    const { code, output } = await runNode(['bin/mailroom.js', 'contract', '--target', 'ftp://example.com'], {
      MAILROOM_API_KEY: 'mr_x',
    });
    expect(code).toBe(1);
    expect(output).toMatch(/--target.*must be an http\(s\) URL/);
  });
});
