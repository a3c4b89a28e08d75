// The Prism-proxy half of the contract run (scripts/contract.mjs): realistic traffic — every
// operation's success path and every error status the server can be made to produce — sent
// THROUGH `prism proxy` in front of the reference server, so a second, independent implementation
// validates every response (status, headers, body) against the bundled spec. Any violation fails.
//
// Prism's errors mode answers some requests itself instead of forwarding them, so three proxies
// share the traffic and each request goes through the one that lets it reach the server:
//   strict   `--errors`: requests valid per the spec. A response violation becomes Prism's own
//            500 problem+json; a request violation its own 422 — either is a violation here.
//   lenient  `--errors --validate-request=false`: requests that are invalid on purpose (413, 415,
//            422 cases), which strict Prism would refuse with its own 422. Responses are still
//            validated in errors mode.
//   observe  no `--errors`: requests without usable credentials (401 missing / not Bearer), which
//            Prism's security check answers itself even with --validate-request=false. Prism
//            forwards them, reports the (expected) request violation and validates the response;
//            any response violation fails the run.
//   down     `--errors`, in front of a second server whose rate-limit store (Redis, fail-closed) is
//            unreachable: the 503 SERVICE_UNAVAILABLE answers.
// Two statuses cannot be checked through Prism at all, and are left to Dredd: 400 (Prism parses
// JSON request bodies itself and answers malformed JSON with its own 400) and 405 (a method the
// path does not declare has no operation to validate the response against).
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { stripVTControlCharacters } from 'node:util';

const root = resolve(import.meta.dirname, '../..');

export type ProxyName = 'strict' | 'lenient' | 'observe' | 'down';

const PROXY_ARGS: Record<ProxyName, string[]> = {
  strict: ['--errors'],
  lenient: ['--errors', '--validate-request=false'],
  observe: [],
  down: ['--errors'],
};

/** Credentials the scenario needs that cannot be made through the API. */
export interface ScenarioKeys {
  /** Full access, on a plan with room for the whole scenario. */
  key: string;
  /** An organization whose plan allows one request an hour. */
  tinyKey: string;
  /** Expired yesterday. */
  expiredKey: string;
  /** Well-formed, valid checksum, never issued. */
  unknownKey: string;
  /** A key of the unavailable server (see `unavailableUpstream`). */
  downKey?: string;
}

export interface ScenarioOptions {
  /** Base URL Prism forwards to: the reference server (or a proxy in front of it). */
  upstream: string;
  /** A server whose rate-limit store is unreachable with the fail-closed policy: its /v1 answers are 503. */
  unavailableUpstream?: string;
  keys: ScenarioKeys;
  /** Failed authentications the server allows per client address before it answers 429 (default 20). */
  failedAuthLimit?: number;
  /** The bundled spec Prism validates against. */
  spec?: string;
}

/** A contract violation that Prism reported. */
export interface Violation {
  proxy: ProxyName;
  /** The scenario step, or `log` for a line of Prism's output. */
  step: string;
  source: 'sl-violations' | 'prism-error' | 'prism-log';
  detail: string;
}

export interface StepResult {
  step: string;
  proxy: ProxyName;
  request: string;
  expected: number;
  status: number;
}

export interface ScenarioResult {
  requests: number;
  requestsByProxy: Record<ProxyName, number>;
  /** Statuses the scenario produced, with how many times (e.g. { "401": 29 }). */
  statuses: Record<string, number>;
  /** Request violations Prism reported for requests that are invalid on purpose (observe proxy). */
  expectedRequestViolations: number;
  violations: Violation[];
  /** Lines of Prism's output reporting a violation or an error answer (the same events, as logged). */
  logViolations: Violation[];
  /** Scenario steps that did not get the status they arrange for (a server or scenario bug). */
  failures: string[];
  steps: StepResult[];
  /** Prism's output, per proxy, for failure reports. */
  logs: Record<ProxyName, string>;
}

interface PrismProcess {
  name: ProxyName;
  url: string;
  output: () => string;
  stop: () => Promise<void>;
}

function prismBin(): string {
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve('@stoplight/prism-cli/package.json');
  const pkg = require(pkgPath) as { bin: { prism: string } };
  return join(dirname(pkgPath), pkg.bin.prism);
}

