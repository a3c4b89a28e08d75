// `mailroom contract`: checks any deployment of the Mailroom API, by URL, against the spec.
//
//   1. The strict copy of the spec (strict-spec.ts) is what every tool checks against.
//   2. Every request of the run goes through the observer (observer.ts), which sends it through Prism's
//      validating proxy and checks the header semantics of every response.
//   3. Setup makes what the cases need through the public API with the caller's key (fixtures.ts) and
//      probes whether the target honours sandbox scenarios (`Prefer: code=503` on GET /v1/health).
//   4. Dredd runs every documented (operation, status) transaction (dredd.ts, dredd-hooks.cjs) while the
//      scenario plays realistic traffic, edge values and request ids (scenario.ts).
//   5. The state phase (state/flows.ts) creates, reads, updates, deletes and rotates each resource the spec declares,
//      while the state model (state/model.ts) checks every exchange of the run against what it has seen.
//   6. The events phase (events.ts) checks every webhook delivery the run causes (signature, payload schema) and that a
//      fresh key's requests are counted in the request log and its usage.
//   7. Everything the run created is removed; last, the one case that locks this client address out.
// The report (report.ts) has a case per transaction and step, and a check per class.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CaseBook as Book, CaseBook, type CaseResult } from './cases.ts';
import { RunClient } from './client.ts';
import { type DreddResult, type DreddTransaction, type HooksContext, type StartedDredd, startDredd } from './dredd.ts';
import { runEventChecks } from './events.ts';
import { arrangeFixtures, Created, cleanUp, type Fixtures } from './fixtures.ts';
import type { RequestIdRule } from './header-semantics.ts';
import { type Observer, startObserver } from './observer.ts';
import { type PrismProxy, startPrismProxy } from './prism.ts';
import { startWebhookReceiver, type WebhookReceiver } from './receiver.ts';
import { buildReport, type ContractReport, type ScenarioProbe } from './report.ts';
import { playScenario } from './scenario.ts';
import { BUNDLED_SPEC, type Json, readSpec, type SpecOperation } from './spec.ts';
import { readStateRules, runSignInSpray, runStateFlows, StateModel } from './state/index.ts';
import { buildStrictSpec } from './strict-spec.ts';

