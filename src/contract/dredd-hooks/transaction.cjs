// Arranging one Dredd transaction: its headers, credentials, path ids and body.

const { INTENT_HEADER, PACE_HEADER } = require('./context.cjs');

/** Adds the transaction editors to `run`. */
module.exports = function transactionEditors(run) {
  const {
    keys,
    credentialKind,
    organizationScoped,
    needUsers,
    anOwner,
    fixtureContactId,
    fixtureKeyId,
    fixtureOrgKeyId,
    fixtureSessionId,
  } = run;
  let authTurn = 0;

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
          `arranging: no value for the path parameter {${name}}: add one to src/contract/dredd-hooks/transaction.cjs`,
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
  const freshIdempotencyKey = (id) => `${id}.idem.${run.next()}`;

  /** Valid credentials and real ids, so the status under test isn't a masked 401 or 404. */
  async function validCaller(transaction, operation, id) {
    credentials(transaction, operation);
    await fillIds(transaction, operation, id);
  }

  return {
    setHeader,
    clearCredentials,
    authenticate,
    useToken,
    credentials,
    setPath,
    fillIds,
    setBody,
    exampleBodyOf,
    invalidOnPurpose,
    unpaced,
    freshIdempotencyKey,
    validCaller,
  };
};
