#!/usr/bin/env node
// `npm run test:contract`: checks the reference server against the bundled spec with two independent
// implementations, on a fresh in-memory server started here on a free port:
//   1. Dredd runs every transaction of generated/openapi.yaml — every documented status of every
//      operation, errors included — arranged by test/contract/hooks.cjs. A failed transaction fails
//      the run, and so does a skipped one that EXPLAINED_SKIPS in the hooks file does not explain.
//   2. A scenario of realistic traffic (test/contract/scenarios.ts) goes through `prism proxy` in
//      front of the server, which validates every response; a single violation fails the run.
// A second server, whose rate-limit store (Redis, fail-closed) is unreachable, answers the 503 cases.
// The two phases run side by side, each in its own organizations, so they cannot disturb each other.
// Exit status: 0 when both pass, 1 when anything failed, 2 on a usage error.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs, stripVTControlCharacters } from 'node:util';
import { register } from 'tsx/esm/api';

// The server, the key helpers and the scenario are TypeScript: load the sources through tsx (a dev tool; users run dist/).
register();

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const specYaml = join(root, 'generated', 'openapi.yaml');
const hooksFile = join(root, 'test', 'contract', 'hooks.cjs');
const require = createRequire(import.meta.url);

const usage = `Usage: npm run test:contract -- [--only dredd|prism] [--json FILE] [--verbose] [--keep-logs]
                                             [--interpose MODULE]

Starts the reference server (in memory, on a free port), then runs Dredd over every transaction of
generated/openapi.yaml with the hooks in test/contract/hooks.cjs, and the scenario of
test/contract/scenarios.ts through Prism proxies in errors mode. Exits 0 only when every Dredd
transaction passed or was skipped for a reason listed in the hooks' EXPLAINED_SKIPS, and Prism
reported no violation.

  --only PHASE        run only "dredd" or only "prism"
  --json FILE         also write the summary as JSON to FILE
  --verbose           list every transaction and every scenario request
  --keep-logs         keep Dredd's output, the hooks' journal and Prism's logs even when all passed
  --interpose MODULE  put an HTTP hop between the checks and the server: MODULE (a .ts or .mjs
                      file) exports interpose(upstreamUrl) -> Promise<{ url, close() }>. The drift
                      test uses it to check that a server breaking the contract fails the run.
  -h, --help          show this help`;