/** Starts `prism proxy` on an OS-chosen port (`--port 0`) and waits until it says where it listens. */
async function startProxy(name: ProxyName, spec: string, upstream: string): Promise<PrismProcess> {
  const args = [prismBin(), 'proxy', spec, upstream, '--host', '127.0.0.1', '--port', '0', ...PROXY_ARGS[name]];
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    output += stripVTControlCharacters(chunk.toString());
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`prism proxy (${name}) did not start within 60 s:\n${output}`)),
      60_000,
    );
    const check = () => {
      const match = /Prism is listening on (http:\/\/\S+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`prism proxy (${name}) exited with ${code} before listening:\n${output}`));
    });
  });
  // Never outlive the run, even when it is interrupted.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  return {
    name,
    url,
    output: () => output,
    stop: () =>
      new Promise<void>((done) => {
        process.off('exit', killOnExit);
        if (child.exitCode !== null || child.signalCode !== null) {
          done();
          return;
        }
        child.once('exit', () => done());
        child.kill('SIGTERM');
      }),
  };
}

interface SendOptions {
  via?: ProxyName;
  method?: string;
  path: string;
  /** Sent as X-API-Key, or as Authorization: Bearer with `bearer`. */
  key?: string;
  bearer?: boolean;
  headers?: Record<string, string>;
  /** JSON-encoded unless `raw`. */
  body?: unknown;
  raw?: string;
  contentType?: string;
  expect: number;
  /** The request is invalid on purpose and goes through the observe proxy: its request violation is expected. */
  invalidRequest?: boolean;
}

interface PrismViolation {
  location?: string[];
  severity?: string;
  message?: string;
}

interface Parsed {
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are read field by field.
  json: any;
  status: number;
  headers: Headers;
}

class Scenario {
  readonly result: ScenarioResult;
  private readonly proxies: Record<ProxyName, PrismProcess>;
  private failedAuthTurn = 0;

  constructor(proxies: Record<ProxyName, PrismProcess>) {
    this.proxies = proxies;
    this.result = {
      requests: 0,
      requestsByProxy: { strict: 0, lenient: 0, observe: 0, down: 0 },
      statuses: {},
      expectedRequestViolations: 0,
      violations: [],
      logViolations: [],
      failures: [],
      steps: [],
      logs: { strict: '', lenient: '', observe: '', down: '' },
    };
  }

  /** A client address of its own for a request that will fail authentication (20 failures a minute per address). */
  freshAddress(): string {
    this.failedAuthTurn += 1;
    return `203.0.113.${(this.failedAuthTurn % 250) + 1}`;
  }

  async send(step: string, options: SendOptions): Promise<Parsed> {
    const via = options.via ?? 'strict';
    const method = options.method ?? 'GET';
    const headers: Record<string, string> = { Accept: 'application/json', ...options.headers };
    if (options.key !== undefined) {
      if (options.bearer) {
        headers.Authorization = `Bearer ${options.key}`;
      } else {
        headers['X-API-Key'] = options.key;
      }
    }
    let body: string | undefined;
    if (options.raw !== undefined) {
      body = options.raw;
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
    }
    if (body !== undefined) {
      headers['Content-Type'] = options.contentType ?? 'application/json';
    }
    const response = await fetch(`${this.proxies[via].url}${options.path}`, { method, headers, body });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const request = `${method} ${options.path}`;
    this.result.requests += 1;
    this.result.requestsByProxy[via] += 1;
    this.result.statuses[response.status] = (this.result.statuses[response.status] ?? 0) + 1;
    this.result.steps.push({ step, proxy: via, request, expected: options.expect, status: response.status });

    // What Prism reported about this exchange: the sl-violations header, and its own problem+json
    // answer in errors mode (which repeats the violations that made it refuse). Counted once each.
    const seen = new Set<string>();
    const record = (source: Violation['source'], entry: PrismViolation) => {
      const where = (entry.location ?? []).join('.');
      const detail = `${entry.severity ?? 'Error'} ${where}: ${entry.message ?? ''}`.trim();
      if (seen.has(`${where}|${entry.message}`)) {
        return;
      }
      seen.add(`${where}|${entry.message}`);
      if (via === 'observe' && options.invalidRequest && entry.location?.[0] === 'request') {
        this.result.expectedRequestViolations += 1;
        return;
      }
      this.result.violations.push({ proxy: via, step: `${step} (${request})`, source, detail });
    };
    const reported = response.headers.get('sl-violations');
    if (reported) {
      let entries: PrismViolation[];
      try {
        entries = JSON.parse(reported);
      } catch {
        entries = [{ message: reported }];
      }
      for (const entry of entries) {
        record('sl-violations', entry);
      }
    }
    const contentType = response.headers.get('content-type') ?? '';
    const problem = json as { type?: unknown; title?: string; validation?: PrismViolation[] } | undefined;
    if (
      contentType.startsWith('application/problem+json') ||
      (typeof problem?.type === 'string' && problem.type.startsWith('https://stoplight.io/prism/'))
    ) {
      const entries = problem?.validation?.length
        ? problem.validation
        : [{ message: `${response.status} ${problem?.title}` }];
      for (const entry of entries) {
        record('prism-error', entry);
      }
    } else if (response.status !== options.expect) {
      this.result.failures.push(
        `${step} (${request} via ${via}): expected ${options.expect}, got ${response.status} ${text.slice(0, 300)}`,
      );
    }
    return { json, status: response.status, headers: response.headers };
  }

