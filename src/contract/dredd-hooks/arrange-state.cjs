// The arrangements of the statuses about stored state: an id that does not exist or is another organization's
// (404), and each conflict (409): a taken email, a member already one, the last owner stepping down, a key rotated
// twice, an organization full of keys. What only a cooperative server produces is in SCENARIO_ONLY_PAIRS.

const { KEY_CAP } = require('./windows.cjs');

/** Adds the 404 and 409 arrangements to `run`. */
module.exports = (run) => {
  const {
    keys,
    credentialKind,
    organizationScoped,
    credentials,
    needUsers,
    fillIds,
    setBody,
    exampleBodyOf,
    validCaller,
    useToken,
    authenticate,
    createKey,
    expectCall,
    freshIdempotencyKey,
    noteCreated,
    createOrgKey,
    keyOfFullOrganization,
    createContact,
  } = run;
  /**
   * (operationId status) pairs whose only cause a plain server can't be made to produce through the public API, with
   * the reason; a server that honours scenarios is asked for them with `Prefer: code=…`.
   */
  const SCENARIO_ONLY_PAIRS = {
    'createOrganization 409':
      'its only 409 is IDEMPOTENCY_KEY_IN_USE, a retry landing while the first request with its Idempotency-Key still runs',
    'createWebhookEndpoint 409':
      'its only 409 is IDEMPOTENCY_KEY_IN_USE, a retry landing while the first request with its Idempotency-Key still runs',
    'createOrganizationWebhookEndpoint 409':
      'its only 409 is IDEMPOTENCY_KEY_IN_USE, a retry landing while the first request with its Idempotency-Key still runs',
  };

  const arrangements = {
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
        endpointId: 'we_0000000000000000',
        deliveryId: 'dlv_0000000000000000',
      });
      return 'an id that does not exist';
    },

    async 409(transaction, operation, id) {
      const opId = operation.operationId;
      if (SCENARIO_ONLY_PAIRS[`${opId} 409`]) {
        return run.arrangeByStatus.forced(transaction, operation, id, 409);
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
  };

  return { arrangements, SCENARIO_ONLY_PAIRS };
};
