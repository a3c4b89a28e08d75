import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exchangeRaw, type RawChunk, type RawExchange } from '../../helpers/raw-http.ts';
import { SCANNER_KEY_ID, SCANNER_PUBLIC_KEYS, scannerSignature } from '../../helpers/secret-scanner.ts';
import { caseRng, type PlannedCase, planCases } from './cases.ts';
import {
  assessRows,
  type CaseResult,
  checkExchange,
  type Finding,
  loggedErrors,
  type RowOwners,
  sameRows,
} from './checks.ts';
import { allClasses, type FuzzClass, GROUPS } from './classes.ts';
import { type CaseContext, chunksOf, type Request, validBody } from './request.ts';
import { type Pod, type RowCounts, type Seeded, type Snapshot, seedStore, snapshotStore } from './seed.ts';
import type { FuzzServerOptions } from './serve.ts';
import { type ServerProcess, startServerProcess } from './server.ts';
import { type FuzzSpec, loadFuzzSpec, type RowKind } from './spec.ts';

/** Options of a run. */
export interface FuzzOptions {
  seed: number;
  /** How many hostile requests (every class at least once when there is room). */
  requests: number;
  /** Requests in flight at once (slow cases run in a lane of their own besides). */
  concurrency: number;
  /** Stop sending new requests after this long. */
  maxSeconds: number;
  /** The server's time limits for a request's headers and for all of it (short, so slow cases finish quickly). */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** Keep the work directory (database, logs) instead of removing it. */
  keep: boolean;
  /** An empty, migrated PGlite data directory to seed (saves creating one); default: a new one in the work dir. */
  dataDir?: string;
  /** Only these case numbers (replaying cases of a run). */
  only?: readonly number[];
  /** Called with the exchange of every case (replays print it). */
  onExchange?: (planned: PlannedCase, chunks: readonly RawChunk[], exchange: RawExchange) => void;
  onProgress?: (line: string) => void;
}

/** Defaults of {@link FuzzOptions}. */
export const DEFAULT_FUZZ_OPTIONS: FuzzOptions = {
  seed: 1,
  requests: 10_000,
  concurrency: 4,
  maxSeconds: 900,
  headersTimeoutMs: 1000,
  requestTimeoutMs: 2000,
  keep: false,
};

/** Per-class figures of a run. */
export interface ClassFigures {
  group: string;
  name: string;
  cases: number;
  operations: number;
  findings: number;
}

/** Everything a run found and measured. */
export interface FuzzReport {
  seed: number;
  requestsPlanned: number;
  requestsSent: number;
  operations: number;
  classes: ClassFigures[];
  classesNotApplicable: string[];
  findings: Finding[];
  countsByKind: Record<string, number>;
  statusCounts: Record<string, number>;
  /** `METHOD path status` answers the spec does not declare, with counts (information). */
  undeclared: Record<string, number>;
  seconds: number;
  stoppedEarly: boolean;
  rssBeforeBytes: number | undefined;
  rssAfterBytes: number | undefined;
  seededRows: number;
  dataIntactAfterRun: boolean;
  dataIntactAfterRestart: boolean;
  restartProblems: string[];
  crashed: boolean;
  serverExit: string;
  workDir: string;
}

const PLAN = 'fuzz';
// Each organization holds at most 100 active keys: its two callers' keys, these rows, and room for the cases' creates.
const KEYS_PER_POD = 80;
const ROW_KINDS: readonly RowKind[] = [
  'contact',
  'key',
  'organization',
  'member',
  'token',
  'login',
  'session',
  'account',
  'endpoint',
  'delivery',
  'hookOrganization',
];
/**
 * The signatures valid requests carried (over their own bodies): a class that changed the body without choosing a
 * signature of its own gets one over its body (signReport); a raw class that kept the body keeps a right one.
 */
const SIGNED_BY_VALID = new Set<string>();

