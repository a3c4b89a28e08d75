// The arrangement of 429 (a window really spent: the capped key's, the limited user's, this address's sign-ups and
// log-ins, or its failed authentications), and of what only a cooperative server answers (500, 503, and the pairs
// of SCENARIO_ONLY_PAIRS), forced with `Prefer: code=…`.

const { sign } = require('node:crypto');
const { PACE_HEADER, ROUTE_HEADER, sleep } = require('./context.cjs');

/** Adds the 429 and forced arrangements to `run`. */
module.exports = (run) => {
  const {
    keys,
    context,
    unpaced,
    authenticate,
    setHeader,
    lockOutThisAddress,
    credentialKind,
    exhaustAddressWindow,
    needUsers,
    exhaustLimitedUser,
    useToken,
    fillIds,
    exhaustCapped,
  } = run;
  /** Sends signed reports of a junk token until the target refuses the scanner's key identifier with 429. */
  async function exhaustScannerWindow(id) {
    const scanning = context.secretScanning;
    if (!scanning) {
      throw new Error('arranging: the run was given no secret-scanning private key (--secret-scanning-key)');
    }
    const body = JSON.stringify([{ token: 'mr_00000000_junk', type: 'mailroom_api_key', url: '', source: 'content' }]);
    const signature = sign('sha256', Buffer.from(body), { key: scanning.privateKey, dsaEncoding: 'der' });
    for (let attempt = 1; attempt <= 2000; attempt++) {
      const res = await fetch(new URL('/secret-scanning/github', context.observer), {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'X-Request-Id': `${id}.a${run.next()}`,
          'Github-Public-Key-Identifier': scanning.keyIdentifier,
          'Github-Public-Key-Signature': signature.toString('base64'),
          [ROUTE_HEADER]: 'direct',
          [PACE_HEADER]: 'none',
        },
        body,
      });
      await res.arrayBuffer();
      if (res.status === 429) {
        return attempt;
      }
      if (res.status !== 200) {
        throw new Error(`arranging: a signed junk report answered ${res.status}, expected 200 or 429`);
      }
    }
    throw new Error("arranging: 2000 signed reports and the scanner's window is still not spent");
  }

  const arrangements = {
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
      if (kind === 'signature') {
        if (Date.now() < run.state.lockedOutUntil) {
          // This address is locked out (the status read's 429 ran first): every authenticated request is refused.
          await sleep(run.state.lockedOutUntil - Date.now() + 1000);
        }
        // A secret scanner's reports are counted per key identifier, in a window the size of the address window.
        const attempts = await exhaustScannerWindow(id);
        await run.arrangeByStatus.success(transaction, operation, id);
        return `this secret scanner's window spent by ${attempts} signed reports of a junk token`;
      }
      if (kind === 'public') {
        await run.arrangeByStatus.success(transaction, operation, id);
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

    async forced(transaction, operation, id, status) {
      await run.arrangeByStatus.success(transaction, operation, id);
      setHeader(transaction, 'Prefer', `code=${status}`);
      return `forced with Prefer: code=${status}`;
    },
  };

  return { arrangements };
};
