// The context every module of the Dredd hooks shares: what the runner wrote (MAILROOM_CONTRACT_CONTEXT names a JSON
// file: { runId, phase ("main" | "lockout"), strictSpec, journal, progress, created, scenarios, sandbox, deferred:
// [transaction names], keys: { admin, readOnly, capped, revoked, unknown }, users?: { owner, coOwner, member,
// outsider, loggedOut, limited }, observer }), the strict spec, the state shared between transactions, HTTP to the
// target (through the observer) for arrangements, and what arrangements make through the public API: keys, contacts,
// organization keys, memberships, users of their own, webhook endpoints (pointing at the run's receiver,
// `webhookReceiver`) and their deliveries; `secretScanning` ({ keyIdentifier, privateKey: PEM }, when the run was
// given GitHub's side of a secret-scanning key pair) signs leak reports. The transactions themselves are Dredd's.
//
// `createRun` returns the run object; each module of src/contract/dredd-hooks/ adds its functions to it, in order
// (context, spec, transaction, windows, the arrangements by status, registration).

const { appendFileSync, readFileSync } = require('node:fs');

const ROUTE_HEADER = 'X-Contract-Route';
const INTENT_HEADER = 'X-Contract-Intent';
const PACE_HEADER = 'X-Contract-Pace';
/** Over the 16 KiB a request head may have (the spec's 431). */
const OVERSIZED_HEADER_BYTES = 17 * 1024;

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/** The run object: the context, the strict spec, the shared state, HTTP and the resources arrangements make. */
function createRun(contextPath) {
  const context = JSON.parse(readFileSync(contextPath, 'utf8'));
  const spec = JSON.parse(readFileSync(context.strictSpec, 'utf8'));
  const state = {
    /** Numbers every request, email and name an arrangement makes. */
    counter: 0,
    /** The auth-failures window of this client address, as the last 401 described it. */
    authWindow: undefined,
    /** Until when this address is locked out, once `lockOutThisAddress` did it. */
    lockedOutUntil: 0,
  };
  const run = {
    context,
    keys: context.keys,
    spec,
    state,
    /** Tokens of sign-ups and log-ins the transactions made, for the log-out case. */
    spareTokens: [],
    next: () => ++state.counter,
  };
  Object.assign(run, http(run));
  Object.assign(run, resources(run));
  Object.assign(run, accounts(run));
  return run;
}

/** HTTP to the target (through the observer) for arrangements. */
function http(run) {
  const { context } = run;

  async function call(
    transactionId,
    method,
    path,
    { key, token, headers = {}, body, direct = false, invalid = false, unpaced = false } = {},
  ) {
    const n = run.next();
    const init = {
      method,
      headers: { Accept: 'application/json', 'X-Request-Id': `${transactionId}.a${n}`, ...headers },
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

  return { call, expectCall };
}

/** Keys and contacts made with the caller's key, and the shared ones error cases need an existing id of. */
function resources(run) {
  const { context, keys, expectCall } = run;
  const uniqueEmail = () => `dredd.${context.runId}.${run.next()}@example.com`;
  const noteCreated = (kind, id) => appendFileSync(context.created, `${JSON.stringify({ kind, id })}\n`);

  async function createKey(transactionId, body = { name: `Contract run: Dredd key ${run.next()}` }) {
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

  /** A webhook endpoint pointing at the run's receiver (the target must accept it: --allow-private-webhooks). */
  async function createEndpoint(transactionId, body = {}) {
    if (!context.webhookReceiver) {
      throw new Error('arranging: the run started no webhook receiver');
    }
    const full = { url: `${context.webhookReceiver}/dredd/${run.next()}`, description: 'Contract run', ...body };
    const data = (
      await expectCall(201, transactionId, 'POST', '/v1/webhook-endpoints', { key: keys.admin, body: full })
    ).data;
    noteCreated('endpoint', data.endpointId);
    return data;
  }

  /** A delivery of `endpointId`: its test event (a ping), queued. */
  async function createDelivery(transactionId, endpointId) {
    const path = `/v1/webhook-endpoints/${encodeURIComponent(endpointId)}/test`;
    return (await expectCall(202, transactionId, 'POST', path, { key: keys.admin })).data;
  }

  let fixtureEndpoint;
  let fixtureDelivery;
  const fixtureEndpointId = async (id) => {
    fixtureEndpoint ??= createEndpoint(id, { description: 'Contract run: Dredd fixture endpoint' });
    return (await fixtureEndpoint).endpointId;
  };
  const fixtureDeliveryId = async (id) => {
    const endpointId = await fixtureEndpointId(id);
    fixtureDelivery ??= createDelivery(id, endpointId);
    return (await fixtureDelivery).deliveryId;
  };

  return {
    uniqueEmail,
    noteCreated,
    createKey,
    createContact,
    fixtureKeyId,
    fixtureContactId,
    createEndpoint,
    createDelivery,
    fixtureEndpointId,
    fixtureDeliveryId,
  };
}

/** The run's throwaway users (signed up by the runner), their organization, and users signed up for one case. */
function accounts(run) {
  const { context, call, expectCall, uniqueEmail } = run;
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

  async function createOrgKey(id, user = needUsers().owner, body = { name: `Contract run: org key ${run.next()}` }) {
    const path = `/organizations/${user.organizationId}/api-keys`;
    return (await expectCall(201, id, 'POST', path, { token: user.token, body })).data;
  }
  let fixtureOrgKey;
  const fixtureOrgKeyId = async (id) => {
    fixtureOrgKey ??= createOrgKey(id, needUsers().owner, { name: 'Contract run: Dredd organization key' });
    return (await fixtureOrgKey).keyId;
  };

  /** An endpoint of the owners' organization (its twins' cases), at the run's receiver, made with an owner's token. */
  async function createOrgEndpoint(id, body = {}) {
    const { owner } = needUsers();
    const path = `/organizations/${owner.organizationId}/webhook-endpoints`;
    const full = { url: `${context.webhookReceiver}/dredd/${run.next()}`, description: 'Contract run (twin)', ...body };
    return (await expectCall(201, id, 'POST', path, { token: owner.token, body: full })).data;
  }
  let fixtureOrgEndpoint;
  let fixtureOrgDelivery;
  const fixtureOrgEndpointId = async (id) => {
    fixtureOrgEndpoint ??= createOrgEndpoint(id, { description: 'Contract run: Dredd organization endpoint' });
    return (await fixtureOrgEndpoint).endpointId;
  };
  const fixtureOrgDeliveryId = async (id) => {
    const endpointId = await fixtureOrgEndpointId(id);
    const { owner } = needUsers();
    const path = `/organizations/${owner.organizationId}/webhook-endpoints/${encodeURIComponent(endpointId)}/test`;
    fixtureOrgDelivery ??= expectCall(202, id, 'POST', path, { token: owner.token }).then((res) => res.data);
    return (await fixtureOrgDelivery).deliveryId;
  };

  /**
   * A session id for the cases that only need one in the path (none of them reaches the point of ending it): the
   * owner's sign-up session. The success case ends a session of its own (`signUpSpareUser`).
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
    const password = `pw ${context.runId} ${run.next()} spare`;
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

  return {
    users,
    needUsers,
    anOwner,
    createOrgKey,
    fixtureOrgKeyId,
    createOrgEndpoint,
    fixtureOrgEndpointId,
    fixtureOrgDeliveryId,
    fixtureSessionId,
    signUpSpareUser,
    ensureMember,
    ensureNotMember,
  };
}

module.exports = { ROUTE_HEADER, INTENT_HEADER, PACE_HEADER, OVERSIZED_HEADER_BYTES, sleep, createRun };