/** The id a case puts in the path when it aims at no row (a made-up one, well-formed). */
const MADE_UP_ID: Record<RowKind, string> = {
  contact: 'ct_0000000000000000',
  key: 'key_0000000000000000',
  organization: 'org_0000000000000000',
  member: 'usr_0000000000000000',
  token: '',
  login: '',
  session: 'tok_0000000000000000',
  account: '',
  endpoint: 'we_0000000000000000',
  delivery: 'dlv_0000000000000000',
  hookOrganization: '',
};

/** Assigns each case that needs one a seeded row of its own, and each case the organization whose credentials it uses. */
function assignRows(planned: readonly PlannedCase[]): {
  pods: number;
  rows: RowCounts;
  rowOf: Map<number, { pod: number; kind: RowKind; index: number }>;
  podOf: Map<number, number>;
} {
  const needed = Object.fromEntries(ROW_KINDS.map((kind) => [kind, 0])) as RowCounts;
  for (const p of planned) {
    if (p.row) {
      needed[p.row.kind]++;
    }
  }
  // Keys bound the number of organizations; the other kinds are spread evenly over them.
  const pods = Math.max(2, Math.ceil(needed.key / KEYS_PER_POD));
  const rows = Object.fromEntries(ROW_KINDS.map((kind) => [kind, Math.ceil(needed[kind] / pods)])) as RowCounts;
  const counters = Object.fromEntries(ROW_KINDS.map((kind) => [kind, 0])) as RowCounts;
  const rowOf = new Map<number, { pod: number; kind: RowKind; index: number }>();
  const podOf = new Map<number, number>();
  for (const p of planned) {
    if (!p.row) {
      podOf.set(p.n, p.n % pods);
      continue;
    }
    const k = counters[p.row.kind]++;
    const pod = Math.floor(k / rows[p.row.kind]);
    rowOf.set(p.n, { pod, kind: p.row.kind, index: k % rows[p.row.kind] });
    // A foreign row is aimed at with another organization's credentials.
    podOf.set(p.n, p.row.foreign ? (pod + 1) % pods : pod);
  }
  return { pods, rows, rowOf, podOf };
}

/** The row of `kind` at `index` in `pod`: its id (what the path names) and its key in a {@link Snapshot}. */
function rowOfPod(pod: Pod, kind: RowKind, index: number): { id: string; snapshotKey: string } {
  switch (kind) {
    case 'contact':
      return { id: pod.contacts[index] as string, snapshotKey: `contacts:${pod.contacts[index]}` };
    case 'key':
      return { id: pod.keys[index] as string, snapshotKey: `api_keys:${pod.keys[index]}` };
    case 'organization':
      return { id: pod.organizations[index] as string, snapshotKey: `organizations:${pod.organizations[index]}` };
    case 'member':
      return {
        id: pod.members[index] as string,
        snapshotKey: `memberships:${pod.organizationId}/${pod.members[index]}`,
      };
    case 'token':
      return { id: '', snapshotKey: `user_tokens:${pod.tokens[index]?.tokenId}` };
    case 'login':
      return { id: '', snapshotKey: `users:${pod.logins[index]?.userId}` };
    case 'session':
      return { id: pod.sessions[index] as string, snapshotKey: `user_tokens:${pod.sessions[index]}` };
    case 'account':
      return { id: '', snapshotKey: `users:${pod.accounts[index]?.userId}` };
    case 'endpoint':
      return { id: pod.endpoints[index] as string, snapshotKey: `webhook_endpoints:${pod.endpoints[index]}` };
    case 'delivery': {
      const delivery = pod.deliveries[index];
      return { id: delivery?.deliveryId ?? '', snapshotKey: `webhook_deliveries:${delivery?.deliveryId}` };
    }
    case 'hookOrganization': {
      const id = pod.hookOrganizations[index]?.organizationId;
      return { id: '', snapshotKey: `organizations:${id}` };
    }
  }
}

/** The case's own seeded row, with the pod it belongs to. */
type CaseRow = { kind: RowKind; index: number; pod: Pod };