  /** Prism's own log lines that report a violation or an error it answered with. */
  scanLogs(): void {
    for (const proxy of Object.values(this.proxies)) {
      const output = proxy.output();
      this.result.logs[proxy.name] = output;
      for (const line of output.split('\n')) {
        const violation = /Violation: (\S*)/.exec(line);
        const terminated = /Request terminated with error/.test(line);
        if (!violation && !terminated) {
          continue;
        }
        // The observe proxy logs the request violations of the requests sent there on purpose.
        if (proxy.name === 'observe' && violation?.[1]?.startsWith('request')) {
          continue;
        }
        this.result.logViolations.push({
          proxy: proxy.name,
          step: 'log',
          source: 'prism-log',
          detail: line.replace(/^\[[^\]]*\]\s*›\s*/, '').trim(),
        });
      }
    }
  }
}

/** Runs the scenario through three Prism proxies in front of `upstream` and returns what Prism reported. */
export async function runScenarios(options: ScenarioOptions): Promise<ScenarioResult> {
  const spec = options.spec ?? join(root, 'generated', 'openapi.yaml');
  const upstreams: Array<[ProxyName, string]> = [
    ['strict', options.upstream],
    ['lenient', options.upstream],
    ['observe', options.upstream],
  ];
  if (options.unavailableUpstream) {
    upstreams.push(['down', options.unavailableUpstream]);
  }
  const started = await Promise.allSettled(upstreams.map(([name, upstream]) => startProxy(name, spec, upstream)));
  const running = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failedStart = started.find((s) => s.status === 'rejected');
  if (failedStart) {
    await Promise.all(running.map((p) => p.stop()));
    throw (failedStart as PromiseRejectedResult).reason;
  }
  const proxies = Object.fromEntries(running.map((p) => [p.name, p])) as Record<ProxyName, PrismProcess>;
  const scenario = new Scenario(proxies);
  try {
    await play(scenario, options.keys, options.failedAuthLimit ?? 20);
    if (options.unavailableUpstream) {
      await playOutage(scenario, options.keys.downKey ?? options.keys.key);
    }
  } finally {
    await Promise.all(running.map((p) => p.stop()));
    scenario.scanLogs();
  }
  return scenario.result;
}

