// The arrangement of every 2xx: valid credentials of the kind the operation takes, and what it acts on, made for
// it (a key, a contact, an organization key, a member added or removed, a user of its own for what ends sessions).

const { sleep } = require('./context.cjs');

/** The success of a user-token operation (run is the hooks' run object). */
function userSuccess(run) {
  const {
    spareTokens,
    needUsers,
    expectCall,
    useToken,
    signUpSpareUser,
    setBody,
    fillIds,
    credentials,
    createOrgKey,
    ensureNotMember,
    ensureMember,
  } = run;
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
    if (opId === 'createOrganizationWebhookEndpoint') {
      await fillIds(transaction, operation, id);
      setBody(transaction, {
        url: `${run.context.webhookReceiver}/dredd/${run.next()}`,
        description: 'Contract run: created by Dredd (twin)',
        enabledEvents: ['api_key.created', 'api_key.revoked'],
      });
      return "the run's receiver (on 127.0.0.1)";
    }
    if (opId === 'deleteOrganizationWebhookEndpoint') {
      const endpoint = await run.createOrgEndpoint(id);
      await fillIds(transaction, operation, id, { endpointId: endpoint.endpointId });
      return `an endpoint of the organization created for it (${endpoint.endpointId})`;
    }
    if (opId === 'updateOrganizationWebhookEndpoint') {
      setBody(transaction, { description: 'Contract run: Dredd organization endpoint, updated', disabled: false });
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
  return arrangeUserSuccess;
}

/** Adds the success arrangement to `run`. */
module.exports = (run) => {
  const {
    keys,
    state,
    credentialKind,
    setBody,
    exampleBodyOf,
    uniqueEmail,
    needUsers,
    authenticate,
    createKey,
    createContact,
    fillIds,
    expectCall,
    setPath,
    createEndpoint,
    context,
    credentials,
  } = run;
  const arrangeUserSuccess = userSuccess(run);

  const arrangements = {
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
      if (kind === 'signature') {
        // A report of a key made for it: a true positive, revoked at once (and a junk token, a false positive).
        const leaked = await createKey(id, { name: `Contract run: leaked key ${run.next()}` });
        setBody(transaction, [
          {
            token: leaked.apiKey,
            type: 'mailroom_api_key',
            url: 'https://github.com/o/r/blob/1/k.js',
            source: 'content',
          },
          { token: 'mr_00000000_not-a-key', type: 'mailroom_api_key', url: '', source: 'gist' },
        ]);
        credentials(transaction, operation);
        return `a signed report of a key made for it (${leaked.keyId}) and a junk token`;
      }
      if (kind === 'user') {
        return arrangeUserSuccess(transaction, operation, id);
      }
      authenticate(transaction);
      if (operation['x-sandbox-only'] === true && Date.now() < state.lockedOutUntil) {
        // Only when the lockout case came first (the runner orders it last: run.ts lockoutTransactions): wait it out.
        await sleep(state.lockedOutUntil - Date.now() + 1000);
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
      if (opId === 'createWebhookEndpoint') {
        setBody(transaction, {
          url: `${context.webhookReceiver}/dredd/${run.next()}`,
          description: 'Contract run: created by Dredd',
          enabledEvents: ['api_key.created', 'api_key.revoked'],
        });
        return "the run's receiver (on 127.0.0.1)";
      }
      if (opId === 'deleteWebhookEndpoint') {
        const endpoint = await createEndpoint(id);
        await fillIds(transaction, operation, id, { endpointId: endpoint.endpointId });
        return `an endpoint created for it (${endpoint.endpointId})`;
      }
      if (opId === 'updateWebhookEndpoint') {
        setBody(transaction, { description: 'Contract run: Dredd fixture endpoint, updated', disabled: false });
      }
      if (opId === 'listWebhookDeliveries' || opId === 'retryWebhookDelivery') {
        // An organization holds at most 20 endpoints: the reads and changes share one, with its test delivery.
        await fillIds(transaction, operation, id);
        return "the run's fixture endpoint and its test delivery";
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
  };

  return { arrangements };
};
