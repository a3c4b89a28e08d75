// Spending the target's windows for the 429 cases, and filling an organization to its key cap for
// KEY_LIMIT_REACHED: requests sent straight to the target, unpaced (the observer would wait instead).

/** Keys an organization may hold (the spec's KEY_LIMIT_REACHED). */
const KEY_CAP = 100;

/** Adds the window spenders to `run`. */
module.exports = function windowSpenders(run) {
  const { keys, state, call, expectCall, needUsers } = run;

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
        state.lockedOutUntil = Date.now() + Math.max(Number(res.headers.get('retry-after')) || 60, 1) * 1000;
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

  return { exhaustCapped, exhaustLimitedUser, exhaustAddressWindow, lockOutThisAddress, keyOfFullOrganization };
};

module.exports.KEY_CAP = KEY_CAP;