/** Options of `runContract`. */
export interface ContractOptions {
  /** Base URL of the deployment under test. */
  target: string;
  /** A full-access key of the deployment; everything else the run needs is made with it. */
  apiKey: string;
  /** The spec to check against, a path or URL (default: the bundled spec shipped with this package). */
  spec?: string;
  /** Stop at the first failure (what CI wants when it only needs pass/fail; the drift test uses it). */
  failFast?: boolean;
  /** Count cases that need scenarios as failures (for a target started with scenarios). */
  requireScenarios?: boolean;
  /**
   * The target is a sandbox (`mailroom serve --sandbox`): hold it to the x-sandbox-only operations too, the reset
   * last of all. Otherwise they are never sent, and their cases are skipped with the reason.
   */
  sandbox?: boolean;
  /**
   * GitHub's side of a secret-scanning key pair the target knows (MAILROOM_SECRET_SCANNING_PUBLIC_KEYS): the run signs
   * leak reports with it. Without it, the pairs of POST /secret-scanning/github that need a known key are skipped.
   */
  secretScanning?: { keyIdentifier: string; privateKey: string };
  /** Where logs and the strict spec go (default: a new temporary directory). */
  workDir?: string;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** The X-Request-Id rule of the spec: the schema of its X-Request-Id response header. */
function requestIdRule(operations: SpecOperation[]): RequestIdRule {
  for (const operation of operations) {
    for (const response of Object.values<Json>(operation.responses)) {
      const header = Object.entries<Json>(response?.headers ?? {}).find(
        ([name]) => name.toLowerCase() === 'x-request-id',
      );
      const schema = header?.[1]?.schema;
      if (schema) {
        return {
          pattern: typeof schema.pattern === 'string' ? new RegExp(schema.pattern, 'u') : undefined,
          minLength: schema.minLength,
          maxLength: schema.maxLength,
        };
      }
    }
  }
  return {};
}

/**
 * The Dredd transactions that spend a window of this client address, so they run last, in this order (the hooks run
 * them in it): the 429s of the operations counted per address (`x-rate-limit: address`) that take credentials (the
 * secret scanner's, refused for a locked-out address), then those of the public ones (sign-up, log-in: they spend
 * the address's window for every later sign-up and log-in); on a sandbox, the success of its x-sandbox-only
 * operations (the reset wipes what the run made, and empties every window); last, the status read's 429, which only
 * a locked-out address gets. Nothing after the lockout waits it out.
 */
export function lockoutTransactions(operations: SpecOperation[], scenarios: boolean, sandbox: boolean): string[] {
  const name = (op: SpecOperation, status: string) => `${op.path} > ${op.summary} > ${status} > application/json`;
  const addressWindows = operations.filter((op) => op.rateLimit === 'address' && op.responses['429']);
  const signed = addressWindows.filter((op) => op.security.length > 0).map((op) => name(op, '429'));
  const open = addressWindows.filter((op) => op.security.length === 0).map((op) => name(op, '429'));
  const resets = operations
    .filter((op) => sandbox && op.sandboxOnly)
    .flatMap((op) =>
      Object.keys(op.responses)
        .filter((status) => status.startsWith('2'))
        .map((s) => name(op, s)),
    );
  // A target honouring scenarios forces the status read's 429 (a sandbox does not force a window's).
  const lockout = operations
    .filter((op) => op.rateLimit === 'peek' && !scenarios && op.responses['429'])
    .map((op) => name(op, '429'));
  return [...signed, ...open, ...resets, ...lockout];
}

async function probeScenarios(book: Book, apiKey: string): Promise<ScenarioProbe> {
  const probe = await book.run(
    'setup',
    'probe: does the target honour Prefer: code=503 (sandbox scenarios)?',
    async (ctx) => {
      // Sent straight to the target: Prism is still starting, and a forced 503 is not a finding.
      const sent = await ctx.send({
        path: '/v1/health',
        key: apiKey,
        headers: { Prefer: 'code=503' },
        route: 'direct',
        expect: [200, 503],
      });
      return sent.status === 503
        ? { honoured: true, detail: 'GET /v1/health with Prefer: code=503 answered 503' }
        : { honoured: false, detail: 'GET /v1/health with Prefer: code=503 answered 200 (Prefer is ignored)' };
    },
  );
  return probe ?? { honoured: false, detail: 'the probe failed (see the setup cases)' };
}

/** Dredd's transactions as cases; a deferred one is replaced by its lockout-phase run. */
function dreddCases(main: DreddResult | undefined, lockout: DreddResult | undefined, stopped: boolean): CaseResult[] {
  const later = new Map((lockout?.transactions ?? []).map((t) => [t.name, t]));
  const cases: CaseResult[] = [];
  for (const t of main?.transactions ?? []) {
    const entry: DreddTransaction = t.skipReason?.startsWith('deferred') ? (later.get(t.name) ?? t) : t;
    const base = {
      suite: 'dredd' as const,
      name: entry.name,
      requestIds: entry.requestId ? [entry.requestId] : [],
      arranged: entry.arranged,
      seconds: entry.seconds ?? 0,
    };
    if (entry.status === 'pass') {
      cases.push({ ...base, outcome: 'passed', messages: [] });
    } else if (entry.status === 'skip' && entry.skipReason?.startsWith('needs scenarios')) {
      cases.push({ ...base, outcome: 'needs-scenarios', messages: [entry.skipReason] });
    } else if (
      entry.status === 'skip' &&
      (entry.skipReason?.startsWith('sandbox-only') || entry.skipReason?.startsWith('secret-scanning'))
    ) {
      cases.push({ ...base, outcome: 'skipped', messages: [entry.skipReason] });
    } else if (entry.status === 'skip' && entry.skipReason?.startsWith('deferred')) {
      cases.push({ ...base, outcome: 'not-run', messages: ['deferred to the last phase, which did not run'] });
    } else if (entry.status === 'skip') {
      cases.push({ ...base, outcome: 'failed', messages: [`skipped: ${entry.skipReason}`] });
    } else if (entry.status === undefined) {
      cases.push({ ...base, outcome: 'not-run', messages: [] });
    } else {
      const message = `${entry.request} (arranged: ${entry.arranged ?? '-'}) answered ${entry.actualStatus ?? 'nothing'}: ${entry.message ?? entry.status}`;
      cases.push({ ...base, outcome: 'failed', messages: [message.trim()] });
    }
  }
  if (stopped && cases.length === 0) {
    cases.push({
      suite: 'dredd',
      name: 'Dredd transactions',
      outcome: 'not-run',
      messages: ['stopped at the first failure'],
      requestIds: [],
      seconds: 0,
    });
  }
  return cases;
}

/** What one run holds while it runs: its parts, what it found, and the time of each phase. */
interface Run {
  options: ContractOptions;
  log: (line: string) => void;
  runId: string;
  workDir: string;
  source: Json;
  strict: ReturnType<typeof buildStrictSpec>;
  sourcePath: string;
  strictPath: string;
  stateRules: ReturnType<typeof readStateRules>;
  observer: Observer;
  client: RunClient;
  book: CaseBook;
  created: Created;
  receiver: WebhookReceiver;
  /**
   * Dredd of each phase, started before it is needed: the main phase's with the run (its spec read and compiled while
   * the run sets up), the last phase's when the main phase starts.
   */
  dredds: { main: StartedDredd; lockout?: StartedDredd };
  createdLog: string;
  prism?: PrismProxy;
  probe: ScenarioProbe;
  fixtures?: Fixtures;
  main?: DreddResult;
  lockout?: DreddResult;
  /** Stops the Dredd that is running (fail-fast). */
  dreddStop?: () => void;
  tripped: boolean;
  problems: string[];
  phases: Record<string, number>;
}

/** Runs `fn` as `phase`, adding its seconds to the report's phases (a phase may run more than once). */
async function timed<T>(run: Run, phase: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await fn();
  } finally {
    run.phases[phase] = (run.phases[phase] ?? 0) + (Date.now() - t0) / 1000;
  }
}

