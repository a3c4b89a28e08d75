// Dredd hooks of a contract run (src/contract/dredd.ts starts Dredd with them). Dredd 14 loads Node.js
// hooks with require() through proxyquire, which injects the `hooks` module: hence CommonJS.
//
// Every transaction of the spec (one per documented operation × status) is arranged here, through the
// public API only, so the target really produces the documented status: credentials for 2xx (X-API-Key and
// Authorization: Bearer in turn), each 401 cause in turn, resources created for get / rename / revoke /
// delete, an unknown id for 404, a duplicate email for 409, malformed JSON for 400, text/plain for 415, a
// 110 KiB body for 413, PUT for 405, an invalid body or query for 422, a read_only key for 403, a key whose
// own one-request-a-minute window is spent for 429. What only a cooperative server can produce (500, 503)
// is forced with `Prefer: code=…` when the target honours it, and skipped as "needs scenarios" otherwise.
// The 429 of the rate-limit status read (only a locked-out client address gets it) runs last, in a second
// Dredd run, because locking out this address would refuse everything after it.
//
// Every request goes to the run's observer (Dredd's endpoint), which sends it through Prism's validating
// proxy and checks header semantics; each carries an X-Request-Id naming its transaction. Response bodies
// are also validated here against the strict spec's schema (`expected.bodySchema`), because Dredd's OpenAPI
// 3 parser never produces one itself.
//
// MAILROOM_CONTRACT_CONTEXT names a JSON file written by the runner: { runId, phase ("main" | "lockout"),
// strictSpec, journal, progress, created, scenarios, deferred: [transaction names], keys: { admin, readOnly,
// capped, revoked, unknown }, observer }.

const { appendFileSync, readFileSync, writeFileSync } = require('node:fs');

const ROUTE_HEADER = 'X-Contract-Route';
const INTENT_HEADER = 'X-Contract-Intent';

let hooks;
try {
  hooks = require('hooks');
} catch {
  hooks = undefined;
}
if (hooks) {
  registerHooks(hooks);
}