/** The user token a case calls with, and the body fields it needs from real rows (a log-in's account, a member). */
function credentialsFor(
  p: PlannedCase,
  pod: Pod,
  seeded: Seeded,
  row: CaseRow | undefined,
): { userToken: string; apiKey: string; endpointId: string; fields: Record<string, unknown> } {
  let userToken = pod.user.token;
  let apiKey = pod.full;
  // A delivery's path names its endpoint too: the row's own, or (aiming at no row) a made-up one.
  let endpointId = MADE_UP_ID.endpoint;
  const fields: Record<string, unknown> = {};
  if (row?.kind === 'delivery') {
    endpointId = row.pod.deliveries[row.index]?.endpointId ?? endpointId;
  }
  if (row?.kind === 'hookOrganization') {
    apiKey = row.pod.hookOrganizations[row.index]?.key ?? apiKey;
  }
  if (p.op.body?.properties?.url !== undefined) {
    // A public address, as an IP literal: accepted without a DNS lookup (the fuzz has no network).
    fields.url = `https://93.184.215.14/fz-${p.n}`;
  }
  if (row?.kind === 'token') {
    userToken = row.pod.tokens[row.index]?.token as string;
  } else if (p.op.row === 'token') {
    userToken = seeded.loggedOut;
  }
  if (row?.kind === 'login') {
    Object.assign(fields, { email: row.pod.logins[row.index]?.email, password: seeded.password });
  }
  if (row?.kind === 'account') {
    userToken = row.pod.accounts[row.index]?.token as string;
    if (p.op.operationId === 'changePassword') {
      fields.currentPassword = seeded.password;
    }
  }
  if (p.op.operationId === 'addMember') {
    fields.email = pod.addable;
  }
  return { userToken, apiKey, endpointId, fields };
}

/** The well-formed request of the case's operation, which its class then edits. */
function validRequest(
  p: PlannedCase,
  pod: Pod,
  at: { pathId: string; host: string; marker: string },
  credentials: { userToken: string; apiKey: string; endpointId: string; fields: Record<string, unknown> },
): Request {
  const op = p.op;
  const headers: [string, string][] = [
    ['Host', at.host],
    ['X-Request-Id', at.marker],
  ];
  if (op.credential === 'apiKey') {
    const key = credentials.apiKey;
    headers.push(p.n % 2 === 0 ? ['X-API-Key', key] : ['Authorization', `Bearer ${key}`]);
  } else if (op.credential === 'userToken') {
    headers.push(['Authorization', `Bearer ${credentials.userToken}`]);
  }
  headers.push(['Connection', 'close']);
  let target = op.id ? op.path.replace(`{${op.id.name}}`, at.pathId) : op.path;
  if (op.scoped) {
    target = target.replace('{organizationId}', pod.organizationId);
  }
  target = target.replace('{endpointId}', credentials.endpointId);
  if (!op.body) {
    return { method: op.method, target, headers, body: undefined };
  }
  headers.push(['Content-Type', 'application/json']);
  const valid = validBody(op.body, at.marker);
  const json = Array.isArray(valid) ? valid : { ...valid, ...credentials.fields };
  const bytes = Buffer.from(JSON.stringify(json));
  if (op.credential === 'scanner') {
    // Signed as GitHub signs: over these bytes (a class that changes them gets a signature over its own: signReport).
    const signature = scannerSignature(bytes);
    SIGNED_BY_VALID.add(signature);
    headers.push(['Github-Public-Key-Identifier', SCANNER_KEY_ID], ['Github-Public-Key-Signature', signature]);
  }
  return { method: op.method, target, headers, body: bytes };
}

/** What the case's class builds from: its operation, keys, the row it aims at and its valid request. */
function contextFor(
  p: PlannedCase,
  spec: FuzzSpec,
  seed: number,
  pod: Pod,
  seeded: Seeded,
  row: CaseRow | undefined,
  pathId: string,
  host: string,
): CaseContext {
  const marker = `fz-${seed}-${p.n}`;
  // What the operation needs beyond its schema: the credentials and body values of real, seeded rows.
  const credentials = credentialsFor(p, pod, seeded, row);
  return {
    op: p.op,
    spec,
    rng: caseRng(seed, p.n),
    marker,
    keys: {
      full: pod.full,
      readOnly: pod.readOnly,
      contactsReader: pod.contactsReader,
      revoked: seeded.revoked,
      expired: seeded.expired,
      unknown: seeded.unknown,
      userToken: credentials.userToken,
      loggedOut: seeded.loggedOut,
    },
    pathId,
    host,
    valid: () => validRequest(p, pod, { pathId, host, marker }, credentials),
  };
}

