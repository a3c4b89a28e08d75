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
// The 429 of the rate-limit status read (only a locked-out client address gets it) and the 429 of the
// operations counted per client address (sign-up, log-in) run last, in a second Dredd run, because spending
// this address's windows would refuse everything after them.
//
// Arrangements are by status and by the operation's security, never by path: an operation taking a user
// token (the `userToken` scheme) gets one of the run's throwaway owners (or the member for 403, the user
// whose own window is spent for 429), its path ids are real ones of the owners' organization, and a 404 is
// another organization's id; an API-key operation gets the caller's key. Any operation's 400 is a malformed
// JSON body (the server reads and checks every body, GET and DELETE included), its 431 an oversized header.
// Each transaction of an operation that takes an Idempotency-Key sends a fresh one.
//
// Every request goes to the run's observer (Dredd's endpoint), which sends it through Prism's validating
// proxy and checks header semantics; each carries an X-Request-Id naming its transaction. Response bodies
// are also validated here against the strict spec's schema (`expected.bodySchema`), because Dredd's OpenAPI
// 3 parser never produces one itself.
//
// MAILROOM_CONTRACT_CONTEXT names a JSON file written by the runner: { runId, phase ("main" | "lockout"),
// strictSpec, journal, progress, created, scenarios, deferred: [transaction names], keys: { admin, readOnly,
// capped, revoked, unknown }, users?: { owner, coOwner, member, outsider, loggedOut, limited }, observer }.

const { appendFileSync, readFileSync, writeFileSync } = require('node:fs');

