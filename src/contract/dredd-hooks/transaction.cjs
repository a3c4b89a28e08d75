// Arranging one Dredd transaction: its headers, credentials, path ids and body.

const { sign } = require('node:crypto');
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
    fixtureEndpointId,
    fixtureDeliveryId,
    fixtureOrgEndpointId,
    fixtureOrgDeliveryId,
    context,
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
      } else if (name === 'endpointId') {
        values[name] = organizationScoped(transaction) ? await fixtureOrgEndpointId(id) : await fixtureEndpointId(id);
      } else if (name === 'deliveryId') {
        values[name] = organizationScoped(transaction) ? await fixtureOrgDeliveryId(id) : await fixtureDeliveryId(id);
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

  const invalidOnPurpose = (transaction) => setHeader(transaction, INTENT_HEADER, 'invalid');
  const unpaced = (transaction) => setHeader(transaction, PACE_HEADER, 'none');
  const freshIdempotencyKey = (id) => `${id}.idem.${run.next()}`;

  /** Valid credentials and real ids, so the status under test isn't a masked 401 or 404. */
  async function validCaller(transaction, operation, id) {
    credentials(transaction, operation);
    await fillIds(transaction, operation, id);
  }

  return {
    signReport,
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
