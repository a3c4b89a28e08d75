// The arrangements of the statuses about the request itself: malformed JSON (400), a method no path takes (405), a
// body too large (413), of the wrong type (415), invalid (422, or an Idempotency-Key already used with another body),
// a header too large (431).

const { OVERSIZED_HEADER_BYTES, ROUTE_HEADER } = require('./context.cjs');

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
  getUsage: { query: 'from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', why: 'from after to' },
  getOrganizationUsage: { query: 'groupBy=weather', why: 'a groupBy outside the enum' },
  getApiKeyUsage: { query: 'granularity=fortnight', why: 'a granularity outside the enum' },
  listRequestLogs: { query: 'limit=0', why: 'limit=0 (minimum 1)' },
  listOrganizationRequestLogs: { query: 'cursor=bm90LWEtY3Vyc29y', why: 'a cursor the server never issued' },
  // Before its Idempotency-Key is looked at: a bad URL and an event that does not exist.
  createWebhookEndpoint: {
    body: { url: 'ftp://hooks.example.com/x', enabledEvents: ['no.such_event'] },
    why: 'an ftp URL, an event type that does not exist',
    first: true,
  },
  updateWebhookEndpoint: { body: { enabledEvents: ['no.such_event'] }, why: 'an event type that does not exist' },
  createOrganizationWebhookEndpoint: {
    body: { url: 'ftp://hooks.example.com/x', enabledEvents: ['no.such_event'] },
    why: 'an ftp URL, an event type that does not exist',
    first: true,
  },
  updateOrganizationWebhookEndpoint: {
    body: { enabledEvents: ['no.such_event'] },
    why: 'an event type that does not exist',
  },
  reportLeakedKeys: { body: [], why: 'an empty report (minItems 1), signed' },
};

/** A body for `operation` with a string (else an integer) field changed: the same request in every other way. */
function changedBody(body) {
  const changed = { ...body };
  const field = Object.keys(changed).find((name) => typeof changed[name] === 'string' && !changed[name].includes('@'));
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

/** Adds the input arrangements to `run`. */
module.exports = (run) => {
  const {
    keys,
    validCaller,
    setBody,
    setHeader,
    invalidOnPurpose,
    takesIdempotencyKey,
    createKey,
    createOrgKey,
    fillIds,
    freshIdempotencyKey,
    credentialKind,
    expectCall,
    noteCreated,
    setPath,
    uniqueEmail,
    exampleBodyOf,
  } = run;
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

  const arrangements = {
    async 400(transaction, operation, id) {
      await validCaller(transaction, operation, id);
      setBody(transaction, '{"name": "unterminated');
      // Prism parses JSON bodies itself and would answer malformed JSON with its own 400.
      setHeader(transaction, ROUTE_HEADER, 'direct');
      invalidOnPurpose(transaction);
      return 'malformed JSON body (sent past Prism)';
    },

    async 405(transaction, operation, id) {
      await validCaller(transaction, operation, id);
      transaction.request.method = 'PUT';
      invalidOnPurpose(transaction);
      return 'PUT, which no path supports';
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
      if (takesIdempotencyKey(transaction, operation) && !INVALID_INPUT[operation.operationId]?.first) {
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

    async 431(transaction, operation, id) {
      await validCaller(transaction, operation, id);
      setHeader(transaction, 'X-Contract-Padding', 'x'.repeat(OVERSIZED_HEADER_BYTES));
      // Prism's own HTTP server would refuse the head before the target sees it.
      setHeader(transaction, ROUTE_HEADER, 'direct');
      invalidOnPurpose(transaction);
      return `a ${OVERSIZED_HEADER_BYTES / 1024} KiB header`;
    },
  };

  return { arrangements };
};