const ROUTE_HEADER = 'X-Contract-Route';
const INTENT_HEADER = 'X-Contract-Intent';
const PACE_HEADER = 'X-Contract-Pace';
/** Over the 16 KiB a request head may have (the spec's 431). */
const OVERSIZED_HEADER_BYTES = 17 * 1024;

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

  async function call(
    transactionId,
    method,
    path,
    { key, token, headers = {}, body, direct = false, invalid = false, unpaced = false } = {},
  ) {
    counter += 1;
    const init = {
      method,
      headers: { Accept: 'application/json', 'X-Request-Id': `${transactionId}.a${counter}`, ...headers },
    };
    if (key) {
      init.headers['X-API-Key'] = key;
    }
    if (token) {
      init.headers.Authorization = `Bearer ${token}`;
    }
    if (unpaced) {
      init.headers[PACE_HEADER] = 'none';
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
  let fixtureOrgKey;
  const fixtureKeyId = async (id) => {
    fixtureKey ??= createKey(id, { name: 'Contract run: Dredd fixture key' });
    return (await fixtureKey).keyId;
  };
  const fixtureContactId = async (id) => {
    fixtureContact ??= createContact(id);
    return (await fixtureContact).contactId;
  };

  // ---------------------------------------------------------------------------------------------
  // The run's throwaway users (signed up by the runner) and their organization.

  const users = context.users;
  const needUsers = () => {
    if (!users) {
      throw new Error('arranging: the operation takes a user token, and the run has no users (no POST /auth/signup?)');
    }
    return users;
  };
  let ownerTurn = 0;
  /** The owners of the organization take turns (each user has its own window). */
  const anOwner = () => (ownerTurn++ % 2 === 0 ? needUsers().owner : needUsers().coOwner);

  async function createOrgKey(id, user = needUsers().owner, body = { name: `Contract run: org key ${++counter}` }) {
    const path = `/organizations/${user.organizationId}/api-keys`;
    return (await expectCall(201, id, 'POST', path, { token: user.token, body })).data;
  }
  const fixtureOrgKeyId = async (id) => {
    fixtureOrgKey ??= createOrgKey(id, needUsers().owner, { name: 'Contract run: Dredd organization key' });
    return (await fixtureOrgKey).keyId;
  };

  /**
   * A session id for the cases that only need one in the path (none of them reaches the point of ending it): the
   * owner's sign-up session. The success case ends a session of its own (`sessionOfSpareUser`).
   */
  const fixtureSessionId = async () => {
    const { owner } = needUsers();
    if (!owner.sessionId) {
      throw new Error('arranging: the sign-up answer carried no sessionId');
    }
    return owner.sessionId;
  };

  /**
   * A user of this transaction's own, signed up for it: the cases that change a password or end sessions use one, so
   * no other case's token is ended and no account the run relies on changes its password.
   */
  async function signUpSpareUser(id) {
    const email = uniqueEmail();
    const password = `pw ${context.runId} ${++counter} spare`;
    const body = { email, password, name: 'Contract spare user' };
    const session = (await expectCall(201, id, 'POST', '/auth/signup', { body })).data;
    return { email, password, token: session.token, sessionId: session.sessionId };
  }

  /** Makes `user` a member of the owners' organization (already one is fine). */
  async function ensureMember(id, user) {
    const path = `/organizations/${needUsers().owner.organizationId}/members`;
    const res = await call(id, 'POST', path, { token: needUsers().owner.token, body: { email: user.email } });
    if (res.status !== 201 && res.status !== 409) {
      throw new Error(`arranging: POST ${path} answered ${res.status}, expected 201 or 409: ${res.text.slice(0, 300)}`);
    }
  }

  /** Removes `user` from the owners' organization (not one is fine). */
  async function ensureNotMember(id, user) {
    const path = `/organizations/${needUsers().owner.organizationId}/members/${user.userId}`;
    const res = await call(id, 'DELETE', path, { token: needUsers().owner.token });
    if (res.status !== 200 && res.status !== 404) {
      throw new Error(
        `arranging: DELETE ${path} answered ${res.status}, expected 200 or 404: ${res.text.slice(0, 300)}`,
      );
    }
  }

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

  /**
   * Dredd expects every header the response declares; a header the spec marks optional (`required` not true:
   * Deprecation, Sunset, Idempotent-Replayed, …) is dropped from its expectations. Prism and the observer
   * still check an optional header whenever it is sent.
   */
  function dropOptionalHeaders(transaction, operation, status) {
    const declared = Object.entries(operation.responses?.[status]?.headers ?? {});
    const expected = transaction.expected.headers ?? {};
    for (const name of Object.keys(expected)) {
      const header = declared.find(([declaredName]) => declaredName.toLowerCase() === name.toLowerCase())?.[1];
      if (header && header.required !== true) {
        delete expected[name];
      }
    }
  }

  /** The security schemes an operation accepts (its own requirement, else the document's). */
  function schemesOf(operation) {
    const requirements = Array.isArray(operation.security) ? operation.security : (spec.security ?? []);
    return requirements.flatMap((requirement) => Object.keys(requirement));
  }
  /** `public` (no credentials), `user` (a user token) or `key` (an API key). */
  function credentialKind(operation) {
    const schemes = schemesOf(operation);
    if (schemes.length === 0) {
      return 'public';
    }
    return schemes.every((scheme) => spec.components?.securitySchemes?.[scheme]?.bearerFormat?.startsWith('mru_')) ||
      schemes.includes('userToken')
      ? 'user'
      : 'key';
  }
  const takesIdempotencyKey = (transaction, operation) =>
    [...(spec.paths?.[transaction.origin.resourceName]?.parameters ?? []), ...(operation.parameters ?? [])].some(
      (parameter) => parameter?.in === 'header' && parameter?.name?.toLowerCase() === 'idempotency-key',
    );
  const organizationScoped = (transaction) => transaction.origin.resourceName.includes('{organizationId}');

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

  function clearCredentials(transaction) {
    setHeader(transaction, 'Authorization', undefined);
    setHeader(transaction, 'X-API-Key', undefined);
  }

  /** Sends `key` in X-API-Key and Authorization: Bearer in turn. */
  function authenticate(transaction, key = keys.admin) {
    clearCredentials(transaction);
    if (authTurn++ % 2 === 0) {
      setHeader(transaction, 'X-API-Key', key);
    } else {
      setHeader(transaction, 'Authorization', `Bearer ${key}`);
    }
  }

  function useToken(transaction, user) {
    clearCredentials(transaction);
    setHeader(transaction, 'Authorization', `Bearer ${user.token}`);
  }

  /** Valid credentials of the kind the operation takes: the caller's key, an owner's token, or none. */
  function credentials(transaction, operation, { user, key } = {}) {
    const kind = credentialKind(operation);
    if (kind === 'user') {
      const who = user ?? anOwner();
      useToken(transaction, who);
      return who;
    }
    if (kind === 'key') {
      authenticate(transaction, key);
    }
    return undefined;
  }

  function setPath(transaction, path) {
    transaction.fullPath = path;
    transaction.request.uri = path;
  }

  /** Fills every path parameter: `ids[name]` when given, else a real id the caller can see. */
  async function fillIds(transaction, _operation, id, ids = {}) {
    const template = transaction.origin.resourceName;
    if (!/\{[^}]+\}/.test(template)) {
      return;
    }
    const names = [...template.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]);
    const values = {};
    for (const name of names) {
      if (ids[name] !== undefined) {
        values[name] = ids[name];
      } else if (name === 'organizationId') {
        values[name] = needUsers().owner.organizationId;
      } else if (name === 'userId') {
        values[name] = needUsers().member.userId;
      } else if (name === 'contactId') {
        values[name] = await fixtureContactId(id);
      } else if (name === 'keyId') {
        values[name] = organizationScoped(transaction) ? await fixtureOrgKeyId(id) : await fixtureKeyId(id);
      } else if (name === 'sessionId') {
        values[name] = await fixtureSessionId(id);
      } else {
        throw new Error(
          `arranging: no value for the path parameter {${name}}: add one to src/contract/dredd-hooks.cjs`,
        );
      }
    }
    setPath(
      transaction,
      template.replace(/\{([^}]+)\}/g, (_, name) => encodeURIComponent(values[name])),
    );
  }

  function setBody(transaction, body, contentType = 'application/json') {
    transaction.request.body = typeof body === 'string' ? body : JSON.stringify(body);
    setHeader(transaction, 'Content-Type', contentType);
  }

  const exampleBodyOf = (transaction) => {
    try {
      return JSON.parse(transaction.request.body || '{}');
    } catch {
      return {};
    }
  };

  const invalidOnPurpose = (transaction) => setHeader(transaction, INTENT_HEADER, 'invalid');
  const unpaced = (transaction) => setHeader(transaction, PACE_HEADER, 'none');
  const freshIdempotencyKey = (id) => `${id}.idem.${++counter}`;

  /** Valid credentials and real ids, so the status under test isn't a masked 401 or 404. */
  async function validCaller(transaction, operation, id) {
    credentials(transaction, operation);
    await fillIds(transaction, operation, id);
  }

  /** Each 401 cause of an API-key operation, in turn; the expired key is a scenario step. */
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
    ...(users
      ? [
          [
            'a user token where an API key is required',
            (t) => setHeader(t, 'Authorization', `Bearer ${users.owner.token}`),
          ],
        ]
      : []),
  ];

  /** Each 401 cause of a user-token operation, in turn; the expired token is a scenario step. */
  const FAILED_TOKEN_CAUSES = [
    ['no token', () => {}],
    ['an API key where a user token is required', (t) => setHeader(t, 'Authorization', `Bearer ${keys.admin}`)],
    ['a malformed token', (t) => setHeader(t, 'Authorization', 'Bearer mru_not_a_token')],
    ['a logged-out token', (t) => setHeader(t, 'Authorization', `Bearer ${needUsers().loggedOut}`)],
    ['an API key in X-API-Key', (t) => setHeader(t, 'X-API-Key', keys.admin)],
  ];
  let failedTokenTurn = 0;

  /** Invalid input per operation: a query parameter for reads and deletes, a body for writes. */
  const INVALID_INPUT = {
    listContacts: { query: 'limit=0', why: 'limit=0 (minimum 1)' },
    createApiKey: { body: { name: '', expirationDays: 400 }, why: 'empty name, expirationDays over 365' },
    renameApiKey: { body: { name: 'x'.repeat(101) }, why: 'name over 100 characters' },
    createContact: { body: { email: 'not-an-email', nickname: 'Ada' }, why: 'bad email format, unknown field' },
    updateContact: { body: {}, why: 'empty patch (minProperties 1)' },
    signUp: { body: { email: 'not-an-email', password: 'short' }, why: 'bad email format, password under 10' },
    updateMember: { body: { role: 'admin' }, why: 'a role outside the enum' },
    // No current password at all: refused before any password is tried (a wrong one would count as a failed log-in).
    changePassword: { body: { newPassword: 'short' }, why: 'no currentPassword, newPassword under 10' },
  };

  const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

  /** Spends the capped key's one request a minute, so its next request is refused. */
  async function exhaustCapped(id) {
    for (let attempt = 0; attempt < 3; attempt++) {
      const res = await call(id, 'GET', '/v1/api-keys/validate', { key: keys.capped, unpaced: true });
      if (res.status === 429) {
        return;
      }
    }
    throw new Error('arranging: the key capped at 1 request a minute was never refused with 429');
  }

  /** Spends the limited user's own window (requests a minute per user), so its next request is refused. */
  async function exhaustLimitedUser(id) {
    const { limited } = needUsers();
    for (let attempt = 0; attempt < 2000; attempt++) {
      const res = await call(id, 'GET', '/auth/me', { token: limited.token, direct: true, unpaced: true });
      if (res.status === 429) {
        return attempt + 1;
      }
      if (res.status !== 200) {
        throw new Error(
          `arranging: GET /auth/me answered ${res.status}, expected 200 then 429: ${res.text.slice(0, 200)}`,
        );
      }
    }
    throw new Error('arranging: 2000 requests and the limited user is still not refused');
  }

  /** Spends this client address's window of sign-ups and log-ins (invalid log-ins: nothing is created). */
  async function exhaustAddressWindow(id) {
    for (let attempt = 0; attempt < 2000; attempt++) {
      const res = await call(id, 'POST', '/auth/login', { body: {}, direct: true, invalid: true, unpaced: true });
      if (res.status === 429) {
        return attempt + 1;
      }
      if (res.status !== 422 && res.status !== 400) {
        throw new Error(`arranging: an invalid log-in answered ${res.status}, expected 422 then 429`);
      }
    }
    throw new Error('arranging: 2000 log-ins and this address is still not refused');
  }

  /** Until when this address is locked out, once `lockOutThisAddress` did it. */
  let lockedOutUntil = 0;

  /** Fails authentication from this address until the target locks it out (429). */
  async function lockOutThisAddress(id) {
    for (let attempt = 0; attempt < 2000; attempt++) {
      const res = await call(id, 'GET', '/v1/api-keys/validate', {
        headers: { 'X-API-Key': 'mr_not_a_key' },
        direct: true,
        invalid: true,
        unpaced: true,
      });
      if (res.status === 429) {
        lockedOutUntil = Date.now() + Math.max(Number(res.headers.get('retry-after')) || 60, 1) * 1000;
        return attempt + 1;
      }
      if (res.status !== 401) {
        throw new Error(`arranging the lockout: a failed authentication answered ${res.status}, expected 401 then 429`);
      }
    }
    throw new Error('arranging the lockout: 2000 failed authentications and this address is still not refused');
  }

  /** Fills the limited user's organization to the key cap (once), and returns a key of it. */
  let fullOrganization;
  async function keyOfFullOrganization(id) {
    fullOrganization ??= (async () => {
      const { limited } = needUsers();
      const path = `/organizations/${limited.organizationId}/api-keys`;
      const listed = await expectCall(200, id, 'GET', path, { token: limited.token, unpaced: true });
      const have = Number(listed.meta?.total ?? listed.data?.length ?? 0);
      let first;
      for (let n = have; n < KEY_CAP; n++) {
        const data = (
          await expectCall(201, id, 'POST', path, { token: limited.token, body: { name: `Cap ${n}` }, unpaced: true })
        ).data;
        first ??= data;
      }
      if (!first) {
        throw new Error(`arranging: the organization already had ${have} keys and none of them is known to the run`);
      }
      return first.apiKey;
    })();
    return fullOrganization;
  }
  /** Keys an organization may hold (the spec's KEY_LIMIT_REACHED). */
  const KEY_CAP = 100;

  /** A body for `operation` with a string (else an integer) field changed: the same request in every other way. */
  function changedBody(body) {
    const changed = { ...body };
    const field = Object.keys(changed).find(
      (name) => typeof changed[name] === 'string' && !changed[name].includes('@'),
    );
    if (field) {
      changed[field] = `${changed[field]} (changed)`.slice(0, 100);
      return changed;
    }
    const number = Object.keys(changed).find((name) => Number.isInteger(changed[name]));
    if (number) {
      changed[number] = changed[number] === 0 ? 1 : 0;
      return changed;
    }
    throw new Error('arranging: no field of the example body to change for IDEMPOTENCY_KEY_REUSED');
  }

  /** Bodies a create needs to succeed: a fresh email where the example has one. */
  function freshened(body) {
    const copy = { ...body };
    for (const [name, value] of Object.entries(copy)) {
      if (typeof value === 'string' && /^[^@\s]+@[^@\s]+$/.test(value)) {
        copy[name] = uniqueEmail();
      }
    }
    return copy;
  }

  /**
   * (operationId status) pairs whose only cause a plain server can't be made to produce through the public API, with
   * the reason; a server that honours scenarios is asked for them with `Prefer: code=…`.
   */
  const SCENARIO_ONLY_PAIRS = {
    'createOrganization 409':
      'its only 409 is IDEMPOTENCY_KEY_IN_USE, a retry landing while the first request with its Idempotency-Key still runs',
  };

  /** Why a sandbox-only operation (`x-sandbox-only: true`) is not sent to a target the run was not told is a sandbox. */
  const SANDBOX_ONLY_REASON =
    'sandbox-only: x-sandbox-only operations exist only on a sandbox (mailroom serve --sandbox), and one may reset ' +
    'everything; not sent, as the target was not given as a sandbox (mailroom contract --sandbox)';

  /** Tokens of sign-ups and log-ins the transactions made, for the log-out case. */
  const spareTokens = [];

  const arrangeByStatus = {
    async success(transaction, operation, id) {
      const opId = operation.operationId;
      const kind = credentialKind(operation);
      if (kind === 'public') {
        if (opId === 'signUp') {
          setBody(transaction, { ...exampleBodyOf(transaction), email: uniqueEmail() });
          return 'no credentials, a new email';
        }
        if (opId === 'logIn') {
          const { owner } = needUsers();
          setBody(transaction, { email: owner.email, password: owner.password });
          return "the owner's email and password";
        }
        return 'no credentials (the operation needs none)';
      }
      if (kind === 'user') {
        return arrangeUserSuccess(transaction, operation, id);
      }
      authenticate(transaction);
      if (operation['x-sandbox-only'] === true && Date.now() < lockedOutUntil) {
        // The reset runs last, after the lockout case (on a sandbox without scenarios): wait it out.
        await sleep(lockedOutUntil - Date.now() + 1000);
      }
      if (['getApiKey', 'renameApiKey', 'revokeApiKey', 'rotateApiKey'].includes(opId)) {
        const created = await createKey(id);
        await fillIds(transaction, operation, id, { keyId: created.keyId });
        return `a key created for it (${created.keyId})`;
      }
      if (['getContact', 'updateContact', 'deleteContact'].includes(opId)) {
        const created = await createContact(id);
        await fillIds(transaction, operation, id, { contactId: created.contactId });
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
      await fillIds(transaction, operation, id);
      return 'valid credentials';
    },

    async 400(transaction, operation, id) {
      await validCaller(transaction, operation, id);
      setBody(transaction, '{"name": "unterminated');
      // Prism parses JSON bodies itself and would answer malformed JSON with its own 400.
      setHeader(transaction, ROUTE_HEADER, 'direct');
      invalidOnPurpose(transaction);
      return 'malformed JSON body (sent past Prism)';
    },

    async 401(transaction, operation) {
      clearCredentials(transaction);
      invalidOnPurpose(transaction);
      const kind = credentialKind(operation);
      let cause;
      if (kind === 'public') {
        // A log-in with a wrong password (any public operation that documents 401 takes credentials in its body).
        const { owner } = needUsers();
        setBody(transaction, { email: owner.email, password: `${owner.password} wrong` });
        return 'a wrong password';
      }
      if (kind === 'user') {
        const [why, apply] = FAILED_TOKEN_CAUSES[failedTokenTurn++ % FAILED_TOKEN_CAUSES.length];
        apply(transaction);
        cause = why;
      } else {
        const [why, apply] = FAILED_AUTH_CAUSES[failedAuthTurn++ % FAILED_AUTH_CAUSES.length];
        apply(transaction);
        cause = why;
      }
      // Failed attempts are limited per client address: when the last 401 said none are left, wait.
      if (authWindow && authWindow.remaining <= 0 && Date.now() < authWindow.resetAt) {
        await sleep(authWindow.resetAt - Date.now() + 100);
      }
      return cause;
    },

    async 403(transaction, operation, id) {
      if (credentialKind(operation) === 'user') {
        const { member, owner } = needUsers();
        useToken(transaction, member);
        // An owner's action; or, where members may act on themselves only (leaving), another member.
        await fillIds(transaction, operation, id, { userId: owner.userId });
        return "the organization's member (not an owner) acting on another member";
      }
      return arrangeKeyForbidden(transaction, operation, id);
    },

    async 404(transaction, operation, id) {
      if (credentialKind(operation) === 'user' && organizationScoped(transaction)) {
        credentials(transaction, operation, { user: needUsers().owner });
        await fillIds(transaction, operation, id, { organizationId: needUsers().member.organizationId });
        return "another organization's id (the member's own)";
      }
      credentials(transaction, operation);
      await fillIds(transaction, operation, id, {
        contactId: 'ct_0000000000000000',
        keyId: 'key_0000000000000000',
        userId: 'usr_0000000000000000',
        sessionId: 'tok_0000000000000000',
      });
      return 'an id that does not exist';
    },

    async 405(transaction, operation, id) {
      await validCaller(transaction, operation, id);
      transaction.request.method = 'PUT';
      invalidOnPurpose(transaction);
      return 'PUT, which no path supports';
    },

    async 409(transaction, operation, id) {
      const opId = operation.operationId;
      if (SCENARIO_ONLY_PAIRS[`${opId} 409`]) {
        return arrangeByStatus.forced(transaction, operation, id, 409);
      }
      if (opId === 'signUp') {
        setBody(transaction, { ...exampleBodyOf(transaction), email: needUsers().owner.email.toUpperCase() });
        return "an account's email, in other case";
      }
      if (opId === 'addMember') {
        await validCaller(transaction, operation, id);
        setBody(transaction, { email: needUsers().member.email });
        return 'an email already a member';
      }
      if (opId === 'updateMember' || opId === 'removeMember') {
        const { coOwner } = needUsers();
        useToken(transaction, coOwner);
        await fillIds(transaction, operation, id, { organizationId: coOwner.organizationId, userId: coOwner.userId });
        if (opId === 'updateMember') {
          setBody(transaction, { role: 'member' });
        }
        return 'the last owner of an organization (the co-owner in its own) stepping down';
      }
      if (opId === 'rotateApiKey') {
        authenticate(transaction);
        const created = await createKey(id);
        const path = `/v1/api-keys/${created.keyId}/rotate`;
        const rotated = await expectCall(201, id, 'POST', path, {
          key: keys.admin,
          body: { gracePeriodMinutes: 0 },
          headers: { 'Idempotency-Key': freshIdempotencyKey(id) },
        });
        if (rotated?.data?.keyId) {
          noteCreated('key', rotated.data.keyId);
        }
        await fillIds(transaction, operation, id, { keyId: created.keyId });
        return 'a key rotated already (rotated twice)';
      }
      if (opId === 'rotateOrganizationApiKey') {
        const { owner } = needUsers();
        const created = await createOrgKey(id, owner);
        await expectCall(201, id, 'POST', `/organizations/${owner.organizationId}/api-keys/${created.keyId}/rotate`, {
          token: owner.token,
          body: { gracePeriodMinutes: 0 },
          headers: { 'Idempotency-Key': freshIdempotencyKey(id) },
        });
        useToken(transaction, owner);
        await fillIds(transaction, operation, id, { keyId: created.keyId });
        return 'an organization key rotated already (rotated twice)';
      }
      if (opId === 'createApiKey') {
        const key = await keyOfFullOrganization(id);
        authenticate(transaction, key);
        return `a key of an organization holding ${KEY_CAP} keys`;
      }
      if (opId === 'createOrganizationApiKey') {
        // The co-owner is a member of the limited user's organization (setup), whose own window the 429 cases spend.
        await keyOfFullOrganization(id);
        const { coOwner, limited } = needUsers();
        useToken(transaction, coOwner);
        await fillIds(transaction, operation, id, { organizationId: limited.organizationId });
        return `a member of an organization holding ${KEY_CAP} keys`;
      }
      authenticate(transaction);
      const existing = await createContact(id);
      if (opId === 'updateContact') {
        const other = await createContact(id);
        await fillIds(transaction, operation, id, { contactId: other.contactId });
        setBody(transaction, { email: existing.email });
        return "another contact's email";
      }
      setBody(transaction, { email: existing.email.toUpperCase() });
      return 'an existing email, in other case';
    },

    async 413(transaction, operation, id) {
      await validCaller(transaction, operation, id);
      setBody(transaction, { name: 'x'.repeat(110 * 1024) });
      invalidOnPurpose(transaction);
      return 'a 110 KiB body';
    },

    async 415(transaction, operation, id) {
      await validCaller(transaction, operation, id);
      setBody(transaction, 'name=Production API', 'text/plain');
      invalidOnPurpose(transaction);
      return 'a text/plain body';
    },

    async 422(transaction, operation, id) {
      await validCaller(transaction, operation, id);
      if (takesIdempotencyKey(transaction, operation)) {
        // The same Idempotency-Key again with a different body: IDEMPOTENCY_KEY_REUSED.
        if (operation.operationId === 'rotateApiKey') {
          const created = await createKey(id);
          await fillIds(transaction, operation, id, { keyId: created.keyId });
        }
        if (operation.operationId === 'rotateOrganizationApiKey') {
          const created = await createOrgKey(id);
          await fillIds(transaction, operation, id, { keyId: created.keyId });
        }
        const idempotencyKey = freshIdempotencyKey(id);
        const first = freshened(exampleBodyOf(transaction));
        const kind = credentialKind(operation);
        const bearer = String(transaction.request.headers.Authorization ?? '').replace(/^Bearer /, '');
        const credential =
          kind === 'key'
            ? { key: transaction.request.headers['X-API-Key'] ?? keys.admin }
            : kind === 'user'
              ? { token: bearer }
              : {};
        const res = await expectCall(201, id, transaction.request.method, transaction.fullPath, {
          ...credential,
          body: first,
          headers: { 'Idempotency-Key': idempotencyKey },
        });
        if (res?.data?.keyId && kind === 'key') {
          noteCreated('key', res.data.keyId);
        }
        if (res?.data?.contactId) {
          noteCreated('contact', res.data.contactId);
        }
        setBody(transaction, changedBody(first));
        setHeader(transaction, 'Idempotency-Key', idempotencyKey);
        return 'an Idempotency-Key already used with a different body';
      }
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
      unpaced(transaction);
      if (operation['x-rate-limit'] === 'peek') {
        // Not counted (the status read, the sandbox's reset): refused only for a locked-out address.
        if (context.scenarios) {
          authenticate(transaction);
          setHeader(transaction, 'Prefer', 'code=429');
          return 'forced with Prefer: code=429 (an operation not counted is refused only for a locked-out address)';
        }
        const attempts = await lockOutThisAddress(id);
        authenticate(transaction);
        return `this client address locked out by ${attempts} failed authentications`;
      }
      const kind = credentialKind(operation);
      if (kind === 'public') {
        await arrangeByStatus.success(transaction, operation, id);
        const attempts = await exhaustAddressWindow(id);
        return `this client address's window spent by ${attempts} log-ins`;
      }
      if (kind === 'user') {
        const { limited } = needUsers();
        await exhaustLimitedUser(id);
        useToken(transaction, limited);
        await fillIds(transaction, operation, id, { organizationId: limited.organizationId, userId: limited.userId });
        return 'a user whose own window is spent';
      }
      await exhaustCapped(id);
      authenticate(transaction, keys.capped);
      await fillIds(transaction, operation, id);
      return 'a key whose own one-request-a-minute window is spent';
    },

    async 431(transaction, operation, id) {
      await validCaller(transaction, operation, id);
      setHeader(transaction, 'X-Contract-Padding', 'x'.repeat(OVERSIZED_HEADER_BYTES));
      // Prism's own HTTP server would refuse the head before the target sees it.
      setHeader(transaction, ROUTE_HEADER, 'direct');
      invalidOnPurpose(transaction);
      return `a ${OVERSIZED_HEADER_BYTES / 1024} KiB header`;
    },

    async forced(transaction, operation, id, status) {
      await arrangeByStatus.success(transaction, operation, id);
      setHeader(transaction, 'Prefer', `code=${status}`);
      return `forced with Prefer: code=${status}`;
    },
  };

  /** Every permission a key can carry (the spec's Permission enum). */
  const ALL_PERMISSIONS = spec.components?.schemas?.Permission?.enum ?? [];
  /** The permissions an operation needs: the scopes of its API-key security requirements. */
  const permissionsOf = (operation) => [
    ...new Set((operation.security ?? []).flatMap((requirement) => Object.values(requirement).flat())),
  ];
  /** Keys holding every permission but one, made once per permission left out. */
  const keysWithout = new Map();
  function keyWithout(id, permission) {
    if (!keysWithout.has(permission)) {
      const permissions = ALL_PERMISSIONS.filter((p) => p !== permission);
      keysWithout.set(permission, createKey(id, { name: `Contract run: all but ${permission}`, permissions }));
    }
    return keysWithout.get(permission);
  }
  /** Operations that act on a key, refused for a key holding a permission the caller lacks (permissionNotHeld). */
  const ACTS_ON_A_KEY = ['createApiKey', 'renameApiKey', 'rotateApiKey'];

  /**
   * An API-key operation's 403, each cause of the spec's: a key lacking the operation's own permission for the
   * reads (missingPermission), a read_only key for the other writes (readOnlyKey), and for creating, renaming and
   * rotating a key, a key that may manage keys asking for (or acting on) more than it holds (permissionNotHeld).
   * Between them, every permission is refused once.
   */
  async function arrangeKeyForbidden(transaction, operation, id) {
    const opId = operation.operationId;
    const needed = permissionsOf(operation);
    if (ACTS_ON_A_KEY.includes(opId)) {
      const lacking = ALL_PERMISSIONS.find((p) => !needed.includes(p) && !p.startsWith('api_keys:'));
      const manager = await keyWithout(id, lacking);
      authenticate(transaction, manager.apiKey);
      if (opId === 'createApiKey') {
        setBody(transaction, { name: 'Contract run: more than its creator holds', permissions: ALL_PERMISSIONS });
        return `a key without ${lacking} asking for a key with every permission`;
      }
      const target = await createKey(id);
      await fillIds(transaction, operation, id, { keyId: target.keyId });
      return `a key without ${lacking} acting on a key holding every permission`;
    }
    if (needed.length > 0 && needed.every((p) => p.endsWith(':read'))) {
      const [permission] = needed;
      const key = await keyWithout(id, permission);
      authenticate(transaction, key.apiKey);
      await fillIds(transaction, operation, id);
      return `a key with every permission but ${permission}`;
    }
    authenticate(transaction, keys.readOnly);
    await fillIds(transaction, operation, id);
    return 'a read_only key writing';
  }

  /** A user-token operation's success: real ids of the owners' organization, members added or removed first. */
  async function arrangeUserSuccess(transaction, operation, id) {
    const opId = operation.operationId;
    const { outsider, member } = needUsers();
    if (opId === 'logOut') {
      const token = spareTokens.pop();
      if (token) {
        useToken(transaction, { token });
        return 'the token of a sign-up or log-in this run made';
      }
      const { owner } = needUsers();
      const session = await expectCall(200, id, 'POST', '/auth/login', {
        body: { email: owner.email, password: owner.password },
      });
      useToken(transaction, { token: session.data.token });
      return "a token of the owner's, logged in for it";
    }
    if (opId === 'changePassword') {
      const spare = await signUpSpareUser(id);
      useToken(transaction, spare);
      setBody(transaction, { currentPassword: spare.password, newPassword: `${spare.password} changed` });
      return 'a user signed up for it, its right current password (its other sessions end)';
    }
    if (opId === 'endOtherSessions') {
      const spare = await signUpSpareUser(id);
      await expectCall(200, id, 'POST', '/auth/login', { body: { email: spare.email, password: spare.password } });
      useToken(transaction, spare);
      return 'a user signed up for it, with a second session from a log-in';
    }
    if (opId === 'endSession') {
      const spare = await signUpSpareUser(id);
      const other = (
        await expectCall(200, id, 'POST', '/auth/login', { body: { email: spare.email, password: spare.password } })
      ).data;
      useToken(transaction, spare);
      await fillIds(transaction, operation, id, { sessionId: other.sessionId });
      return "a user signed up for it: its log-in's session, ended from its sign-up's";
    }
    const who = credentials(transaction, operation);
    if (opId === 'revokeOrganizationApiKey' || opId === 'rotateOrganizationApiKey') {
      const created = await createOrgKey(id);
      await fillIds(transaction, operation, id, { keyId: created.keyId });
      return `an organization key created for it (${created.keyId})`;
    }
    if (opId === 'addMember') {
      await ensureNotMember(id, outsider);
      await fillIds(transaction, operation, id);
      setBody(transaction, { email: outsider.email });
      return 'an account not yet a member';
    }
    if (opId === 'removeMember') {
      await ensureMember(id, outsider);
      await fillIds(transaction, operation, id, { userId: outsider.userId });
      return 'a member added for it';
    }
    if (opId === 'updateMember') {
      await fillIds(transaction, operation, id, { userId: member.userId });
      setBody(transaction, { role: 'member' });
      return "the member's role, unchanged";
    }
    await fillIds(transaction, operation, id);
    return `an owner's token (${who === needUsers().owner ? 'owner' : 'co-owner'})`;
  }

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
      }
      const status = String(transaction.expected.statusCode);
      const operation = operationOf(transaction);
      if (operation['x-sandbox-only'] === true && !context.sandbox) {
        skip(transaction, SANDBOX_ONLY_REASON);
        return;
      }
      if (isDeferred && context.phase !== 'lockout') {
        skip(
          transaction,
          operation['x-sandbox-only'] === true
            ? 'deferred: runs last, because resetting the sandbox wipes what the run made'
            : 'deferred: runs last, because locking out this client address refuses what follows',
        );
        return;
      }
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
      const scenarioOnly = SCENARIO_ONLY_PAIRS[`${operation.operationId} ${status}`];
      if (scenarioOnly && !context.scenarios) {
        skip(transaction, `needs scenarios: ${scenarioOnly}`);
        return;
      }
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
