// Registering the Dredd hooks: before each transaction, whether it runs in this phase (deferred to the last phase,
// skipped on a target that is not a sandbox, needing scenarios) and its arrangement by status; before validation, the
// Content-Type compared by media type; after each, its outcome journalled and what it made noted; after all, the
// journal the runner reads back (src/contract/dredd.ts).

const { appendFileSync, writeFileSync } = require('node:fs');

/** Why a sandbox-only operation (`x-sandbox-only: true`) is not sent to a target the run was not told is a sandbox. */
const SANDBOX_ONLY_REASON =
  'sandbox-only: x-sandbox-only operations exist only on a sandbox (mailroom serve --sandbox), and one may reset ' +
  'everything; not sent, as the target was not given as a sandbox (mailroom contract --sandbox)';

/** Why a secret scanner's report is not sent to a target without GitHub's side of a key pair the target knows. */
const SECRET_SCANNING_REASON =
  'secret-scanning: only a report signed by a key the target knows (MAILROOM_SECRET_SCANNING_PUBLIC_KEYS) gets ' +
  'this far; not sent, as the run was given no secret-scanning private key (mailroom contract --secret-scanning-key ' +
  'FILE --secret-scanning-key-id ID)';
/** The statuses of a signed operation a report reaches only with a known key identifier (and, for 2xx, a valid signature). */
const SIGNED_STATUSES = /^(2..|400|405|413|415|422|429)$/;

/** Runs an async hook with Dredd's callback; an error fails the transaction instead of stopping Dredd. */
const safely = (fn) => (data, done) => {
  fn(data).then(
    () => done(),
    (error) => {
      const message = error instanceof Error ? error.message : String(error);
      if (!Array.isArray(data)) {
        data.fail = `hook error: ${message}`;
      }
      done();
    },
  );
};

/** What the hooks record of each transaction: its request id, arrangement, skip reason and time. */
function createJournal(context) {
  const journal = {
    arranged: new Map(),
    skipReasons: new Map(),
    requestIds: new Map(),
    startedAt: new Map(),
    seconds: new Map(),
    secondsOf: (name) => (journal.startedAt.has(name) ? (Date.now() - journal.startedAt.get(name)) / 1000 : 0),
    /** One line per event, so a run stopped early (fail-fast) still knows what each transaction did. */
    progress: (entry) => appendFileSync(context.progress, `${JSON.stringify(entry)}\n`),
    skip(transaction, reason) {
      transaction.skip = true;
      journal.skipReasons.set(transaction.name, reason);
      journal.progress({
        name: transaction.name,
        requestId: journal.requestIds.get(transaction.name),
        status: 'skip',
        skipReason: reason,
      });
    },
  };
  return journal;
}

/** Why a transaction is not sent to this target in this phase, or undefined when it is. */
function reasonNotToRun(run, operation, status, isDeferred) {
  const { context } = run;
  if (operation['x-sandbox-only'] === true && !context.sandbox) {
    return SANDBOX_ONLY_REASON;
  }
  if (!context.secretScanning && run.credentialKind(operation) === 'signature' && SIGNED_STATUSES.test(status)) {
    return SECRET_SCANNING_REASON;
  }
  if (isDeferred && context.phase !== 'lockout') {
    return operation['x-sandbox-only'] === true
      ? 'deferred: runs last, because resetting the sandbox wipes what the run made'
      : 'deferred: runs last, because locking out this client address refuses what follows';
  }
  return undefined;
}

/** Why a transaction needs scenarios on a target that does not honour them, or undefined. */
function reasonNeedsScenarios(run, operation, status) {
  if (run.context.scenarios) {
    return undefined;
  }
  if (status === '500' || status === '503') {
    return `needs scenarios: only a cooperative server answers ${status} on request (Prefer: code=${status})`;
  }
  const scenarioOnly = run.SCENARIO_ONLY_PAIRS[`${operation.operationId} ${status}`];
  return scenarioOnly ? `needs scenarios: ${scenarioOnly}` : undefined;
}

