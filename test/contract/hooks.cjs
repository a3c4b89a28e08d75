// Dredd hooks of the contract run (`npm run test:contract`, scripts/contract.mjs). Dredd 14 loads
// Node.js hooks with require() through proxyquire, which injects the `hooks` module: hence
// CommonJS. Loaded by anything else (scripts/contract.mjs reads EXPLAINED_SKIPS), the file only
// exports its tables.
//
// Every transaction of the spec is arranged here so the server really produces the documented
// status: credentials for 2xx (alternating X-API-Key and Authorization: Bearer), each 401 cause in
// turn, real ids created beforehand for get / rename / revoke / delete, an unknown id for 404, a
// duplicate for 409, an invalid body or query for 422, malformed JSON for 400, text/plain for 415,
// a >100 KiB body for 413, PUT for 405, a read_only key for 403, an exhausted limit for 429, headers
// over 16 KiB for 431 and a server whose rate-limit store is down for 503.
// Every response body is then validated against the response's JSON Schema from the spec
// (injected as `expected.bodySchema`), because Dredd's OpenAPI 3 parser never produces one itself.
//
// Environment (set by scripts/contract.mjs):
//   MAILROOM_CONTRACT_TARGET       base URL Dredd tests (the server, or a proxy in front of it)
//   MAILROOM_CONTRACT_SPEC         the bundled spec Dredd reads (generated/openapi.yaml)
//   MAILROOM_CONTRACT_REPORT       where to write the per-transaction journal (JSON)
//   MAILROOM_CONTRACT_KEY          a full-access key on a plan with room for the whole run
//   MAILROOM_CONTRACT_TINY_KEY     a key of an organization on a plan allowing 1 request an hour
//   MAILROOM_CONTRACT_EXPIRED_KEY  a key that expired yesterday
//   MAILROOM_CONTRACT_UNKNOWN_KEY  a well-formed key (valid checksum) the server never issued
//   MAILROOM_CONTRACT_DOWN_TARGET  base URL of a second server whose rate-limit store (Redis, fail-closed) is
//                                  unreachable: the 503 transactions are sent there
//   MAILROOM_CONTRACT_DOWN_KEY     a key of that second server

const { readFileSync, writeFileSync } = require('node:fs');
const { parse: parseYaml } = require('yaml');

/**
 * The only transactions that may be skipped, and why. scripts/contract.mjs fails the run on a
 * skipped transaction that no entry explains, and on an entry that explains nothing.
 */
const EXPLAINED_SKIPS = [
  {
    pattern: / > 500 > application\/json$/,
    reason:
      'SERVER_ERROR is what an unexpected exception (a bug) answers: no request and no configuration makes a correct ' +
      'server produce it, and the contract run injects no faults into the code. Its body is the ErrorEnvelope that ' +
      'the same error handler writes for every error status checked here.',
  },
];

/** The reason a transaction is skipped, or undefined when it must run. */
function explainSkip(name) {
  return EXPLAINED_SKIPS.find((entry) => entry.pattern.test(name))?.reason;
}