function usageError(message) {
  console.error(`contract: ${message} (see npm run test:contract -- --help)`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      only: { type: 'string' },
      json: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      'keep-logs': { type: 'boolean', default: false },
      interpose: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (error) {
  usageError(error instanceof Error ? error.message : String(error));
}
if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (values.only !== undefined && !['dredd', 'prism'].includes(values.only)) {
  usageError(`--only must be "dredd" or "prism", got "${values.only}"`);
}
if (!existsSync(specYaml)) {
  console.error('contract: generated/openapi.yaml is missing: run npm run generate first');
  process.exit(1);
}

const { startServer } = await import('../src/server/index.ts');
const { DEFAULT_FAILED_AUTH_WINDOW, DEFAULT_PLANS } = await import('../src/rate-limit/plans.ts');
const { generateApiKey } = await import('../src/keys/api-key.ts');
const { issueApiKey } = await import('../src/keys/issue.ts');
const { runScenarios } = await import('../test/contract/scenarios.ts');
const { EXPLAINED_SKIPS, explainSkip } = require(hooksFile);

const DAY_MS = 86_400_000;
// Room for the whole run, so only the deliberate cases hit a limit; and a plan that is exhausted
// by its first request and stays so for the rest of the run.
const PLANS = {
  ...DEFAULT_PLANS,
  contract: {
    windows: [
      { name: 'burst', limit: 100_000, windowSeconds: 1 },
      { name: 'minute', limit: 1_000_000, windowSeconds: 60 },
    ],
  },
  tiny: { windows: [{ name: 'hour', limit: 1, windowSeconds: 3600 }] },
};
const FAILED_AUTH = DEFAULT_FAILED_AUTH_WINDOW;

const startedAt = Date.now();
const workDir = mkdtempSync(join(tmpdir(), 'mailroom-contract-'));
const cleanups = [];
const children = new Set();

async function cleanup() {
  for (const child of children) {
    child.kill('SIGTERM');
  }
  for (const fn of cleanups.reverse()) {
    await fn().catch(() => {});
  }
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    console.error(`contract: ${signal}, stopping`);
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}
process.once('exit', () => {
  for (const child of children) {
    child.kill('SIGKILL');
  }
});

// ---------------------------------------------------------------------------------------------
// The server under test.

/** A local TCP port nothing listens on (taken from the OS, then released). */
function closedPort() {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.on('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

const common = {
  port: 0,
  logLevel: 'error',
  plans: PLANS,
  failedAuth: FAILED_AUTH,
  // Each failed-authentication case gets its own client address (X-Forwarded-For), so the per-address
  // limit on failed attempts never trips by accident, and one address can be locked out on purpose.
  trustProxy: true,
};
const [server, downServer] = await Promise.all([
  startServer(common),
  // The 503 cases: a second server whose rate-limit store (Redis) cannot be reached, fail-closed. It
  // refuses every /v1 request with 503 SERVICE_UNAVAILABLE, as the spec documents, with no code changed.
  closedPort().then((port) =>
    startServer({
      ...common,
      rateLimitStore: { kind: 'redis', url: `redis://127.0.0.1:${port}`, outagePolicy: 'fail-closed' },
      // Nothing listens there: don't wait for it to come up.
      rateLimitStoreWaitMs: 0,
    }),
  ),
]);
cleanups.push(
  () => server.close(),
  () => downServer.close(),
);

let target = server.url;
let downTarget = downServer.url;
let interposed = '';
if (values.interpose) {
  const modulePath = resolve(process.cwd(), values.interpose);
  const { interpose } = await import(pathToFileURL(modulePath).href);
  const [hop, downHop] = await Promise.all([interpose(server.url), interpose(downServer.url)]);
  cleanups.push(
    () => hop.close(),
    () => downHop.close(),
  );
  target = hop.url;
  downTarget = downHop.url;
  interposed = ` through ${relative(root, modulePath)} at ${hop.url}`;
}

/** Keys one phase needs that the API cannot make: its own organizations, so the phases never interfere. */
async function keysFor(label) {
  const main = await server.createApiKey({ name: `${label} key`, organization: label, plan: 'contract' });
  const tiny = await server.createApiKey({ name: `${label} tiny`, organization: `${label}-tiny`, plan: 'tiny' });
  const org = await server.store.ensureOrganization(label, 'contract');
  const expired = await issueApiKey(server.store, server.context.serverSecret, {
    organizationId: org.organizationId,
    name: `${label} expired`,
    expiresInDays: 1,
    now: new Date(Date.now() - 2 * DAY_MS),
  });
  const down = await downServer.createApiKey({ name: `${label} key`, organization: label, plan: 'contract' });
  return {
    key: main.plaintext,
    tinyKey: tiny.plaintext,
    expiredKey: expired.plaintext,
    unknownKey: generateApiKey().plaintext,
    downKey: down.plaintext,
  };
}

// ---------------------------------------------------------------------------------------------
// Phase 1: Dredd.

/** Runs a command with its output going straight to `logPath` (a file, not a pipe: Dredd exits before a pipe drains). */
function run(command, args, env, logPath) {
  return new Promise((done) => {
    const log = openSync(logPath, 'w');
    const child = spawn(command, args, { cwd: root, env, stdio: ['ignore', log, log] });
    children.add(child);
    let finished = false;
    const finish = (code, signal) => {
      if (finished) {
        return;
      }
      finished = true;
      children.delete(child);
      closeSync(log);
      done({ code: code ?? 1, signal, output: stripVTControlCharacters(readFileSync(logPath, 'utf8')) });
    };
    child.on('error', () => finish(1, null));
    child.on('close', finish);
  });
}

async function dreddPhase() {
  const keys = await keysFor('dredd');
  const reportPath = join(workDir, 'dredd-journal.json');
  const dreddPkg = require.resolve('dredd/package.json');
  const dreddBin = join(dirname(dreddPkg), require(dreddPkg).bin.dredd);
  const args = [dreddBin, specYaml, target, '--hookfiles', hooksFile, '--language', 'nodejs', '--no-color'];
  const result = await run(
    process.execPath,
    args,
    {
      ...process.env,
      NO_COLOR: '1',
      MAILROOM_CONTRACT_TARGET: target,
      MAILROOM_CONTRACT_SPEC: specYaml,
      MAILROOM_CONTRACT_REPORT: reportPath,
      MAILROOM_CONTRACT_KEY: keys.key,
      MAILROOM_CONTRACT_TINY_KEY: keys.tinyKey,
      MAILROOM_CONTRACT_EXPIRED_KEY: keys.expiredKey,
      MAILROOM_CONTRACT_UNKNOWN_KEY: keys.unknownKey,
      MAILROOM_CONTRACT_DOWN_TARGET: downTarget,
      MAILROOM_CONTRACT_DOWN_KEY: keys.downKey,
    },
    join(workDir, 'dredd.log'),
  );

  const summary = {
    exitCode: result.code,
    total: 0,
    passed: 0,
    failed: 0,
    errors: 0,
    skipped: 0,
    explainedSkips: [],
    unexplainedSkips: [],
    failures: [],
    problems: [],
    transactions: [],
  };
  const line = /complete: (\d+) passing, (\d+) failing, (\d+) errors, (\d+) skipped, (\d+) total/.exec(result.output);
  if (!line) {
    summary.problems.push('Dredd printed no "complete:" summary line (it did not finish)');
  } else {
    [summary.passed, summary.failed, summary.errors, summary.skipped, summary.total] = line.slice(1).map(Number);
  }
  if (result.code !== 0) {
    summary.problems.push(`Dredd exited with ${result.signal ?? result.code}`);
  }

  let journal;
  try {
    journal = JSON.parse(readFileSync(reportPath, 'utf8'));
  } catch {
    summary.problems.push('the hooks wrote no journal: Dredd did not load test/contract/hooks.cjs (see dredd.log)');
    return summary;
  }
  if (journal.setupError) {
    summary.problems.push(`hooks beforeAll failed: ${journal.setupError}`);
  }
  summary.transactions = journal.transactions;
  const byStatus = (status) => journal.transactions.filter((t) => t.status === status);
  const counted = {
    total: journal.transactions.length,
    passed: byStatus('pass').length,
    failed: byStatus('fail').length,
    skipped: byStatus('skip').length,
  };
  for (const [field, value] of Object.entries(counted)) {
    if (line && value !== summary[field]) {
      summary.problems.push(`Dredd counted ${summary[field]} ${field}, the hooks' journal ${value}`);
    }
  }
  for (const t of journal.transactions) {
    if (t.status === 'skip') {
      const reason = explainSkip(t.name);
      if (!reason || t.skipReason !== reason) {
        summary.unexplainedSkips.push(t.name);
      }
    } else if (t.status !== 'pass') {
      summary.failures.push({ name: t.name, request: t.request, arranged: t.arranged, message: t.message });
    }
  }
  for (const entry of EXPLAINED_SKIPS) {
    const names = journal.transactions.filter((t) => t.status === 'skip' && entry.pattern.test(t.name));
    summary.explainedSkips.push({ pattern: String(entry.pattern), reason: entry.reason, count: names.length });
    if (names.length === 0) {
      summary.problems.push(`EXPLAINED_SKIPS entry ${entry.pattern} explains no skipped transaction: remove it`);
    }
  }
  return summary;
}

function dreddOk(d) {
  return d.problems.length === 0 && d.failures.length === 0 && d.unexplainedSkips.length === 0 && d.failed === 0;
}

// ---------------------------------------------------------------------------------------------
// Phase 2: the scenario through Prism proxies.

async function prismPhase() {
  const keys = await keysFor('scenario');
  try {
    const result = await runScenarios({
      upstream: target,
      unavailableUpstream: downTarget,
      keys,
      failedAuthLimit: FAILED_AUTH.limit,
      spec: specYaml,
    });
    for (const [name, log] of Object.entries(result.logs)) {
      writeFileSync(join(workDir, `prism-${name}.log`), log);
    }
    const { logs: _logs, ...rest } = result;
    return { ...rest, problems: [] };
  } catch (error) {
    return {
      requests: 0,
      requestsByProxy: {},
      statuses: {},
      expectedRequestViolations: 0,
      violations: [],
      logViolations: [],
      failures: [],
      steps: [],
      problems: [`the scenario could not run: ${error instanceof Error ? error.message : String(error)}`],
    };
  }
}

function prismOk(p) {
  return (
    p.problems.length === 0 &&
    p.violations.length === 0 &&
    p.logViolations.length === 0 &&
    p.failures.length === 0 &&
    p.requests > 0
  );
}

// ---------------------------------------------------------------------------------------------
// Run, report, exit.

const timed = async (phase) => {
  const t0 = Date.now();
  const result = await phase();
  return { ...result, seconds: Number(((Date.now() - t0) / 1000).toFixed(1)) };
};
const setupSeconds = ((Date.now() - startedAt) / 1000).toFixed(1);
let dredd;
let prism;
try {
  [dredd, prism] = await Promise.all([
    values.only === 'prism' ? undefined : timed(dreddPhase),
    values.only === 'dredd' ? undefined : timed(prismPhase),
  ]);
} finally {
  await cleanup();
}

const ok = (!dredd || dreddOk(dredd)) && (!prism || prismOk(prism));
const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
const out = [];
out.push('', `Contract run against the reference server${interposed}`);

if (dredd) {
  out.push(
    '',
    `Dredd: ${dredd.total} transactions: ${dredd.passed} passed, ${dredd.failed} failed, ${dredd.errors} errors, ` +
      `${dredd.skipped} skipped (${dredd.skipped - dredd.unexplainedSkips.length} explained), ${dredd.seconds} s ` +
      `${dreddOk(dredd) ? 'PASS' : 'FAIL'}`,
  );
  for (const entry of dredd.explainedSkips) {
    out.push(`  skipped ${entry.count} × ${entry.pattern}: ${entry.reason}`);
  }
  for (const name of dredd.unexplainedSkips) {
    out.push(`  UNEXPLAINED SKIP: ${name} (explain it in EXPLAINED_SKIPS of test/contract/hooks.cjs, or run it)`);
  }
  for (const f of dredd.failures) {
    out.push(`  FAILED: ${f.name}`, `    ${f.request} (arranged: ${f.arranged ?? '-'})`);
    for (const messageLine of String(f.message ?? '')
      .trim()
      .split('\n')
      .slice(0, 8)) {
      out.push(`    ${messageLine}`);
    }
  }
  for (const problem of dredd.problems) {
    out.push(`  PROBLEM: ${problem}`);
  }
  if (values.verbose) {
    for (const t of dredd.transactions) {
      out.push(`  ${t.status.padEnd(4)} ${t.name}${t.arranged ? `  [${t.arranged}]` : ''}`);
    }
  }
}

if (prism) {
  const perProxy = Object.entries(prism.requestsByProxy)
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');
  const statuses = Object.entries(prism.statuses)
    .map(([status, n]) => `${status}×${n}`)
    .join(' ');
  out.push(
    '',
    `Prism proxy: ${prism.requests} requests (${perProxy}), ${prism.violations.length} violations ` +
      `(${prism.logViolations.length} in Prism's log), ${prism.failures.length} unexpected statuses, ` +
      `${prism.seconds} s ${prismOk(prism) ? 'PASS' : 'FAIL'}`,
    `  statuses: ${statuses}`,
  );
  if (prism.expectedRequestViolations > 0) {
    out.push(`  (${prism.expectedRequestViolations} request violations expected: requests sent without credentials)`);
  }
  for (const v of prism.violations) {
    out.push(`  VIOLATION [${v.proxy}, ${v.source}] ${v.step}: ${v.detail}`);
  }
  for (const v of prism.logViolations.slice(0, 10)) {
    out.push(`  LOGGED [${v.proxy}] ${v.detail}`);
  }
  if (prism.logViolations.length > 10) {
    out.push(`  … ${prism.logViolations.length - 10} more lines in the Prism logs`);
  }
  for (const f of prism.failures) {
    out.push(`  UNEXPECTED: ${f}`);
  }
  for (const problem of prism.problems) {
    out.push(`  PROBLEM: ${problem}`);
  }
  if (values.verbose) {
    for (const step of prism.steps) {
      out.push(`  ${String(step.status).padEnd(4)} ${step.proxy.padEnd(7)} ${step.request}  [${step.step}]`);
    }
  }
}

out.push('', `Contract ${ok ? 'PASSED' : 'FAILED'} in ${seconds} s (servers up in ${setupSeconds} s)`);
if (ok && !values['keep-logs']) {
  rmSync(workDir, { recursive: true, force: true });
} else {
  out.push(`Logs (Dredd output, hooks journal, Prism output): ${workDir}`);
}
console.log(out.join('\n'));

if (values.json) {
  const summary = {
    ok,
    seconds: Number(seconds),
    interposed: values.interpose ?? null,
    dredd: dredd ? { ...dredd, ok: dreddOk(dredd) } : null,
    prism: prism ? { ...prism, ok: prismOk(prism) } : null,
  };
  writeFileSync(resolve(process.cwd(), values.json), `${JSON.stringify(summary, null, 2)}\n`);
}
process.exit(ok ? 0 : 1);