/** A fail-fast run stops everything at its first failure. */
function trip(run: Run): void {
  if (run.options.failFast && !run.tripped) {
    run.tripped = true;
    run.book.abort();
    run.dreddStop?.();
  }
}

/** Reads the spec, writes the copies the tools read, and starts the observer, the receiver and both Dredds. */
async function openRun(options: ContractOptions): Promise<Run> {
  const runId = randomBytes(4).readUInt32BE().toString(36);
  const workDir = options.workDir ?? mkdtempSync(join(tmpdir(), 'mailroom-contract-'));
  const source = await readSpec(options.spec ?? BUNDLED_SPEC);
  const strict = buildStrictSpec(source);
  const strictPath = join(workDir, 'strict-openapi.json');
  writeFileSync(strictPath, JSON.stringify(strict.doc));
  const sourcePath = join(workDir, 'openapi.json');
  writeFileSync(sourcePath, JSON.stringify(source));
  const stateRules = readStateRules(source);
  const stateModel = new StateModel(stateRules);
  let self: Run | undefined;
  const observer = await startObserver({
    watcher: stateModel.watcher,
    target: options.target,
    requestIdRule: requestIdRule(strict.operations),
    operations: strict.operations,
    onFindings: () => self && trip(self),
  });
  observer.setPacedKey(options.apiKey);
  const client = new RunClient(observer.url, runId);
  const book = new CaseBook(client, () => self && trip(self));
  const createdLog = join(workDir, 'dredd-created.jsonl');
  writeFileSync(createdLog, '');
  self = {
    options,
    log: options.log ?? (() => {}),
    runId,
    workDir,
    source,
    strict,
    sourcePath,
    strictPath,
    stateRules,
    observer,
    client,
    book,
    created: new Created(),
    receiver: await startWebhookReceiver(),
    dredds: {
      main: startDredd('main', workDir, sourcePath, observer.url),
    },
    createdLog,
    probe: { honoured: false, detail: 'not probed' },
    tripped: false,
    problems: [],
    phases: {},
  };
  return self;
}

