// Arranging one Dredd transaction: its headers, credentials, path ids and body. Each family of editors is built by its
// own function; transactionEditors puts them together on the run.

const { sign } = require('node:crypto');
const { INTENT_HEADER, PACE_HEADER } = require('./context.cjs');

/** Headers: set one (any spelling of its name replaced), drop the credentials, mark intent and pacing. */
function headerEditors() {
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

  const invalidOnPurpose = (transaction) => setHeader(transaction, INTENT_HEADER, 'invalid');
  const unpaced = (transaction) => setHeader(transaction, PACE_HEADER, 'none');
  return { setHeader, clearCredentials, invalidOnPurpose, unpaced };
}

/** Credentials: the caller's key (X-API-Key and Bearer in turn), a user's token, or a secret scanner's signature. */
function credentialEditors(run, { setHeader, clearCredentials }) {
  const { keys, credentialKind, anOwner, context } = run;
  let authTurn = 0;

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

  /**
   * A secret scanner's signature over the transaction's body as it stands (call it after the body is set): GitHub's
   * key identifier and a base64 ECDSA P-256 / SHA-256 signature, made with the private key the run was given.
   */
  function signReport(transaction) {
    const scanning = context.secretScanning;
    if (!scanning) {
      throw new Error('arranging: the run was given no secret-scanning private key (--secret-scanning-key)');
    }
    const signature = sign('sha256', Buffer.from(transaction.request.body ?? ''), {
      key: scanning.privateKey,
      dsaEncoding: 'der',
    });
    clearCredentials(transaction);
    setHeader(transaction, 'Github-Public-Key-Identifier', scanning.keyIdentifier);
    setHeader(transaction, 'Github-Public-Key-Signature', signature.toString('base64'));
  }

  /** Valid credentials of the kind the operation takes: the caller's key, an owner's token, or none. */
  function credentials(transaction, operation, { user, key } = {}) {
    const kind = credentialKind(operation);
    if (kind === 'signature') {
      // Without the private key, only what is answered before the signature is read is sent (431; the pairs a
      // signer alone reaches are skipped): no credentials.
      if (context.secretScanning) {
        signReport(transaction);
      }
      return undefined;
    }
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

  return { authenticate, useToken, signReport, credentials };
}

/** Paths: set one, or fill every path parameter with a real id the caller can see. */
function pathEditors(run) {
  const { needUsers, organizationScoped } = run;
  // Where each path parameter's real id comes from (the transaction, for the ones that depend on its scope).
  const sources = {
    organizationId: async () => needUsers().owner.organizationId,
    userId: async () => needUsers().member.userId,
    contactId: (id) => run.fixtureContactId(id),
    keyId: (id, transaction) => (organizationScoped(transaction) ? run.fixtureOrgKeyId(id) : run.fixtureKeyId(id)),
    sessionId: (id) => run.fixtureSessionId(id),
    endpointId: (id, transaction) =>
      organizationScoped(transaction) ? run.fixtureOrgEndpointId(id) : run.fixtureEndpointId(id),
    deliveryId: (id, transaction) =>
      organizationScoped(transaction) ? run.fixtureOrgDeliveryId(id) : run.fixtureDeliveryId(id),
  };

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
      } else if (Object.hasOwn(sources, name)) {
        values[name] = await sources[name](id, transaction);
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

  return { setPath, fillIds };
}

/** Bodies: set one (a signed report is signed again over it), read the example body Dredd put there. */
function bodyEditors({ setHeader }, { signReport }) {
  function setBody(transaction, body, contentType = 'application/json') {
    transaction.request.body = typeof body === 'string' ? body : JSON.stringify(body);
    setHeader(transaction, 'Content-Type', contentType);
    if (transaction.request.headers['Github-Public-Key-Signature'] !== undefined) {
      signReport(transaction); // a signed report stays signed over its new body
    }
  }

  const exampleBodyOf = (transaction) => {
    try {
      return JSON.parse(transaction.request.body || '{}');
    } catch {
      return {};
    }
  };
  return { setBody, exampleBodyOf };
}

/** Adds the transaction editors to `run`. */
module.exports = function transactionEditors(run) {
  const headers = headerEditors();
  const creds = credentialEditors(run, headers);
  const paths = pathEditors(run);
  const bodies = bodyEditors(headers, creds);
  const freshIdempotencyKey = (id) => `${id}.idem.${run.next()}`;

  /** Valid credentials and real ids, so the status under test isn't a masked 401 or 404. */
  async function validCaller(transaction, operation, id) {
    creds.credentials(transaction, operation);
    await paths.fillIds(transaction, operation, id);
  }

  return { ...headers, ...creds, ...paths, ...bodies, freshIdempotencyKey, validCaller };
};