module.exports = { EXPLAINED_SKIPS, explainSkip };

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
  const env = {
    target: process.env.MAILROOM_CONTRACT_TARGET,
    spec: process.env.MAILROOM_CONTRACT_SPEC,
    report: process.env.MAILROOM_CONTRACT_REPORT,
    key: process.env.MAILROOM_CONTRACT_KEY,
    tinyKey: process.env.MAILROOM_CONTRACT_TINY_KEY,
    expiredKey: process.env.MAILROOM_CONTRACT_EXPIRED_KEY,
    unknownKey: process.env.MAILROOM_CONTRACT_UNKNOWN_KEY,
    downTarget: process.env.MAILROOM_CONTRACT_DOWN_TARGET,
    downKey: process.env.MAILROOM_CONTRACT_DOWN_KEY,
  };
  let setupError;
  let spec;
  const state = { readOnlyKey: undefined, revokedKey: undefined };
  /** What each transaction was arranged to do, by name (for the journal). */
  const arranged = new Map();
  const skipReasons = new Map();
  let counter = 0;
  let authTurn = 0;
  let failedAuthTurn = 0;
  let lockoutTurn = 0;

  // ---------------------------------------------------------------------------------------------
  // HTTP to the server under test (setup requests; the transactions themselves are Dredd's).

  async function call(method, path, { key, headers = {}, body } = {}) {
    const init = { method, headers: { Accept: 'application/json', ...headers } };
    if (key) {
      init.headers['X-API-Key'] = key;
    }
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await fetch(new URL(path, env.target), init);
    const text = await response.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, json, text };
  }

  async function expectCall(status, method, path, options) {
    const res = await call(method, path, options);
    if (res.status !== status) {
      throw new Error(`setup ${method} ${path} answered ${res.status}, expected ${status}: ${res.text.slice(0, 300)}`);
    }
    return res.json;
  }

  const uniqueEmail = () => `contract-${++counter}-${Date.now().toString(36)}@example.com`;

  async function createKey(body = { name: `Contract key ${++counter}` }, key = env.key) {
    return (await expectCall(201, 'POST', '/v1/api-keys', { key, body })).data;
  }

  async function createContact(email = uniqueEmail()) {
    return (await expectCall(201, 'POST', '/v1/contacts', { key: env.key, body: { email, firstName: 'Ada' } })).data;
  }

  // Shared resources for the error cases that need an existing id (created once, on first use).
  const once = (make) => {
    let promise;
    return () => {
      promise ??= make();
      return promise;
    };
  };
  const fixtureKeyId = once(async () => (await createKey({ name: 'Contract fixture key' })).keyId);
  const fixtureContactId = once(async () => (await createContact()).contactId);

  // ---------------------------------------------------------------------------------------------
  // The spec: the response schema of every transaction, as a self-contained draft-07 JSON Schema.

  function resolveRef(ref) {
    if (!ref.startsWith('#/')) {
      throw new Error(`unsupported $ref ${ref}`);
    }
    return ref
      .slice(2)
      .split('/')
      .reduce((node, part) => node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], spec);
  }

  function deref(node, depth = 0) {
    if (depth > 50) {
      throw new Error('$ref nesting too deep (a cycle?)');
    }
    if (Array.isArray(node)) {
      return node.map((item) => deref(item, depth + 1));
    }
    if (node && typeof node === 'object') {
      if (typeof node.$ref === 'string') {
        const { $ref, ...siblings } = node;
        return deref({ ...resolveRef($ref), ...siblings }, depth + 1);
      }
      return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, deref(value, depth + 1)]));
    }
    return node;
  }

  function operationOf(transaction) {
    const method = transaction.request.method.toLowerCase();
    const operation = spec.paths?.[transaction.origin.resourceName]?.[method];
    if (!operation) {
      throw new Error(`no operation ${method.toUpperCase()} ${transaction.origin.resourceName} in the spec`);
    }
    return operation;
  }

  function responseSchema(operation, status) {
    const response = deref(operation.responses?.[status]);
    const schema = response?.content?.['application/json']?.schema;
    if (!schema) {
      throw new Error(`response ${status} of ${operation.operationId} has no application/json schema`);
    }
    // The 3.1 schemas use nothing draft-07 lacks (type arrays, const, oneOf, allOf, examples arrays),
    // so Gavel's validator (Ajv, draft-07) checks them as written.
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
  function authenticate(transaction, key = env.key) {
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

  /** Replaces the example id in the transaction's path with `id`. */
  function setId(transaction, id) {
    const path = transaction.origin.resourceName.replace(/\{[^}]+\}/, encodeURIComponent(id));
    setPath(transaction, path);
  }

  function setBody(transaction, body, contentType = 'application/json') {
    transaction.request.body = typeof body === 'string' ? body : JSON.stringify(body);
    setHeader(transaction, 'Content-Type', contentType);
  }

  const hasIdParam = (transaction) => /\{[^}]+\}/.test(transaction.origin.resourceName);
  const isContactPath = (transaction) => transaction.origin.resourceName.startsWith('/v1/contacts');

  /** Points a path with an id at a resource that exists, so the status under test isn't a masked 404. */
  async function useExistingId(transaction) {
    if (hasIdParam(transaction)) {
      setId(transaction, isContactPath(transaction) ? await fixtureContactId() : await fixtureKeyId());
    }
  }

  /** Each 401 cause the server distinguishes, in turn (a fresh client address each, see below). */
  const FAILED_AUTH_CAUSES = [
    ['missing credentials', () => {}],
    ['malformed key', (t) => setHeader(t, 'X-API-Key', 'mr_not_a_key')],
    [
      'checksum mismatch',
      (t) => {
        const last = env.key.at(-1);
        setHeader(t, 'Authorization', `Bearer ${env.key.slice(0, -1)}${last === 'A' ? 'B' : 'A'}`);
      },
    ],
    ['unknown key', (t) => setHeader(t, 'X-API-Key', env.unknownKey)],
    ['revoked key', (t) => setHeader(t, 'Authorization', `Bearer ${state.revokedKey}`)],
    ['expired key', (t) => setHeader(t, 'X-API-Key', env.expiredKey)],
    [
      'conflicting credentials',
      (t) => {
        setHeader(t, 'Authorization', `Bearer ${env.key}`);
        setHeader(t, 'X-API-Key', state.readOnlyKey);
      },
    ],
    ['not a Bearer credential', (t) => setHeader(t, 'Authorization', 'Basic dXNlcjpwYXNzd29yZA==')],
  ];

  /** Invalid input per operation: a query parameter for reads and deletes, a body for writes. */
  const INVALID_INPUT = {
    listContacts: { query: 'limit=0', why: 'limit=0 (minimum 1)' },
    createApiKey: { body: { name: '', expirationDays: 400 }, why: 'empty name, expirationDays over 365' },
    renameApiKey: { body: { name: 'x'.repeat(101) }, why: 'name over 100 characters' },
    createContact: { body: { email: 'not-an-email', nickname: 'Ada' }, why: 'bad email format, unknown field' },
    updateContact: { body: {}, why: 'empty patch (minProperties 1)' },
  };

  const arrangeByStatus = {
    async success(transaction, operation) {
      const id = operation.operationId;
      if (Array.isArray(operation.security) && operation.security.length === 0) {
        return 'no credentials (the operation needs none)';
      }
      authenticate(transaction);
      if (['getApiKey', 'renameApiKey', 'revokeApiKey'].includes(id)) {
        const created = await createKey();
        setId(transaction, created.keyId);
        return `a key created for it (${created.keyId})`;
      }
      if (['getContact', 'updateContact', 'deleteContact'].includes(id)) {
        const created = await createContact();
        setId(transaction, created.contactId);
        return `a contact created for it (${created.contactId})`;
      }
      if (id === 'createContact') {
        setBody(transaction, { email: uniqueEmail(), firstName: 'Ada', lastName: 'Lovelace' });
        return 'a new email';
      }
      if (id === 'listContacts') {
        for (let i = 0; i < 3; i++) {
          await createContact();
        }
        const first = await expectCall(200, 'GET', '/v1/contacts?limit=1', { key: env.key });
        if (!first.meta?.nextCursor) {
          throw new Error('GET /v1/contacts?limit=1 gave no nextCursor with 3 contacts');
        }
        setPath(transaction, `/v1/contacts?limit=1&cursor=${encodeURIComponent(first.meta.nextCursor)}`);
        return 'the second page, with a real cursor';
      }
      return 'valid credentials';
    },

    async 400(transaction) {
      authenticate(transaction);
      await useExistingId(transaction);
      setBody(transaction, '{"name": "unterminated');
      return 'malformed JSON body';
    },

    async 401(transaction) {
      setHeader(transaction, 'Authorization', undefined);
      setHeader(transaction, 'X-API-Key', undefined);
      const [cause, apply] = FAILED_AUTH_CAUSES[failedAuthTurn % FAILED_AUTH_CAUSES.length];
      apply(transaction);
      // Failed attempts are limited per client address (20 a minute): give each its own address, so
      // the run never trips that limit by accident. The server trusts X-Forwarded-For here.
      setHeader(transaction, 'X-Forwarded-For', `192.0.2.${(failedAuthTurn++ % 250) + 1}`);
      return cause;
    },

    async 403(transaction) {
      authenticate(transaction, state.readOnlyKey);
      await useExistingId(transaction);
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
      return 'PUT, which no path supports';
    },

    async 409(transaction, operation) {
      authenticate(transaction);
      const existing = await createContact();
      if (operation.operationId === 'updateContact') {
        const other = await createContact();
        setId(transaction, other.contactId);
        setBody(transaction, { email: existing.email });
        return "another contact's email";
      }
      setBody(transaction, { email: existing.email.toUpperCase() });
      return 'an existing email, in other case';
    },

    async 413(transaction) {
      authenticate(transaction);
      await useExistingId(transaction);
      setBody(transaction, { name: 'x'.repeat(110 * 1024) });
      return 'a 110 KiB body';
    },

    async 415(transaction) {
      authenticate(transaction);
      await useExistingId(transaction);
      setBody(transaction, 'name=Production API', 'text/plain');
      return 'a text/plain body';
    },

    async 422(transaction, operation) {
      authenticate(transaction);
      await useExistingId(transaction);
      const invalid = INVALID_INPUT[operation.operationId];
      if (invalid?.body) {
        setBody(transaction, invalid.body);
        return invalid.why;
      }
      const [path] = transaction.fullPath.split('?');
      setPath(transaction, `${path}?${invalid?.query ?? 'unexpected=1'}`);
      return invalid?.why ?? 'an unknown query parameter';
    },

    async 429(transaction, operation) {
      if (operation.operationId === 'getRateLimitStatus') {
        // This read never counts against the key's limits, so it is refused only when the client
        // address is locked out after too many failed authentications.
        const address = `198.51.100.${(lockoutTurn++ % 250) + 1}`;
        for (let attempt = 0; ; attempt++) {
          const res = await call('GET', '/v1/api-keys/validate', {
            headers: { 'X-API-Key': 'mr_not_a_key', 'X-Forwarded-For': address },
          });
          if (res.status === 429) {
            break;
          }
          if (res.status !== 401 || attempt >= 500) {
            throw new Error(`locking out ${address}: got ${res.status} after ${attempt + 1} failed attempts`);
          }
        }
        authenticate(transaction);
        setHeader(transaction, 'X-Forwarded-For', address);
        return 'a client address locked out by failed authentications';
      }
      // The tiny plan allows one request an hour: spend it (if it is not spent yet).
      await call('GET', '/v1/api-keys/validate', { key: env.tinyKey });
      authenticate(transaction, env.tinyKey);
      return "an organization whose plan's window is exhausted";
    },

    async 431(transaction) {
      if (transaction.origin.resourceName.startsWith('/v1')) {
        authenticate(transaction);
        await useExistingId(transaction);
      }
      setHeader(transaction, 'X-Padding', 'x'.repeat(17 * 1024));
      return 'request headers over 16 KiB';
    },

    async 503(transaction) {
      // Sent to the second server, whose rate-limit store cannot be reached: nothing is admitted.
      const down = new URL(env.downTarget);
      transaction.protocol = down.protocol;
      transaction.host = down.hostname;
      transaction.port = down.port;
      authenticate(transaction, env.downKey);
      return 'a server whose rate-limit store (Redis, fail-closed) is unreachable';
    },
  };

  // ---------------------------------------------------------------------------------------------
  // Hooks.

  const safely = (fn) => (data, done) => {
    fn(data).then(
      () => done(),
      (error) => {
        const message = error instanceof Error ? error.message : String(error);
        if (Array.isArray(data)) {
          setupError = message;
        } else {
          data.fail = `hook error: ${message}`;
        }
        done();
      },
    );
  };

  hooks.beforeAll(
    safely(async () => {
      const missing = Object.entries(env)
        .filter(([, value]) => !value)
        .map(([name]) => name);
      if (missing.length > 0) {
        throw new Error(`missing MAILROOM_CONTRACT_* settings: ${missing.join(', ')} (run npm run test:contract)`);
      }
      spec = parseYaml(readFileSync(env.spec, 'utf8'));
      state.readOnlyKey = (await createKey({ name: 'ro', access: 'read_only' })).apiKey;
      const revoked = await createKey({ name: 'Contract revoked key' });
      await expectCall(200, 'DELETE', `/v1/api-keys/${revoked.keyId}`, { key: env.key });
      state.revokedKey = revoked.apiKey;
    }),
  );

  hooks.beforeEach(
    safely(async (transaction) => {
      if (setupError) {
        throw new Error(`beforeAll failed: ${setupError}`);
      }
      const reason = explainSkip(transaction.name);
      if (reason) {
        transaction.skip = true;
        skipReasons.set(transaction.name, reason);
        return;
      }
      // Dredd runs every OpenAPI 3 transaction, non-2xx included; make that explicit.
      transaction.skip = false;
      const status = String(transaction.expected.statusCode);
      const operation = operationOf(transaction);
      transaction.expected.bodySchema = responseSchema(operation, status);
      if (transaction.origin.resourceName === '/v1/contacts' && transaction.request.method === 'GET') {
        setPath(transaction, '/v1/contacts?limit=20'); // not the example's made-up cursor
      }
      const arrange = status.startsWith('2') ? arrangeByStatus.success : arrangeByStatus[status];
      if (!arrange) {
        throw new Error(`no arrangement for status ${status}: add one to test/contract/hooks.cjs`);
      }
      arranged.set(transaction.name, await arrange(transaction, operation));
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

  hooks.afterAll(
    safely(async (transactions) => {
      const journal = transactions.map((t) => {
        const status = t.skip ? 'skip' : (t.test?.status ?? 'error');
        return {
          name: t.name,
          status,
          request: `${t.request.method} ${t.protocol}//${t.host}:${t.port}${t.fullPath}`,
          arranged: arranged.get(t.name),
          skipReason: t.skip ? (skipReasons.get(t.name) ?? null) : undefined,
          actualStatus: t.real?.statusCode,
          message: status === 'fail' || status === 'error' ? (t.test?.message ?? t.fail ?? 'no result') : undefined,
        };
      });
      writeFileSync(
        env.report,
        `${JSON.stringify({ setupError: setupError ?? null, transactions: journal }, null, 2)}\n`,
      );
    }),
  );
}