/** Setup: Prism's proxy and the scenario probe side by side, then the fixtures (keys, users) the cases need. */
async function setUp(run: Run): Promise<void> {
  const { options, book, observer } = run;
  const [proxy, probed] = await Promise.all([
    startPrismProxy(structuredClone(run.strict.doc), options.target).catch((error: Error) => error),
    probeScenarios(book, options.apiKey),
  ]);
  run.probe = probed;
  if (proxy instanceof Error) {
    run.problems.push(`Prism's proxy did not start: ${proxy.message}`);
    return;
  }
  run.prism = proxy;
  observer.setPrism(proxy.url);
  const fixtures = await arrangeFixtures(book, options.apiKey, run.created, {
    runId: run.runId,
    operations: run.strict.operations,
  });
  run.fixtures = fixtures;
  for (const user of Object.values(fixtures?.users ?? {})) {
    if (typeof user === 'object' && user !== fixtures?.users?.limited && user !== fixtures?.users?.outsider) {
      observer.setPacedKey(user.token);
    }
  }
}

/** What the Dredd hooks of `phase` read. */
function hooksContext(
  run: Run,
  phase: HooksContext['phase'],
  dredd: StartedDredd,
  ready: Fixtures,
  deferred: string[],
): HooksContext {
  return {
    observer: run.observer.url,
    sourceSpec: run.sourcePath,
    strictSpec: run.strictPath,
    created: run.createdLog,
    runId: run.runId,
    phase,
    journal: dredd.journal,
    progress: dredd.progress,
    scenarios: run.probe.honoured,
    sandbox: Boolean(run.options.sandbox),
    deferred,
    keys: {
      admin: ready.admin,
      readOnly: ready.readOnly.key,
      capped: ready.capped.key,
      revoked: ready.revoked.key,
      unknown: ready.unknown,
    },
    users: ready.users,
    webhookReceiver: run.receiver.url,
    secretScanning: run.options.secretScanning,
  };
}

/** Lets a started Dredd run `phase` (or ends it, when the run stopped first) and waits for its result. */
async function playDredd(
  run: Run,
  phase: HooksContext['phase'],
  ready: Fixtures,
  deferred: string[],
): Promise<DreddResult | undefined> {
  const started = run.dredds[phase] ?? startDredd(phase, run.workDir, run.sourcePath, run.observer.url);
  if (run.book.isAborted) {
    started.cancel();
    return undefined;
  }
  const dredd = started.go(hooksContext(run, phase, started, ready, deferred), {
    only: phase === 'lockout' ? deferred : undefined,
    onFailure: run.options.failFast ? () => trip(run) : undefined,
  });
  run.dreddStop = dredd.stop;
  const result = await timed(run, phase === 'main' ? 'dredd' : 'lockout', () => dredd.result);
  run.dreddStop = undefined;
  return result;
}

/** Dredd's main phase beside the scenario (one after the other, cheapest first, when failing fast). */
async function playMain(run: Run, ready: Fixtures, deferred: string[]): Promise<void> {
  if (deferred.length > 0) {
    run.dredds.lockout = startDredd('lockout', run.workDir, run.sourcePath, run.observer.url);
  }
  const scenario = () =>
    timed(run, 'scenario', () =>
      playScenario({
        book: run.book,
        fixtures: ready,
        created: run.created,
        operations: run.strict.operations,
        scenarios: run.probe.honoured,
        runId: run.runId,
      }),
    );
  // The sign-in spray (state/spray.ts): the owner still signs in after one. From addresses of its own, so it spends
  // none of this client's windows.
  const spray = () => timed(run, 'sign-in', () => runSignInSpray({ book: run.book, runId: run.runId }));
  if (run.options.failFast) {
    // One after the other, cheapest first, so a failing run stops before the costly part: the scenario, the spray,
    // the state phase (seconds; after Dredd otherwise), then Dredd.
    run.log(`contract: ${run.probe.detail}; running the scenario, the state phase, then Dredd (--fail-fast)`);
    for (const phase of [scenario, spray, () => playState(run, ready)]) {
      if (!run.book.isAborted) {
        await phase();
      }
    }
    run.main = await playDredd(run, 'main', ready, deferred);
  } else {
    run.log(`contract: ${run.probe.detail}; running Dredd, the scenario and the sign-in spray side by side`);
    [run.main] = await Promise.all([playDredd(run, 'main', ready, deferred), scenario(), spray()]);
  }
}