/** What every transaction gets before its arrangement: its request id, schema, expectations and a fresh key. */
function prepare(run, transaction, operation, status, id) {
  const { setHeader, responseSchema, dropOptionalHeaders, takesIdempotencyKey, freshIdempotencyKey, setPath } = run;
  // Dredd runs every OpenAPI 3 transaction, non-2xx included; make that explicit.
  transaction.skip = false;
  setHeader(transaction, 'X-Request-Id', id);
  transaction.expected.bodySchema = responseSchema(operation, status);
  dropOptionalHeaders(transaction, operation, status);
  if (takesIdempotencyKey(transaction, operation)) {
    // The spec's example value would make every create after the first a replay (or a reuse).
    setHeader(transaction, 'Idempotency-Key', freshIdempotencyKey(id));
  }
  if (transaction.origin.resourceName === '/v1/contacts' && transaction.request.method === 'GET') {
    setPath(transaction, '/v1/contacts?limit=20'); // not the example's made-up cursor
  }
  if (/\/request-logs$/.test(transaction.origin.resourceName) && transaction.request.method === 'GET') {
    // Not the example's made-up cursor (nor its day in the past, past the log's retention).
    const [path] = transaction.fullPath.split('?');
    setPath(transaction, `${path}?limit=20`);
  }
}

/** The arrangement of `status`: forced for 500 and 503, by status otherwise. */
function arrange(run, transaction, operation, status, id) {
  const { arrangeByStatus } = run;
  if (status === '500' || status === '503') {
    return arrangeByStatus.forced(transaction, operation, id, status);
  }
  const arrangement = status.startsWith('2') ? arrangeByStatus.success : arrangeByStatus[status];
  if (!arrangement) {
    throw new Error(`no arrangement for status ${status}: add one to src/contract/dredd-hooks/arrange-*.cjs`);
  }
  return arrangement(transaction, operation, id);
}

/** The before-each hook: whether the transaction runs here, then its arrangement. */
function beforeEach(run, journal) {
  const { context, operationOf } = run;
  const deferred = new Set(context.deferred);
  let index = 0;
  return async (transaction) => {
    const isDeferred = deferred.has(transaction.name);
    if (context.phase === 'lockout' && !isDeferred) {
      return; // Dredd's --only skips it; arrange nothing
    }
    const status = String(transaction.expected.statusCode);
    const operation = operationOf(transaction);
    const notHere = reasonNotToRun(run, operation, status, isDeferred);
    if (notHere) {
      journal.skip(transaction, notHere);
      return;
    }
    index += 1;
    const id = `mrc-${context.runId}.${context.phase === 'lockout' ? 'l' : 'd'}:${index}`;
    journal.requestIds.set(transaction.name, id);
    journal.startedAt.set(transaction.name, Date.now());
    journal.progress({ name: transaction.name, requestId: id });
    const needs = reasonNeedsScenarios(run, operation, status);
    if (needs) {
      journal.skip(transaction, needs);
      return;
    }
    prepare(run, transaction, operation, status, id);
    const arrangement = await arrange(run, transaction, operation, status, id);
    journal.arranged.set(transaction.name, arrangement);
    journal.progress({
      name: transaction.name,
      requestId: id,
      request: `${transaction.request.method} ${transaction.fullPath}`,
      arranged: arrangement,
    });
  };
}

// Dredd compares Content-Type as a plain string, so the spec's `application/json` would not match the
// server's `application/json; charset=utf-8`. Compare the media type only (parameters ignored).
const mediaType = (value) => String(value).split(';')[0].trim().toLowerCase();

function beforeEachValidation(transaction) {
  const expected = transaction.expected.headers ?? {};
  const actual = transaction.real?.headers ?? {};
  const expectedName = Object.keys(expected).find((name) => name.toLowerCase() === 'content-type');
  const actualName = Object.keys(actual).find((name) => name.toLowerCase() === 'content-type');
  if (expectedName && actualName && mediaType(expected[expectedName]) === mediaType(actual[actualName])) {
    expected[expectedName] = actual[actualName];
  }
}