async function runLane<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<boolean>,
): Promise<void> {
  let next = 0;
  let stop = false;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (!stop && next < items.length) {
        const item = items[next++] as T;
        if (!(await work(item))) {
          stop = true;
        }
      }
    }),
  );
}

/** What a run plans before anything starts: the spec, its classes, every case, and the cases this run sends. */
interface RunPlan {
  spec: FuzzSpec;
  classes: FuzzClass[];
  planned: PlannedCase[];
  byNumber: Map<number, PlannedCase>;
  /** Every planned case, or only the replayed ones (`only`). */
  chosen: PlannedCase[];
}

/** Plans the run's cases from the generated spec (the same seed plans the same cases). */
function planRun(options: FuzzOptions): RunPlan {
  const spec = loadFuzzSpec();
  const classes = allClasses(spec);
  const planned = planCases(spec, classes, { seed: options.seed, count: options.requests });
  const byNumber = new Map(planned.map((p) => [p.n, p]));
  const chosen = options.only ? planned.filter((p) => options.only?.includes(p.n)) : planned;
  return { spec, classes, planned, byNumber, chosen };
}

/** The seeded store: its rows, who owns which (the case that may change it), and every row before the run. */
interface PreparedStore {
  seeded: Seeded;
  podOf: Map<number, number>;
  owners: RowOwners;
  /** The case's own row (recorded as its owner's), and the id its path names. */
  rowFor(p: PlannedCase): { row: CaseRow | undefined; pathId: string };
  before: Snapshot;
}

/** Seeds the store with a row for every case that needs one, and snapshots it. */
async function prepareStore(
  plan: RunPlan,
  options: FuzzOptions,
  dataDir: string,
  serverSecret: string,
  progress: (line: string) => void,
): Promise<PreparedStore> {
  const { pods: podCount, rows, rowOf, podOf } = assignRows(plan.planned);
  progress(
    `seeding ${podCount} organizations, each with ${ROW_KINDS.map((kind) => `${rows[kind]} ${kind}s`).join(', ')}…`,
  );
  const seeded = await seedStore(dataDir, serverSecret, {
    pods: podCount,
    rows,
    plan: PLAN,
    prefix: `fuzz-${options.seed}`,
  });
  const owners: RowOwners = new Map();
  const rowFor = (p: PlannedCase) => {
    const row = rowOf.get(p.n);
    if (!row) {
      return { row: undefined, pathId: p.op.id ? MADE_UP_ID[p.op.id.kind] : '' };
    }
    const pod = seeded.pods[row.pod] as Pod;
    const { id, snapshotKey } = rowOfPod(pod, row.kind, row.index);
    owners.set(snapshotKey, p.n);
    return { row: { kind: row.kind, index: row.index, pod }, pathId: id };
  };
  return { seeded, podOf, owners, rowFor, before: await snapshotStore(dataDir) };
}

/**
 * The server's options: limits out of the way (this run is about input, not rate limiting): the API keys' plan, the
 * organizations users create (on the `free` plan), failed authentications, and the account windows (per user token,
 * per address for sign-up and log-in, per email (and address) for failed log-ins).
 */
function fuzzServerOptions(options: FuzzOptions, dataDir: string, serverSecret: string): FuzzServerOptions {
  const generous = { name: 'generous', limit: 1_000_000_000, windowSeconds: 60 };
  return {
    dataDir,
    serverSecret,
    plans: { [PLAN]: { windows: [generous] }, free: { windows: [generous] } },
    failedAuth: { ...generous, name: 'auth-failures' },
    accountWindows: {
      user: { ...generous, name: 'user' },
      address: { ...generous, name: 'address' },
      'account-address': { ...generous, name: 'account-address' },
      account: { ...generous, name: 'account' },
    },
    headersTimeoutMs: options.headersTimeoutMs,
    requestTimeoutMs: options.requestTimeoutMs,
    secretScanningPublicKeys: SCANNER_PUBLIC_KEYS,
  };
}

