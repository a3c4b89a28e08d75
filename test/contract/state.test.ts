// The contract run's state model, on its own: the state phase (create, read back, update, delete, rotate each
// resource the spec declares) against the in-process reference server through the observer, with the passive model
// watching every exchange. Straight to the server nothing may fail, and every check class must have judged
// something; through a hop that drifts one of the state drifts of drifts.ts, the run must fail on that drift's class.
// The sign-in spray (state/spray.ts) likewise: it passes on a server trusting X-Forwarded-For, is skipped with the
// reason on one that doesn't, and fails owner-sign-in through a hop that locks the owner out.
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaseBook } from '../../src/contract/cases.ts';
import { RunClient } from '../../src/contract/client.ts';
import { startObserver } from '../../src/contract/observer.ts';
import { buildReport, type ContractReport, junitXml, type ReportInput } from '../../src/contract/report.ts';
import { BUNDLED_SPEC, type Json, listOperations, readSpec } from '../../src/contract/spec.ts';
import {
  readStateRules,
  runSignInSpray,
  runStateFlows,
  STATE_CHECKS,
  StateModel,
  type StateRules,
  type StateTally,
} from '../../src/contract/state/index.ts';
import { PASSWORD, signUp } from '../server/helpers/accounts.ts';
import { startTestServer, type TestServer } from '../server/helpers/server.ts';
import { type ResponseDrift, startDriftHop } from './helpers/drift-proxy.ts';
import { ownerLockedOut, STATE_DRIFTS } from './helpers/drifts.ts';

const root = resolve(import.meta.dirname, '../..');
let server: TestServer;
let doc: Json;
let rules: StateRules;
let memberEmail: string;

beforeAll(async () => {
  server = await startTestServer();
  doc = await readSpec(BUNDLED_SPEC);
  rules = readStateRules(doc);
  memberEmail = (await signUp(server, { tag: 'state-member' })).user.email;
});

afterAll(async () => {
  await server?.close();
});

interface Outcome {
  report: ContractReport;
  tally: StateTally;
}

/** One state phase through the observer (and through a drifting hop, if given), reported as a contract run is. */
/** The report of one phase run on its own (no Dredd, no strict spec, no probe). */
function phaseReport(
  runId: string,
  target: string,
  book: { results: ReportInput['cases'] },
  observer: { exchanges: ReportInput['exchanges'] },
  client: { attribution: ReportInput['attribution'] },
  seconds: number,
): ContractReport {
  return buildReport({
    runId,
    target,
    spec: BUNDLED_SPEC,
    strictness: { closedObjects: 0, utcTimestamps: 0, pinnedErrorResponses: 0, errorStatuses: {} },
    probe: { honoured: false, detail: 'not probed' },
    failFast: false,
    requireScenarios: false,
    cases: book.results,
    exchanges: observer.exchanges,
    attribution: client.attribution,
    problems: [],
    seconds,
    phases: {},
    workDir: '',
  });
}

async function statePhase(drift?: ResponseDrift): Promise<Outcome> {
  const hop = drift ? await startDriftHop(server.url, { drift, forwardedFor: '203.0.113.9' }) : undefined;
  const model = new StateModel(rules);
  const observer = await startObserver({
    target: hop?.url ?? server.url,
    requestIdRule: {},
    operations: listOperations(doc),
    watcher: model.watcher,
  });
  const runId = randomUUID().slice(0, 6);
  const client = new RunClient(observer.url, runId);
  const book = new CaseBook(client);
  const started = Date.now();
  try {
    const apiKey = (await server.newKey({ name: 'state admin' })).plaintext;
    // The owner signs up through the observer, so the model knows its token as a secret.
    const token = await book.run('setup', 'sign up the owner', async (ctx) => {
      const sent = await ctx.send({
        method: 'POST',
        path: '/auth/signup',
        body: { email: `state-owner-${runId}@example.com`, password: PASSWORD },
        expect: 201,
      });
      return sent.json.data.token as string;
    });
    await runStateFlows({ book, rules, apiKey, userToken: token, bodies: { members: { email: memberEmail } }, runId });
  } finally {
    await observer.close();
    await hop?.close();
  }
  const report = phaseReport(runId, server.url, book, observer, client, (Date.now() - started) / 1000);
  return { report, tally: { ...model.tally } };
}

const failing = (report: ContractReport) => report.checks.filter((c) => c.failures > 0).map((c) => c.check);
const failures = (report: ContractReport) =>
  report.cases
    .filter((c) => c.outcome === 'failed')
    .flatMap((c) => c.messages.map((m) => `${c.name}: ${m}`))
    .join('\n');

describe('the spec declares the state rules', () => {
  it('reads each resource, its operations, what rotate inherits and the answers carrying secrets', () => {
    const byName = Object.fromEntries(rules.resources.map((r) => [r.name, r]));
    expect(Object.keys(byName).sort()).toEqual(
      ['api-keys', 'contacts', 'members', 'organization-api-keys', 'organizations'].sort(),
    );
    expect(Object.keys(byName.contacts?.operations ?? {}).sort()).toEqual(
      ['create', 'delete', 'list', 'read', 'update'].sort(),
    );
    expect(byName['api-keys']?.idField).toBe('keyId');
    expect(byName['api-keys']?.credential).toBe('apiKey');
    expect(byName['api-keys']?.inherits).toEqual(
      expect.arrayContaining(['name', 'permissions', 'environment', 'rateLimit', 'organizationId']),
    );
    expect(byName.members?.idField).toBe('userId');
    expect(rules.secrets.map((s) => s.operationId).sort()).toEqual(
      [
        'createApiKey',
        'createOrganizationApiKey',
        'logIn',
        'rotateApiKey',
        'rotateOrganizationApiKey',
        'signUp',
      ].sort(),
    );
  });
});