/** The traffic itself: what an integrator does, then everything that can go wrong. */
async function play(s: Scenario, keys: ScenarioKeys, failedAuthLimit: number): Promise<void> {
  const { key } = keys;
  const unique = Date.now().toString(36);
  const email = (name: string) => `${name}.${unique}@example.com`;

  // --- Success paths: every operation. -----------------------------------------------------------
  await s.send('liveness', { path: '/livez', expect: 200 });
  await s.send('health', { path: '/v1/health', key, expect: 200 });
  await s.send('validate the key (Bearer)', { path: '/v1/api-keys/validate', key, bearer: true, expect: 200 });
  await s.send('rate-limit status', { path: '/v1/rate-limit', key, expect: 200 });

  const created = await s.send('create a key', {
    method: 'POST',
    path: '/v1/api-keys',
    key,
    body: { name: 'Scenario key', expirationDays: 30, rateLimit: 500 },
    expect: 201,
  });
  const newKeyId: string = created.json?.data?.keyId ?? 'key_missing';
  const newKey: string = created.json?.data?.apiKey ?? 'mr_missing';
  const readOnly = await s.send('create a read_only key', {
    method: 'POST',
    path: '/v1/api-keys',
    key,
    body: { name: 'Dashboard', access: 'read_only' },
    expect: 201,
  });
  const readOnlyKey: string = readOnly.json?.data?.apiKey ?? 'mr_missing';
  const readOnlyKeyId: string = readOnly.json?.data?.keyId ?? 'key_missing';
  await s.send('list keys', { path: '/v1/api-keys', key, bearer: true, expect: 200 });
  await s.send('get a key', { path: `/v1/api-keys/${newKeyId}`, key, expect: 200 });
  await s.send('rename a key', {
    method: 'PATCH',
    path: `/v1/api-keys/${newKeyId}`,
    key,
    body: { name: 'Scenario key, renamed' },
    expect: 200,
  });
  await s.send('the new key works', { path: '/v1/api-keys/validate', key: newKey, expect: 200 });
  await s.send('read_only key reads', { path: '/v1/api-keys', key: readOnlyKey, bearer: true, expect: 200 });

  const ada = await s.send('create a contact', {
    method: 'POST',
    path: '/v1/contacts',
    key,
    body: { email: email('ada'), firstName: 'Ada', lastName: 'Lovelace' },
    expect: 201,
  });
  const adaId: string = ada.json?.data?.contactId ?? 'ct_missing';
  const grace = await s.send('create a contact with null names, unsubscribed', {
    method: 'POST',
    path: '/v1/contacts',
    key,
    body: { email: email('grace'), firstName: null, lastName: null, subscribed: false },
    expect: 201,
  });
  const graceId: string = grace.json?.data?.contactId ?? 'ct_missing';
  const alan = await s.send('create a third contact', {
    method: 'POST',
    path: '/v1/contacts',
    key,
    bearer: true,
    body: { email: email('alan') },
    expect: 201,
  });
  const alanId: string = alan.json?.data?.contactId ?? 'ct_missing';
  const page = await s.send('list contacts, first page', { path: '/v1/contacts?limit=2', key, expect: 200 });
  const cursor: string = page.json?.meta?.nextCursor ?? 'none';
  await s.send('list contacts, next page', {
    path: `/v1/contacts?limit=2&cursor=${encodeURIComponent(cursor)}`,
    key,
    expect: 200,
  });
  await s.send('list contacts, default page', { path: '/v1/contacts', key, bearer: true, expect: 200 });
  await s.send('get a contact', { path: `/v1/contacts/${adaId}`, key, expect: 200 });
  await s.send('update a contact', {
    method: 'PATCH',
    path: `/v1/contacts/${adaId}`,
    key,
    body: { subscribed: false, lastName: null },
    expect: 200,
  });
  await s.send('change a contact email', {
    method: 'PATCH',
    path: `/v1/contacts/${graceId}`,
    key,
    bearer: true,
    body: { email: email('grace.hopper') },
    expect: 200,
  });
  await s.send('delete a contact', { method: 'DELETE', path: `/v1/contacts/${alanId}`, key, expect: 200 });
  await s.send('revoke a key', { method: 'DELETE', path: `/v1/api-keys/${newKeyId}`, key, expect: 200 });

  // --- 401, each cause. ------------------------------------------------------------------------
  await s.send('401 missing credentials', {
    via: 'observe',
    path: '/v1/api-keys',
    headers: { 'X-Forwarded-For': s.freshAddress() },
    expect: 401,
    invalidRequest: true,
  });
  await s.send('401 not a Bearer credential', {
    via: 'observe',
    path: '/v1/contacts',
    headers: { Authorization: 'Basic dXNlcjpwYXNzd29yZA==', 'X-Forwarded-For': s.freshAddress() },
    expect: 401,
    invalidRequest: true,
  });
  const failedAuth = (name: string, path: string, headers: Record<string, string>) =>
    s.send(`401 ${name}`, { path, headers: { ...headers, 'X-Forwarded-For': s.freshAddress() }, expect: 401 });
  await failedAuth('malformed key', '/v1/health', { 'X-API-Key': 'mr_not_a_key' });
  await failedAuth('malformed Bearer key', '/v1/rate-limit', { Authorization: 'Bearer not-a-key' });
  const last = key.at(-1) === 'A' ? 'B' : 'A';
  await failedAuth('checksum mismatch', '/v1/api-keys', { 'X-API-Key': `${key.slice(0, -1)}${last}` });
  await failedAuth('unknown key', '/v1/contacts', { Authorization: `Bearer ${keys.unknownKey}` });
  await failedAuth('revoked key', '/v1/api-keys/validate', { 'X-API-Key': newKey });
  await failedAuth('expired key', '/v1/api-keys/validate', { Authorization: `Bearer ${keys.expiredKey}` });
  await failedAuth('conflicting credentials', '/v1/api-keys', {
    Authorization: `Bearer ${key}`,
    'X-API-Key': readOnlyKey,
  });

  // --- 403, 404, 409. ----------------------------------------------------------------------------
  await s.send('403 read_only key creates a contact', {
    method: 'POST',
    path: '/v1/contacts',
    key: readOnlyKey,
    body: { email: email('blocked') },
    expect: 403,
  });
  await s.send('403 read_only key revokes itself', {
    method: 'DELETE',
    path: `/v1/api-keys/${readOnlyKeyId}`,
    key: readOnlyKey,
    bearer: true,
    expect: 403,
  });
  await s.send('404 unknown contact', { path: '/v1/contacts/ct_0000000000000000', key, expect: 404 });
  await s.send('404 unknown key', { path: '/v1/api-keys/key_0000000000000000', key, bearer: true, expect: 404 });
  await s.send('404 revoked key is gone', { path: `/v1/api-keys/${newKeyId}`, key, expect: 404 });
  await s.send('404 rename a revoked key', {
    method: 'PATCH',
    path: `/v1/api-keys/${newKeyId}`,
    key,
    body: { name: 'Too late' },
    expect: 404,
  });
  await s.send('404 revoke a revoked key', { method: 'DELETE', path: `/v1/api-keys/${newKeyId}`, key, expect: 404 });
  await s.send('404 update a deleted contact', {
    method: 'PATCH',
    path: `/v1/contacts/${alanId}`,
    key,
    body: { subscribed: true },
    expect: 404,
  });
  await s.send('404 delete a deleted contact', { method: 'DELETE', path: `/v1/contacts/${alanId}`, key, expect: 404 });
  await s.send('409 duplicate email, other case', {
    method: 'POST',
    path: '/v1/contacts',
    key,
    body: { email: email('ada').toUpperCase() },
    expect: 409,
  });
  await s.send("409 change to another contact's email", {
    method: 'PATCH',
    path: `/v1/contacts/${graceId}`,
    key,
    body: { email: email('ada') },
    expect: 409,
  });

  // --- Invalid on purpose: 413, 415, 422 (the lenient proxy lets them reach the server). -----------
  await s.send('413 body over 100 KiB', {
    via: 'lenient',
    method: 'POST',
    path: '/v1/contacts',
    key,
    body: { email: email('big'), firstName: 'x'.repeat(120 * 1024) },
    expect: 413,
  });
  await s.send('415 text/plain body', {
    via: 'lenient',
    method: 'POST',
    path: '/v1/api-keys',
    key,
    raw: 'name=Production API',
    contentType: 'text/plain',
    expect: 415,
  });
  await s.send('415 form body on a patch', {
    via: 'lenient',
    method: 'PATCH',
    path: `/v1/contacts/${adaId}`,
    key,
    raw: 'subscribed=true',
    contentType: 'application/x-www-form-urlencoded',
    expect: 415,
  });
  await s.send('422 key with empty name and expiry too long', {
    via: 'lenient',
    method: 'POST',
    path: '/v1/api-keys',
    key,
    body: { name: '', expirationDays: 400 },
    expect: 422,
  });
  await s.send('422 key with unknown field', {
    via: 'lenient',
    method: 'POST',
    path: '/v1/api-keys',
    key,
    body: { name: 'Extra', scopes: ['all'] },
    expect: 422,
  });
  await s.send('422 contact with bad email', {
    via: 'lenient',
    method: 'POST',
    path: '/v1/contacts',
    key,
    body: { email: 'not-an-email' },
    expect: 422,
  });
  await s.send('422 empty contact patch', {
    via: 'lenient',
    method: 'PATCH',
    path: `/v1/contacts/${adaId}`,
    key,
    body: {},
    expect: 422,
  });
  await s.send('422 rename to an empty name', {
    via: 'lenient',
    method: 'PATCH',
    path: '/v1/api-keys/key_0000000000000000',
    key,
    body: { name: '' },
    expect: 422,
  });
  await s.send('422 limit out of range', { via: 'lenient', path: '/v1/contacts?limit=101', key, expect: 422 });
  await s.send('422 unknown query parameter', { via: 'lenient', path: '/v1/api-keys?verbose=1', key, expect: 422 });
  await s.send('422 foreign cursor', { path: '/v1/contacts?cursor=bm90LWEtY3Vyc29y', key, expect: 422 });

  // --- 429: a plan window, a key's own window, and an address locked out. ---------------------------
  await s.send('tiny plan: the one request of the hour', {
    path: '/v1/api-keys/validate',
    key: keys.tinyKey,
    expect: 200,
  });
  await s.send('429 tiny plan exhausted', { path: '/v1/contacts', key: keys.tinyKey, bearer: true, expect: 429 });
  await s.send('429 tiny plan exhausted, on a write', {
    method: 'POST',
    path: '/v1/contacts',
    key: keys.tinyKey,
    body: { email: email('late') },
    expect: 429,
  });
  await s.send('rate-limit status while exhausted (not counted)', {
    path: '/v1/rate-limit',
    key: keys.tinyKey,
    expect: 200,
  });
  const capped = await s.send('create a key capped at 1 request a minute', {
    method: 'POST',
    path: '/v1/api-keys',
    key,
    body: { name: 'Capped', rateLimit: 1 },
    expect: 201,
  });
  const cappedKey: string = capped.json?.data?.apiKey ?? 'mr_missing';
  await s.send("capped key: its minute's request", { path: '/v1/health', key: cappedKey, expect: 200 });
  await s.send("429 the key's own window", { path: '/v1/health', key: cappedKey, bearer: true, expect: 429 });
  const lockedOut = s.freshAddress();
  for (let attempt = 0; attempt <= failedAuthLimit; attempt++) {
    const res = await s.send('failed authentication towards a lockout', {
      path: '/v1/api-keys/validate',
      headers: { 'X-API-Key': 'mr_not_a_key', 'X-Forwarded-For': lockedOut },
      expect: attempt < failedAuthLimit ? 401 : 429,
    });
    if (res.status !== 401) {
      break;
    }
  }
  await s.send('429 address locked out, even with a valid key', {
    path: '/v1/rate-limit',
    key,
    headers: { 'X-Forwarded-For': lockedOut },
    expect: 429,
  });
}

/** The server whose rate-limit store is down (fail-closed): still alive, but every /v1 request is refused. */
async function playOutage(s: Scenario, key: string): Promise<void> {
  await s.send('outage: still alive', { via: 'down', path: '/livez', expect: 200 });
  await s.send('503 outage: health', { via: 'down', path: '/v1/health', key, expect: 503 });
  await s.send('503 outage: rate-limit status', {
    via: 'down',
    path: '/v1/rate-limit',
    key,
    bearer: true,
    expect: 503,
  });
  await s.send('503 outage: create a contact', {
    via: 'down',
    method: 'POST',
    path: '/v1/contacts',
    key,
    body: { email: 'outage@example.com' },
    expect: 503,
  });
}