/**
 * A secret-scanning report as GitHub signs it: the signature over the exact bytes the class built (ECDSA P-256 with
 * the run's scanner key), where the valid request's signature was kept; a class that set its own keeps it.
 */
function signReport(built: Request | RawChunk[]): Request | RawChunk[] {
  if (Array.isArray(built)) {
    return built;
  }
  const at = built.headers.findIndex(
    ([name, value]) => /^github-public-key-signature$/i.test(name) && SIGNED_BY_VALID.has(value),
  );
  if (at === -1) {
    return built;
  }
  const headers = [...built.headers];
  headers[at] = ['Github-Public-Key-Signature', scannerSignature(built.body ?? Buffer.alloc(0))];
  return { ...built, headers };
}

/** A case ready to send: what it plans and the bytes its class built. */
interface BuiltCase {
  planned: PlannedCase;
  chunks: RawChunk[];
}

/** Builds every chosen case's bytes for the server at `host`; rows of cases not sent (replays) get no owner check. */
function buildCases(plan: RunPlan, store: PreparedStore, seed: number, host: string): BuiltCase[] {
  const built = plan.chosen.map((p) => {
    const pod = store.seeded.pods[store.podOf.get(p.n) ?? 0] as Pod;
    const { row, pathId } = store.rowFor(p);
    const ctx = contextFor(p, plan.spec, seed, pod, store.seeded, row, pathId, host);
    return { planned: p, chunks: chunksOf(signReport(p.cls.build(ctx))) };
  });
  // Rows reserved for cases that are not sent in this run (replays) are left out of the ownership check.
  for (const p of plan.planned) {
    if (!plan.chosen.includes(p)) {
      store.rowFor(p);
    }
  }
  return built;
}

/** What sending the cases gave: each case's result, the findings, and the counts of the report. */
interface SendOutcome {
  results: Map<number, CaseResult>;
  findings: Finding[];
  statusCounts: Record<string, number>;
  undeclared: Record<string, number>;
  sent: number;
  stoppedEarly: boolean;
  runSeconds: number;
}

/** Sends every case (slow ones in a lane of their own) and checks each answer, until done, a crash or the deadline. */
async function sendCases(
  built: readonly BuiltCase[],
  live: ServerProcess,
  spec: FuzzSpec,
  options: FuzzOptions,
  progress: (line: string) => void,
): Promise<SendOutcome> {
  const target = { host: '127.0.0.1', port: live.port };
  const outcome: SendOutcome = {
    results: new Map(),
    findings: [],
    statusCounts: {},
    undeclared: {},
    sent: 0,
    stoppedEarly: false,
    runSeconds: 0,
  };
  const runStarted = performance.now();
  const deadline = runStarted + options.maxSeconds * 1000;
  const slowLimitMs = options.requestTimeoutMs + 5000;

  const send = async ({ planned: p, chunks }: BuiltCase): Promise<boolean> => {
    if (live.exited()) {
      return false;
    }
    if (performance.now() > deadline) {
      outcome.stoppedEarly = true;
      return false;
    }
    const exchange = await exchangeRaw(target, chunks, {
      head: p.cls.head,
      timeoutMs: p.cls.slow ? slowLimitMs : 10_000,
    });
    outcome.sent++;
    options.onExchange?.(p, chunks, exchange);
    const checked = checkExchange(p, chunks, exchange, spec);
    outcome.results.set(p.n, checked.result);
    outcome.findings.push(...checked.findings);
    const status = String(checked.result.status ?? 'none');
    outcome.statusCounts[status] = (outcome.statusCounts[status] ?? 0) + 1;
    if (checked.undeclared) {
      outcome.undeclared[checked.undeclared] = (outcome.undeclared[checked.undeclared] ?? 0) + 1;
    }
    if (outcome.sent % 1000 === 0) {
      progress(`${outcome.sent} / ${built.length} requests, ${Math.round((performance.now() - runStarted) / 1000)} s`);
    }
    return true;
  };
  await Promise.all([
    runLane(
      built.filter((b) => !b.planned.cls.slow),
      options.concurrency,
      send,
    ),
    runLane(
      built.filter((b) => b.planned.cls.slow),
      16,
      send,
    ),
  ]);
  outcome.runSeconds = (performance.now() - runStarted) / 1000;
  return outcome;
}