describe('the state phase against the reference server', () => {
  let control: Outcome;
  beforeAll(async () => {
    control = await statePhase();
    mkdirSync(join(root, 'test-output', 'contract'), { recursive: true });
    writeFileSync(
      join(root, 'test-output', 'contract', 'state-phase.md'),
      `state phase against the reference server: ${control.report.seconds} s, ${control.report.counts.responses} responses; judgements by class: ${JSON.stringify(control.tally)}\n${control.report.cases.map((c) => `- ${c.name}: ${c.seconds.toFixed(2)} s`).join('\n')}\n`,
    );
  }, 60_000);

  it('passes, with a case per resource and per rotation', () => {
    expect(failures(control.report)).toBe('');
    expect(control.report.ok).toBe(true);
    const names = control.report.cases.filter((c) => c.suite === 'state').map((c) => c.name);
    expect(names).toHaveLength(7); // five resources, two of them with a rotation
    expect(control.report.suites.state.passed).toBe(7);
  });

  it('judged something in every state check class (a check that never judged proves nothing)', () => {
    for (const check of Object.keys(STATE_CHECKS) as Array<keyof StateTally>) {
      expect(control.tally[check], check).toBeGreaterThan(0);
    }
  });

  it('lists each state check class with its description in the report and in JUnit', () => {
    const xml = junitXml(control.report);
    for (const [check, description] of Object.entries(STATE_CHECKS)) {
      expect(control.report.checks.find((c) => c.check === check)?.description).toBe(description);
      expect(xml).toContain(`${check}: `);
    }
  });
});

describe('the state phase catches each state drift on its own', () => {
  const outcomes = new Map<string, Outcome>();
  beforeAll(async () => {
    const lines = ['| drift | caught by (check classes) | first failure |', '|---|---|---|'];
    for (const drift of STATE_DRIFTS) {
      const outcome = await statePhase(drift.apply);
      outcomes.set(drift.name, outcome);
      const first = failures(outcome.report).split('\n')[0]?.replace(/\|/g, '\\|').slice(0, 200);
      lines.push(`| ${drift.name} | ${failing(outcome.report).join(', ')} | ${first} |`);
    }
    mkdirSync(join(root, 'test-output', 'contract'), { recursive: true });
    writeFileSync(join(root, 'test-output', 'contract', 'state-drifts.md'), `${lines.join('\n')}\n`);
  }, 240_000);

  it.each(STATE_DRIFTS.map((d) => [d.name, d] as const))('%s', (_name, drift) => {
    const outcome = outcomes.get(drift.name) as Outcome;
    expect(outcome.report.ok, `${drift.description}: the state phase passed`).toBe(false);
    // The state class the drift is about is among the failures (the first of caughtBy).
    expect(failing(outcome.report), failures(outcome.report)).toContain(drift.caughtBy[0]);
  });
});

/** The sign-in spray alone through the observer (and a drifting hop, if given) against `target`, reported. */
async function sprayPhase(target: string, drift?: ResponseDrift): Promise<ContractReport> {
  const hop = drift ? await startDriftHop(target, { drift, forwardedFor: '203.0.113.10' }) : undefined;
  const observer = await startObserver({
    target: hop?.url ?? target,
    requestIdRule: {},
    operations: listOperations(doc),
  });
  const runId = randomUUID().slice(0, 6);
  const client = new RunClient(observer.url, runId);
  const book = new CaseBook(client);
  try {
    await runSignInSpray({ book, runId });
  } finally {
    await observer.close();
    await hop?.close();
  }
  return phaseReport(runId, target, book, observer, client, 0);
}

describe('the sign-in spray: the owner still signs in after one', () => {
  let trusting: TestServer;
  beforeAll(async () => {
    // As `mailroom serve --trust-proxy` (the account windows as shipped: 5 per email and address, 10 per email).
    trusting = await startTestServer({ trustProxy: true });
  });
  afterAll(async () => {
    await trusting?.close();
  });

  it('passes on a server that limits guesses without locking the owner out', async () => {
    const report = await sprayPhase(trusting.url);
    expect(failures(report)).toBe('');
    const spray = report.cases.find((c) => c.name.startsWith('owner-sign-in'));
    expect(spray?.outcome).toBe('passed');
    // Sign-up and session read, then 2 × (10 tried + 1 refused) guesses and the owner's log-in.
    expect(spray?.requestIds.length).toBe(23);
  }, 60_000);

  it('fails owner-sign-in through a hop that locks the owner out after the spray', async () => {
    const report = await sprayPhase(trusting.url, ownerLockedOut().apply);
    expect(report.ok).toBe(false);
    expect(failing(report)).toContain('owner-sign-in');
    expect(failures(report)).toMatch(/the owner, with the right password .* answered 429 RATE_LIMITED after the spray/);
  }, 60_000);

  it('is skipped, with the reason, on a server that does not take the address from X-Forwarded-For', async () => {
    const report = await sprayPhase(server.url);
    const spray = report.cases.find((c) => c.name.startsWith('owner-sign-in'));
    expect(spray?.outcome).toBe('skipped');
    expect(spray?.messages.join(' ')).toMatch(/does not take the client address from X-Forwarded-For .*--trust-proxy/);
  }, 60_000);
});