function registerHooks(hooks) {
  const context = JSON.parse(readFileSync(process.env.MAILROOM_CONTRACT_CONTEXT, 'utf8'));
  const { keys } = context;
  const spec = JSON.parse(readFileSync(context.strictSpec, 'utf8'));
  const deferred = new Set(context.deferred);
  const arranged = new Map();
  const skipReasons = new Map();
  const requestIds = new Map();
  const startedAt = new Map();
  const secondsOf = (name) => (startedAt.has(name) ? (Date.now() - startedAt.get(name)) / 1000 : 0);
  const seconds = new Map();
  let index = 0;
  let counter = 0;
  let authTurn = 0;
  let failedAuthTurn = 0;
  /** The auth-failures window of this client address, as the last 401 described it. */
  let authWindow;

  // ---------------------------------------------------------------------------------------------
  // HTTP to the target (through the observer) for arrangements; the transactions themselves are Dredd's.

  async function call(transactionId, method, path, { key, headers = {}, body, direct = false, invalid = false } = {}) {
    counter += 1;
    const init = {
      method,
      headers: { Accept: 'application/json', 'X-Request-Id': `${transactionId}.a${counter}`, ...headers },
    };
    if (key) {
      init.headers['X-API-Key'] = key;
    }
    if (direct) {
      init.headers[ROUTE_HEADER] = 'direct';
    }
    if (invalid) {
      init.headers[INTENT_HEADER] = 'invalid';
    }
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await fetch(new URL(path, context.observer), init);
    const text = await response.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, json, text };
  }

  async function expectCall(status, transactionId, method, path, options) {
    const res = await call(transactionId, method, path, options);
    if (res.status !== status) {
      throw new Error(
        `arranging: ${method} ${path} answered ${res.status}, expected ${status}: ${res.text.slice(0, 300)}`,
      );
    }
    return res.json;
  }

  const uniqueEmail = () => `dredd.${context.runId}.${++counter}@example.com`;
  const noteCreated = (kind, id) => appendFileSync(context.created, `${JSON.stringify({ kind, id })}\n`);

  async function createKey(transactionId, body = { name: `Contract run: Dredd key ${++counter}` }) {
    const data = (await expectCall(201, transactionId, 'POST', '/v1/api-keys', { key: keys.admin, body })).data;
    noteCreated('key', data.keyId);
    return data;
  }

  async function createContact(transactionId, email = uniqueEmail()) {
    const body = { email, firstName: 'Ada' };
    const data = (await expectCall(201, transactionId, 'POST', '/v1/contacts', { key: keys.admin, body })).data;
    noteCreated('contact', data.contactId);
    return data;
  }

  // Shared resources for the error cases that need an existing id (created once, on first use).
  let fixtureKey;
  let fixtureContact;
  const fixtureKeyId = async (id) => {
    fixtureKey ??= createKey(id, { name: 'Contract run: Dredd fixture key' });
    return (await fixtureKey).keyId;
  };
  const fixtureContactId = async (id) => {
    fixtureContact ??= createContact(id);
    return (await fixtureContact).contactId;
  };

  // ---------------------------------------------------------------------------------------------
  // The strict spec: the response schema of every transaction, as a JSON Schema Gavel (draft-07) reads.

  function operationOf(transaction) {
    const method = transaction.request.method.toLowerCase();
    const operation = spec.paths?.[transaction.origin.resourceName]?.[method];
    if (!operation) {
      throw new Error(`no operation ${method.toUpperCase()} ${transaction.origin.resourceName} in the spec`);
    }
    return operation;
  }

  function responseSchema(operation, status) {
    const schema = operation.responses?.[status]?.content?.['application/json']?.schema;
    if (!schema) {
      throw new Error(`response ${status} of ${operation.operationId} has no application/json schema`);
    }
    // The strict spec is inlined; Gavel's Ajv (draft-07) checks everything but unevaluatedProperties, which
    // Prism (2020-12) checks on the same response.
    return JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', ...schema });
  }

  // ---------------------------------------------------------------------------------------------
  // Arranging one transaction.

  function setHeader(transaction, name, value) {
    for (const existing of Object.keys(transaction.request.headers)) {
      if (existing.toLowerCase() === name.toLowerCase()) {
        delete transaction.request.headers[existing];
      }
    }
    if (value !== undefined) {
      transaction.request.headers[name] = value;
    }
  }

  /** Sends `key` in X-API-Key and Authorization: Bearer in turn. */
  function authenticate(transaction, key = keys.admin) {
    if (authTurn++ % 2 === 0) {
      setHeader(transaction, 'X-API-Key', key);
    } else {
      setHeader(transaction, 'Authorization', `Bearer ${key}`);
    }
  }

  function setPath(transaction, path) {
    transaction.fullPath = path;
    transaction.request.uri = path;
  }

  function setId(transaction, id) {
    setPath(transaction, transaction.origin.resourceName.replace(/\{[^}]+\}/, encodeURIComponent(id)));
  }

  function setBody(transaction, body, contentType = 'application/json') {
    transaction.request.body = typeof body === 'string' ? body : JSON.stringify(body);
    setHeader(transaction, 'Content-Type', contentType);
  }

  const invalidOnPurpose = (transaction) => setHeader(transaction, INTENT_HEADER, 'invalid');
  const hasIdParam = (transaction) => /\{[^}]+\}/.test(transaction.origin.resourceName);
  const isContactPath = (transaction) => transaction.origin.resourceName.startsWith('/v1/contacts');

  /** Points a path with an id at a resource that exists, so the status under test isn't a masked 404. */
  async function useExistingId(transaction, id) {
    if (hasIdParam(transaction)) {
      setId(transaction, isContactPath(transaction) ? await fixtureContactId(id) : await fixtureKeyId(id));
    }
  }

  /** Each 401 cause, in turn; the expired key is a scenario step (only a cooperative server has one). */
  const FAILED_AUTH_CAUSES = [
    ['missing credentials', () => {}],
    ['malformed key', (t) => setHeader(t, 'X-API-Key', 'mr_not_a_key')],
    [
      'checksum mismatch',
      (t) => {
        const last = keys.admin.at(-1);
        setHeader(t, 'Authorization', `Bearer ${keys.admin.slice(0, -1)}${last === 'A' ? 'B' : 'A'}`);
      },
    ],
    ['unknown key', (t) => setHeader(t, 'X-API-Key', keys.unknown)],
    ['revoked key', (t) => setHeader(t, 'Authorization', `Bearer ${keys.revoked}`)],
    [
      'conflicting credentials',
      (t) => {
        setHeader(t, 'Authorization', `Bearer ${keys.admin}`);
        setHeader(t, 'X-API-Key', keys.readOnly);
      },
    ],
    ['not a Bearer credential', (t) => setHeader(t, 'Authorization', 'Basic dXNlcjpwYXNzd29yZA==')],
    ['malformed Bearer key', (t) => setHeader(t, 'Authorization', 'Bearer not-a-key')],
  ];

  /** Invalid input per operation: a query parameter for reads and deletes, a body for writes. */
  const INVALID_INPUT = {
    listContacts: { query: 'limit=0', why: 'limit=0 (minimum 1)' },
    createApiKey: { body: { name: '', expirationDays: 400 }, why: 'empty name, expirationDays over 365' },
    renameApiKey: { body: { name: 'x'.repeat(101) }, why: 'name over 100 characters' },
    createContact: { body: { email: 'not-an-email', nickname: 'Ada' }, why: 'bad email format, unknown field' },
    updateContact: { body: {}, why: 'empty patch (minProperties 1)' },
  };

  const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

  /** Spends the capped key's one request a minute, so its next request is refused. */
  async function exhaustCapped(id) {
    for (let attempt = 0; attempt < 3; attempt++) {
      const res = await call(id, 'GET', '/v1/api-keys/validate', { key: keys.capped });
      if (res.status === 429) {
        return;
      }
    }
    throw new Error('arranging: the key capped at 1 request a minute was never refused with 429');
  }

  /** Fails authentication from this address until the target locks it out (429). */
  async function lockOutThisAddress(id) {
    for (let attempt = 0; attempt < 2000; attempt++) {
      const res = await call(id, 'GET', '/v1/api-keys/validate', {
        headers: { 'X-API-Key': 'mr_not_a_key' },
        direct: true,
        invalid: true,
      });
      if (res.status === 429) {
        return attempt + 1;
      }
      if (res.status !== 401) {
        throw new Error(`arranging the lockout: a failed authentication answered ${res.status}, expected 401 then 429`);
      }
    }
    throw new Error('arranging the lockout: 2000 failed authentications and this address is still not refused');
  }

  const arrangeByStatus = {
    async success(transaction, operation, id) {
      const opId = operation.operationId;
      if (Array.isArray(operation.security) && operation.security.length === 0) {
        return 'no credentials (the operation needs none)';
      }
      authenticate(transaction);
      if (['getApiKey', 'renameApiKey', 'revokeApiKey'].includes(opId)) {
        const created = await createKey(id);
        setId(transaction, created.keyId);
        return `a key created for it (${created.keyId})`;
      }
      if (['getContact', 'updateContact', 'deleteContact'].includes(opId)) {
        const created = await createContact(id);
        setId(transaction, created.contactId);
        return `a contact created for it (${created.contactId})`;
      }
      if (opId === 'createContact') {
        setBody(transaction, { email: uniqueEmail(), firstName: 'Ada', lastName: 'Lovelace' });
        return 'a new email';
      }
      if (opId === 'createApiKey') {
        const body = JSON.parse(transaction.request.body || '{}');
        return `the spec's example (${body.name ?? 'no name'})`;
      }
      if (opId === 'listContacts') {
        for (let i = 0; i < 3; i++) {
          await createContact(id);
        }
        const first = await expectCall(200, id, 'GET', '/v1/contacts?limit=1', { key: keys.admin });
        if (!first.meta?.nextCursor) {
          throw new Error('GET /v1/contacts?limit=1 gave no nextCursor with 3 contacts');
        }
        setPath(transaction, `/v1/contacts?limit=1&cursor=${encodeURIComponent(first.meta.nextCursor)}`);
        return 'the second page, with a real cursor';
      }
      return 'valid credentials';
    },

    async 400(transaction, _operation, id) {
      authenticate(transaction);
      await useExistingId(transaction, id);
      setBody(transaction, '{"name": "unterminated');
      // Prism parses JSON bodies itself and would answer malformed JSON with its own 400.
      setHeader(transaction, ROUTE_HEADER, 'direct');
      invalidOnPurpose(transaction);
      return 'malformed JSON body (sent past Prism)';
    },

    async 401(transaction) {
      setHeader(transaction, 'Authorization', undefined);
      setHeader(transaction, 'X-API-Key', undefined);
      const [cause, apply] = FAILED_AUTH_CAUSES[failedAuthTurn++ % FAILED_AUTH_CAUSES.length];
      apply(transaction);
      invalidOnPurpose(transaction);
      // Failed attempts are limited per client address: when the last 401 said none are left, wait.
      if (authWindow && authWindow.remaining <= 0 && Date.now() < authWindow.resetAt) {
        await sleep(authWindow.resetAt - Date.now() + 100);
      }
      return cause;
    },

    async 403(transaction, _operation, id) {
      authenticate(transaction, keys.readOnly);
      await useExistingId(transaction, id);
      return 'a read_only key writing';
    },

    async 404(transaction) {
      authenticate(transaction);
      setId(transaction, isContactPath(transaction) ? 'ct_0000000000000000' : 'key_0000000000000000');
      return 'an id that does not exist';
    },

    async 405(transaction) {
      if (transaction.origin.resourceName.startsWith('/v1')) {
        authenticate(transaction);
      }
      transaction.request.method = 'PUT';
      invalidOnPurpose(transaction);
      return 'PUT, which no path supports';
    },

    async 409(transaction, operation, id) {
      authenticate(transaction);
      const existing = await createContact(id);
      if (operation.operationId === 'updateContact') {
        const other = await createContact(id);
        setId(transaction, other.contactId);
        setBody(transaction, { email: existing.email });
        return "another contact's email";
      }
      setBody(transaction, { email: existing.email.toUpperCase() });
      return 'an existing email, in other case';
    },

    async 413(transaction, _operation, id) {
      authenticate(transaction);
      await useExistingId(transaction, id);
      setBody(transaction, { name: 'x'.repeat(110 * 1024) });
      invalidOnPurpose(transaction);
      return 'a 110 KiB body';
    },

    async 415(transaction, _operation, id) {
      authenticate(transaction);
      await useExistingId(transaction, id);
      setBody(transaction, 'name=Production API', 'text/plain');
      invalidOnPurpose(transaction);
      return 'a text/plain body';
    },

    async 422(transaction, operation, id) {
      authenticate(transaction);
      await useExistingId(transaction, id);
      invalidOnPurpose(transaction);
      const invalid = INVALID_INPUT[operation.operationId];
      if (invalid?.body) {
        setBody(transaction, invalid.body);
        return invalid.why;
      }
      const [path] = transaction.fullPath.split('?');
      setPath(transaction, `${path}?${invalid?.query ?? 'unexpected=1'}`);
      return invalid?.why ?? 'an unknown query parameter';
    },

    async 429(transaction, operation, id) {
      if (operation.operationId === 'getRateLimitStatus') {
        if (context.scenarios) {
          authenticate(transaction);
          setHeader(transaction, 'Prefer', 'code=429');
          return 'forced with Prefer: code=429 (the status read is refused only for a locked-out address)';
        }
        const attempts = await lockOutThisAddress(id);
        authenticate(transaction);
        return `this client address locked out by ${attempts} failed authentications`;
      }
      await exhaustCapped(id);
      authenticate(transaction, keys.capped);
      return 'a key whose own one-request-a-minute window is spent';
    },

    async forced(transaction, operation, id, status) {
      await arrangeByStatus.success(transaction, operation, id);
      setHeader(transaction, 'Prefer', `code=${status}`);
      return `forced with Prefer: code=${status}`;
    },
  };

  // ---------------------------------------------------------------------------------------------
  // Hooks.

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

  function skip(transaction, reason) {
    transaction.skip = true;
    skipReasons.set(transaction.name, reason);
    progress({
      name: transaction.name,
      requestId: requestIds.get(transaction.name),
      status: 'skip',
      skipReason: reason,
    });
  }

  /** One line per event, so a run stopped early (fail-fast) still knows what each transaction did. */
  const progress = (entry) => appendFileSync(context.progress, `${JSON.stringify(entry)}\n`);

  hooks.beforeEach(
    safely(async (transaction) => {
      const isDeferred = deferred.has(transaction.name);
      if (context.phase === 'lockout') {
        if (!isDeferred) {
          return; // Dredd's --only skips it; arrange nothing
        }
      } else if (isDeferred) {
        skip(transaction, 'deferred: runs last, because locking out this client address refuses what follows');
        return;
      }
      const status = String(transaction.expected.statusCode);
      const operation = operationOf(transaction);
      index += 1;
      const id = `mrc-${context.runId}.${context.phase === 'lockout' ? 'l' : 'd'}:${index}`;
      requestIds.set(transaction.name, id);
      startedAt.set(transaction.name, Date.now());
      progress({ name: transaction.name, requestId: id });
      if (status === '500' || status === '503') {
        if (!context.scenarios) {
          skip(
            transaction,
            `needs scenarios: only a cooperative server answers ${status} on request (Prefer: code=${status})`,
          );
          return;
        }
      }
      // Dredd runs every OpenAPI 3 transaction, non-2xx included; make that explicit.
      transaction.skip = false;
      setHeader(transaction, 'X-Request-Id', id);
      transaction.expected.bodySchema = responseSchema(operation, status);
      if (transaction.origin.resourceName === '/v1/contacts' && transaction.request.method === 'GET') {
        setPath(transaction, '/v1/contacts?limit=20'); // not the example's made-up cursor
      }
      let arrangement;
      if (status === '500' || status === '503') {
        arrangement = await arrangeByStatus.forced(transaction, operation, id, status);
      } else {
        const arrange = status.startsWith('2') ? arrangeByStatus.success : arrangeByStatus[status];
        if (!arrange) {
          throw new Error(`no arrangement for status ${status}: add one to src/contract/dredd-hooks.cjs`);
        }
        arrangement = await arrange(transaction, operation, id);
      }
      arranged.set(transaction.name, arrangement);
      progress({
        name: transaction.name,
        requestId: id,
        request: `${transaction.request.method} ${transaction.fullPath}`,
        arranged: arrangement,
      });
    }),
  );

  // Dredd compares Content-Type as a plain string, so the spec's `application/json` would not match the
  // server's `application/json; charset=utf-8`. Compare the media type only (parameters ignored).
  const mediaType = (value) => String(value).split(';')[0].trim().toLowerCase();
  hooks.beforeEachValidation((transaction) => {
    const expected = transaction.expected.headers ?? {};
    const actual = transaction.real?.headers ?? {};
    const expectedName = Object.keys(expected).find((name) => name.toLowerCase() === 'content-type');
    const actualName = Object.keys(actual).find((name) => name.toLowerCase() === 'content-type');
    if (expectedName && actualName && mediaType(expected[expectedName]) === mediaType(actual[actualName])) {
      expected[expectedName] = actual[actualName];
    }
  });

  hooks.afterEach((transaction, done) => {
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
    if (real?.statusCode === 401) {
      const headers = Object.fromEntries(Object.entries(real.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
      const remaining = Number(headers['x-ratelimit-remaining']);
      const reset = Number(headers['x-ratelimit-reset']);
      if (Number.isInteger(remaining) && Number.isInteger(reset)) {
        authWindow = { remaining, resetAt: Date.now() + Math.max(reset, 1) * 1000 };
      }
    }
    done();
  });

  hooks.afterAll((transactions, done) => {
    const journal = transactions
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
    writeFileSync(context.journal, `${JSON.stringify({ transactions: journal }, null, 2)}\n`);
    done();
  });
}