/** The after-each hook: the outcome journalled; a session, a rotated key and the failed-auth window noted. */
function afterEach(run, journal) {
  const { state, spareTokens, noteCreated } = run;
  const { arranged, requestIds, seconds, secondsOf, progress } = journal;
  return (transaction, done) => {
    const real = transaction.real;
    if (!transaction.skip && requestIds.has(transaction.name)) {
      seconds.set(transaction.name, secondsOf(transaction.name));
      progress({
        seconds: seconds.get(transaction.name),
        name: transaction.name,
        requestId: requestIds.get(transaction.name),
        status: transaction.test?.status ?? 'error',
        request: `${transaction.request.method} ${transaction.fullPath}`,
        arranged: arranged.get(transaction.name),
        actualStatus: real?.statusCode,
        message: transaction.test?.status === 'fail' ? transaction.test?.message : undefined,
      });
    }
    if (real && real.statusCode >= 200 && real.statusCode < 300 && !transaction.skip) {
      let body;
      try {
        body = JSON.parse(real.body);
      } catch {
        body = undefined;
      }
      const data = body?.data;
      if (typeof data?.token === 'string' && data?.user) {
        spareTokens.push(data.token); // a sign-up's or log-in's session, for the log-out case
      }
      if (
        typeof data?.keyId === 'string' &&
        typeof data?.apiKey === 'string' &&
        transaction.fullPath.startsWith('/v1/')
      ) {
        noteCreated('key', data.keyId); // a rotation's new key
      }
    }
    if (real?.statusCode === 401) {
      const headers = Object.fromEntries(Object.entries(real.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
      const remaining = Number(headers['x-ratelimit-remaining']);
      const reset = Number(headers['x-ratelimit-reset']);
      if (Number.isInteger(remaining) && Number.isInteger(reset)) {
        state.authWindow = { remaining, resetAt: Date.now() + Math.max(reset, 1) * 1000 };
      }
    }
    done();
  };
}

/** The after-all hook: the journal the runner reads back. */
function afterAll(run, journal) {
  const { context } = run;
  const deferred = new Set(context.deferred);
  const { arranged, requestIds, seconds, skipReasons } = journal;
  return (transactions, done) => {
    const entries = transactions
      .filter((t) => context.phase === 'main' || deferred.has(t.name))
      .map((t) => {
        const status = t.skip ? 'skip' : (t.test?.status ?? 'error');
        return {
          name: t.name,
          requestId: requestIds.get(t.name),
          status,
          request: `${t.request.method} ${t.fullPath}`,
          arranged: arranged.get(t.name),
          skipReason: t.skip ? (skipReasons.get(t.name) ?? 'skipped') : undefined,
          actualStatus: t.real?.statusCode,
          seconds: seconds.get(t.name) ?? 0,
          message: status === 'fail' || status === 'error' ? t.test?.message || t.fail || 'no result' : undefined,
        };
      });
    writeFileSync(context.journal, `${JSON.stringify({ transactions: entries }, null, 2)}\n`);
    done();
  };
}

/**
 * The before-all hook of the last phase: its transactions in the order the runner listed them (src/contract/run.ts
 * `lockoutTransactions`: the lockout last, so nothing waits it out), not the spec's. Dredd runs the array in order.
 */
function orderDeferred(run) {
  const rank = new Map(run.context.deferred.map((name, index) => [name, index]));
  return (transactions, done) => {
    if (run.context.phase === 'lockout') {
      transactions.sort((a, b) => (rank.get(a.name) ?? -1) - (rank.get(b.name) ?? -1));
    }
    done();
  };
}

/** Registers every hook with Dredd's `hooks` module. */
function register(hooks, run) {
  const journal = createJournal(run.context);
  hooks.beforeAll(orderDeferred(run));
  hooks.beforeEach(safely(beforeEach(run, journal)));
  hooks.beforeEachValidation(beforeEachValidation);
  hooks.afterEach(afterEach(run, journal));
  hooks.afterAll(afterAll(run, journal));
}

module.exports = { register };
