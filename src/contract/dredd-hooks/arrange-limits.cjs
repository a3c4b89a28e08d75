// The arrangement of 429 (a window really spent: the capped key's, the limited user's, this address's sign-ups and
// log-ins, or its failed authentications), and of what only a cooperative server answers (500, 503, and the pairs
// of SCENARIO_ONLY_PAIRS), forced with `Prefer: code=…`.

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