/** The state phase, alone on the wire (the state model judges counters only so). */
async function playState(run: Run, ready: Fixtures): Promise<void> {
  const { book, options, log, runId } = run;
  const users = ready.users;
  log('contract: the state phase (create, read back, update, delete, rotate each declared resource)');
  await timed(run, 'state', () =>
    runStateFlows({
      book,
      rules: run.stateRules,
      apiKey: options.apiKey,
      userToken: users?.owner.token,
      bodies: users ? { members: { email: users.member.email } } : undefined,
      runId,
      log,
    }),
  );
}

/** The events phase, alone on the wire, after Dredd (on a sandbox it moves the clock a day on). */
async function playEvents(run: Run): Promise<void> {
  const { book, options, log, runId } = run;
  log('contract: the events phase (webhook deliveries checked; a fresh key counted in the request log and usage)');
  await timed(run, 'events', () =>
    runEventChecks({
      book,
      spec: run.source,
      apiKey: options.apiKey,
      receiver: run.receiver,
      created: run.created,
      runId,
      secretScanning: options.secretScanning,
      sandbox: Boolean(options.sandbox),
    }),
  );
}

/** Removes what the run made: its own, and what the Dredd hooks noted they made. */
async function cleanUpRun(run: Run): Promise<void> {
  const { created } = run;
  for (const line of readFileSync(run.createdLog, 'utf8').split('\n')) {
    if (line.trim() !== '') {
      const { kind, id } = JSON.parse(line) as { kind: string; id: string };
      (kind === 'key' ? created.keys : kind === 'endpoint' ? created.endpoints : created.contacts).add(id);
    }
  }
  run.log(
    `contract: cleaning up ${created.keys.size} keys, ${created.contacts.size} contacts and ${created.endpoints.size} webhook endpoints`,
  );
  await timed(run, 'clean-up', () => cleanUp(run.book, run.options.apiKey, created));
}

/** Every phase in order; what stops early leaves the rest not run. */
async function playPhases(run: Run): Promise<void> {
  const { options, book } = run;
  run.log(`contract: run ${run.runId} against ${options.target}; starting Prism's validating proxy`);
  await timed(run, 'setup', () => setUp(run));
  const deferred = lockoutTransactions(run.strict.operations, run.probe.honoured, Boolean(options.sandbox));
  const ready = run.prism && !book.isAborted ? run.fixtures : undefined;
  if (ready) {
    await playMain(run, ready, deferred);
  }
  if (ready && !book.isAborted && !options.failFast) {
    await playState(run, ready);
  }
  if (ready && !book.isAborted) {
    await playEvents(run);
  }
  await cleanUpRun(run);
  if (ready && deferred.length > 0 && !book.isAborted) {
    run.log('contract: last, the case that locks this client address out');
    run.lockout = await playDredd(run, 'lockout', ready, deferred);
  }
}

/** Stops what the run started (a Dredd never told to go included). */
async function stopParts(run: Run): Promise<void> {
  run.dredds.main.cancel();
  run.dredds.lockout?.cancel();
  await run.prism?.stop();
  await run.observer.close();
  await run.receiver.close();
}

/** The report of a run whose parts have stopped. */
function reportOf(run: Run, started: number): ContractReport {
  const { options } = run;
  if (run.prism) {
    writeFileSync(join(run.workDir, 'prism.log'), run.prism.output());
  }
  for (const result of [run.main, run.lockout]) {
    run.problems.push(...(result?.problems ?? []));
  }
  return buildReport({
    runId: run.runId,
    target: options.target,
    spec: options.spec ?? BUNDLED_SPEC,
    strictness: run.strict.summary,
    probe: run.probe,
    failFast: Boolean(options.failFast),
    requireScenarios: Boolean(options.requireScenarios),
    cases: [...run.book.results, ...dreddCases(run.main, run.lockout, run.tripped)],
    exchanges: run.observer.exchanges,
    attribution: run.client.attribution,
    problems: run.problems,
    seconds: (Date.now() - started) / 1000,
    phases: run.phases,
    workDir: run.workDir,
  });
}

/** Runs the contract against `options.target` and returns the report (the caller prints and exits). */
export async function runContract(options: ContractOptions): Promise<ContractReport> {
  const started = Date.now();
  const run = await openRun(options);
  try {
    await playPhases(run);
  } finally {
    await stopParts(run);
  }
  return reportOf(run, started);
}
