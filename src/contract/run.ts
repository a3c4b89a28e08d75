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
import { type DreddResult, type DreddTransaction, type HooksContext, runDredd } from './dredd.ts';
import { runEventChecks } from './events.ts';
import { arrangeFixtures, Created, cleanUp, type Fixtures } from './fixtures.ts';
import type { RequestIdRule } from './header-semantics.ts';
import { type Exchange, startObserver } from './observer.ts';
import { type PrismProxy, startPrismProxy } from './prism.ts';
import { startWebhookReceiver } from './receiver.ts';
import { buildReport, type ContractReport, type ScenarioProbe } from './report.ts';
import { playScenario } from './scenario.ts';
import { BUNDLED_SPEC, type Json, readSpec, type SpecOperation } from './spec.ts';
import { readStateRules, runStateFlows, StateModel } from './state/index.ts';
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

/** Runs the contract against `options.target` and returns the report (the caller prints and exits). */
export async function runContract(options: ContractOptions): Promise<ContractReport> {
  const started = Date.now();
  const log = options.log ?? (() => {});
  const runId = randomBytes(4).readUInt32BE().toString(36);
  const workDir = options.workDir ?? mkdtempSync(join(tmpdir(), 'mailroom-contract-'));
  const specSource = options.spec ?? BUNDLED_SPEC;
  const phases: Record<string, number> = {};
  const problems: string[] = [];
  const timed = async <T>(phase: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      phases[phase] = (phases[phase] ?? 0) + (Date.now() - t0) / 1000;
    }
  };

  const source = await readSpec(specSource);
  const strict = buildStrictSpec(source);
  const strictPath = join(workDir, 'strict-openapi.json');
  writeFileSync(strictPath, JSON.stringify(strict.doc));
  const sourcePath = join(workDir, 'openapi.json');
  writeFileSync(sourcePath, JSON.stringify(source));

  let book: CaseBook | undefined;
  let dreddStop: (() => void) | undefined;
  let tripped = false;
  const trip = () => {
    if (options.failFast && !tripped) {
      tripped = true;
      book?.abort();
      dreddStop?.();
    }
  };
  const stateRules = readStateRules(source);
  const stateModel = new StateModel(stateRules);
  const observer = await startObserver({
    watcher: stateModel.watcher,
    target: options.target,
    requestIdRule: requestIdRule(strict.operations),
    operations: strict.operations,
    onFindings: trip,
  });
  observer.setPacedKey(options.apiKey);
  const client = new RunClient(observer.url, runId);
  book = new CaseBook(client, trip);
  const created = new Created();
  const receiver = await startWebhookReceiver();
  let prism: PrismProxy | undefined;
  let probe: ScenarioProbe = { honoured: false, detail: 'not probed' };
  let main: DreddResult | undefined;
  let lockout: DreddResult | undefined;
  const hooksFiles = {
    observer: observer.url,
    sourceSpec: sourcePath,
    strictSpec: strictPath,
    created: join(workDir, 'dredd-created.jsonl'),
  };
  writeFileSync(hooksFiles.created, '');

  try {
    log(`contract: run ${runId} against ${options.target}; starting Prism's validating proxy`);
    let fixtures: Fixtures | undefined;
    await timed('setup', async () => {
      const [proxy, probed] = await Promise.all([
        startPrismProxy(structuredClone(strict.doc), options.target).catch((error: Error) => error),
        probeScenarios(book as CaseBook, options.apiKey),
      ]);
      probe = probed;
      if (proxy instanceof Error) {
        problems.push(`Prism's proxy did not start: ${proxy.message}`);
        return;
      }
      prism = proxy;
      observer.setPrism(proxy.url);
      fixtures = await arrangeFixtures(book as CaseBook, options.apiKey, created, {
        runId,
        operations: strict.operations,
      });
      for (const user of Object.values(fixtures?.users ?? {})) {
        if (typeof user === 'object' && user !== fixtures?.users?.limited && user !== fixtures?.users?.outsider) {
          observer.setPacedKey(user.token);
        }
      }
    });
    const deferred = lockoutTransactions(strict.operations, probe.honoured, Boolean(options.sandbox));
    const context = (phase: HooksContext['phase'], ready: Fixtures): HooksContext => ({
      ...hooksFiles,
      runId,
      phase,
      journal: join(workDir, `dredd-journal-${phase}.json`),
      progress: join(workDir, `dredd-progress-${phase}.jsonl`),
      scenarios: probe.honoured,
      sandbox: Boolean(options.sandbox),
      deferred,
      keys: {
        admin: ready.admin,
        readOnly: ready.readOnly.key,
        capped: ready.capped.key,
        revoked: ready.revoked.key,
        unknown: ready.unknown,
      },
      users: ready.users,
      webhookReceiver: receiver.url,
      secretScanning: options.secretScanning,
    });
    if (fixtures && prism && !book.isAborted) {
      const ready = fixtures;
      const scenario = () =>
        timed('scenario', () =>
          playScenario({
            book: book as CaseBook,
            fixtures: ready,
            created,
            operations: strict.operations,
            scenarios: probe.honoured,
            runId,
          }),
        );
      const dredd = async () => {
        if (book?.isAborted) {
          return undefined;
        }
        const run = runDredd(context('main', ready), workDir, { onFailure: options.failFast ? trip : undefined });
        dreddStop = run.stop;
        const result = await timed('dredd', () => run.result);
        dreddStop = undefined;
        return result;
      };
      if (options.failFast) {
        // One after the other, cheapest first: a failing run stops before it starts Dredd.
        log(`contract: ${probe.detail}; running the scenario, then Dredd (--fail-fast)`);
        await scenario();
        main = await dredd();
      } else {
        log(`contract: ${probe.detail}; running Dredd and the scenario side by side`);
        [main] = await Promise.all([dredd(), scenario()]);
      }
    }
    if (fixtures && prism && !book.isAborted) {
      const users = fixtures.users;
      log('contract: the state phase (create, read back, update, delete, rotate each declared resource)');
      await timed('state', () =>
        runStateFlows({
          book: book as CaseBook,
          rules: stateRules,
          apiKey: options.apiKey,
          userToken: users?.owner.token,
          bodies: users ? { members: { email: users.member.email } } : undefined,
          runId,
          log,
        }),
      );
    }
    if (fixtures && prism && !book.isAborted) {
      log('contract: the events phase (webhook deliveries checked; a fresh key counted in the request log and usage)');
      await timed('events', () =>
        runEventChecks({
          book: book as CaseBook,
          spec: source,
          apiKey: options.apiKey,
          receiver,
          created,
          runId,
          secretScanning: options.secretScanning,
        }),
      );
    }
    for (const line of readFileSync(hooksFiles.created, 'utf8').split('\n')) {
      if (line.trim() !== '') {
        const { kind, id } = JSON.parse(line) as { kind: string; id: string };
        (kind === 'key' ? created.keys : kind === 'endpoint' ? created.endpoints : created.contacts).add(id);
      }
    }
    log(
      `contract: cleaning up ${created.keys.size} keys, ${created.contacts.size} contacts and ${created.endpoints.size} webhook endpoints`,
    );
    await timed('clean-up', () => cleanUp(book as CaseBook, options.apiKey, created));
    if (fixtures && prism && deferred.length > 0 && !book.isAborted) {
      log('contract: last, the case that locks this client address out');
      const run = runDredd(context('lockout', fixtures), workDir, {
        only: deferred,
        onFailure: options.failFast ? trip : undefined,
      });
      lockout = await timed('lockout', () => run.result);
    }
  } finally {
    await prism?.stop();
    await observer.close();
    await receiver.close();
  }
  if (prism) {
    writeFileSync(join(workDir, 'prism.log'), prism.output());
  }
  for (const result of [main, lockout]) {
    problems.push(...(result?.problems ?? []));
  }

  const exchanges: Exchange[] = observer.exchanges;
  return buildReport({
    runId,
    target: options.target,
    spec: specSource,
    strictness: strict.summary,
    probe,
    failFast: Boolean(options.failFast),
    requireScenarios: Boolean(options.requireScenarios),
    cases: [...book.results, ...dreddCases(main, lockout, tripped)],
    exchanges,
    attribution: client.attribution,
    problems,
    seconds: (Date.now() - started) / 1000,
    phases,
    workDir,
  });
}