/** The run against one server process: warm-up, memory before, every case, memory after, a clean shutdown. */
interface ServedRun extends SendOutcome {
  rssBeforeBytes: number | undefined;
  rssAfterBytes: number | undefined;
  serverExit: string;
}

/** Starts the server, sends the cases, and stops it; a crash or an unclean exit is a finding. */
async function runAgainstServer(
  plan: RunPlan,
  store: PreparedStore,
  serverOptions: FuzzServerOptions,
  logFile: string,
  options: FuzzOptions,
  progress: (line: string) => void,
): Promise<ServedRun> {
  const live = await startServerProcess(serverOptions, logFile);
  try {
    const host = `127.0.0.1:${live.port}`;
    const built = buildCases(plan, store, options.seed, host);
    // Warm up (not counted), then measure memory before the run.
    for (let i = 0; i < 50; i++) {
      await exchangeRaw({ host: '127.0.0.1', port: live.port }, [
        `GET /livez HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      ]);
    }
    const rssBeforeBytes = live.rss();
    const sent = await sendCases(built, live, plan.spec, options, progress);
    const rssAfterBytes = live.rss();
    const crashedDuringRun = live.exited() !== undefined;
    if (crashedDuringRun) {
      sent.findings.push({
        kind: 'crash',
        detail: `the server exited during the run: ${JSON.stringify(live.exited())}`,
      });
    }
    const exit = await live.stop();
    const serverExit = exit.signal ?? String(exit.code);
    if (!crashedDuringRun && exit.code !== 0) {
      sent.findings.push({ kind: 'crash', detail: `the server did not shut down cleanly: ${serverExit}` });
    }
    return { ...sent, rssBeforeBytes, rssAfterBytes, serverExit };
  } finally {
    await live.stop();
  }
}

/**
 * Restarts the server on the same data: it must answer /livez, accept every pod's seeded key and owner's token, and
 * leave every stored row as it was. Returns what went wrong.
 */
async function checkRestart(
  serverOptions: FuzzServerOptions,
  logFile: string,
  seeded: Seeded,
  dataDir: string,
  after: Snapshot,
): Promise<string[]> {
  const problems: string[] = [];
  const again = await startServerProcess(serverOptions, logFile);
  try {
    const target = { host: '127.0.0.1', port: again.port };
    const livez = await exchangeRaw(target, [`GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`]);
    if (livez.response?.status !== 200) {
      problems.push(`GET /livez after the restart answered ${livez.response?.status ?? 'nothing'}`);
    }
    for (const pod of seeded.pods) {
      const validate = await exchangeRaw(target, [
        `GET /v1/api-keys/validate HTTP/1.1\r\nHost: x\r\nX-API-Key: ${pod.full}\r\nConnection: close\r\n\r\n`,
      ]);
      if (validate.response?.status !== 200) {
        problems.push(`a seeded key of ${pod.organizationId} answered ${validate.response?.status ?? 'nothing'}`);
      }
      const me = await exchangeRaw(target, [
        `GET /auth/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${pod.user.token}\r\nConnection: close\r\n\r\n`,
      ]);
      if (me.response?.status !== 200) {
        problems.push(`the owner's token of ${pod.organizationId} answered ${me.response?.status ?? 'nothing'}`);
      }
    }
  } finally {
    await again.stop();
  }
  const afterRestart = await snapshotStore(dataDir);
  problems.push(...sameRows(after, afterRestart).differences.slice(0, 20));
  return problems;
}

/** Errors the server logged (a handler that threw after the answer was already sent shows only here), by case. */
async function serverLogFindings(logFile: string, plan: RunPlan, seed: number): Promise<Finding[]> {
  const caseOfRequestId = (id: string) => {
    const match = new RegExp(`^fz-${seed}-(\\d+)$`).exec(id);
    return match ? Number(match[1]) : undefined;
  };
  return loggedErrors(await readFile(logFile, 'utf8'), caseOfRequestId).map((finding) => {
    const p = finding.n === undefined ? undefined : plan.byNumber.get(finding.n);
    return p ? { ...finding, cls: p.cls.name, group: p.cls.group, operation: `${p.op.method} ${p.op.path}` } : finding;
  });
}

/** Plans, seeds, runs and checks a fuzz run against a real server process; see scripts/fuzz.mjs for the CLI. */
export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const progress = options.onProgress ?? (() => {});
  const plan = planRun(options);
  const workDir = await mkdtemp(join(tmpdir(), 'mailroom-fuzz-'));
  const dataDir = options.dataDir ?? join(workDir, 'data');
  const logFile = join(workDir, 'server.log');
  const serverSecret = `fuzz-secret-${options.seed}`;
  const started = performance.now();
  try {
    const store = await prepareStore(plan, options, dataDir, serverSecret, progress);
    const serverOptions = fuzzServerOptions(options, dataDir, serverSecret);
    const run = await runAgainstServer(plan, store, serverOptions, logFile, options, progress);
    // Stored rows after the run, and after a restart.
    const after = await snapshotStore(dataDir);
    const marker = new RegExp(`fz-${options.seed}-(\\d+)`);
    const rowFindings = assessRows(store.before, after, store.owners, run.results, plan.byNumber, marker);
    const restartProblems = await checkRestart(serverOptions, logFile, store.seeded, dataDir, after);
    const findings = [...run.findings, ...rowFindings, ...(await serverLogFindings(logFile, plan, options.seed))];
    return {
      seed: options.seed,
      requestsPlanned: plan.planned.length,
      requestsSent: run.sent,
      operations: new Set(plan.chosen.map((p) => p.op.operationId)).size,
      classes: classFigures(plan.classes, plan.chosen, findings),
      classesNotApplicable: plan.classes
        .filter((cls) => !plan.spec.operations.some((op) => cls.applies(op, plan.spec)))
        .map((cls) => `${cls.group}: ${cls.name}`),
      findings,
      countsByKind: countByKind(findings),
      statusCounts: run.statusCounts,
      undeclared: run.undeclared,
      seconds: Math.round(run.runSeconds * 10) / 10,
      stoppedEarly: run.stoppedEarly,
      rssBeforeBytes: run.rssBeforeBytes,
      rssAfterBytes: run.rssAfterBytes,
      seededRows: store.before.size,
      dataIntactAfterRun: rowFindings.length === 0,
      dataIntactAfterRestart: restartProblems.length === 0,
      restartProblems,
      crashed: findings.some((f) => f.kind === 'crash'),
      serverExit: run.serverExit,
      workDir: options.keep ? workDir : '',
    };
  } finally {
    if (!options.keep) {
      await rm(workDir, { recursive: true, force: true });
    }
    progress(`done in ${Math.round((performance.now() - started) / 1000)} s`);
  }
}

/** How many findings of each kind. */
function countByKind(findings: readonly Finding[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const finding of findings) {
    counts[finding.kind] = (counts[finding.kind] ?? 0) + 1;
  }
  return counts;
}

function classFigures(classes: readonly FuzzClass[], sent: readonly PlannedCase[], findings: readonly Finding[]) {
  const figures: ClassFigures[] = [];
  for (const group of GROUPS) {
    for (const cls of classes.filter((c) => c.group === group)) {
      const cases = sent.filter((p) => p.cls === cls);
      if (cases.length === 0) {
        continue;
      }
      figures.push({
        group,
        name: cls.name,
        cases: cases.length,
        operations: new Set(cases.map((p) => p.op.operationId)).size,
        findings: findings.filter((f) => f.cls === cls.name && f.group === group).length,
      });
    }
  }
  return figures;
}
