// The arrangements of 401 and 403: each cause of a failed authentication in turn (API key and user token), and
// each cause of a refusal: a member acting as an owner, a key lacking the operation's permission, a read_only key
// writing, a key asking for (or acting on) more than it holds.

const { sleep } = require('./context.cjs');

/** The causes of a failed authentication, in the order the 401 cases take them. */
function failedAuthCauses(run) {
  const { keys, users, setHeader, needUsers } = run;
  /** Each 401 cause of an API-key operation, in turn; the expired key is a scenario step. */
  const FAILED_AUTH_CAUSES = [
    ['missing credentials', () => {}],
    ['malformed key', (t) => setHeader(t, 'X-API-Key', 'mr_not_a_key')],
    [
      'checksum mismatch',
      (t) => {
        const last = keys.admin.at(-1);
        setHeader(t, 'Authorization', `Bearer ${keys.admin.slice(0, -1)}${last === 'A' ? 'B' : 'A'}`);
      },
    ],
    ['unknown key', (t) => setHeader(t, 'X-API-Key', keys.unknown)],
    ['revoked key', (t) => setHeader(t, 'Authorization', `Bearer ${keys.revoked}`)],
    [
      'conflicting credentials',
      (t) => {
        setHeader(t, 'Authorization', `Bearer ${keys.admin}`);
        setHeader(t, 'X-API-Key', keys.readOnly);
      },
    ],
    ['not a Bearer credential', (t) => setHeader(t, 'Authorization', 'Basic dXNlcjpwYXNzd29yZA==')],
    ['malformed Bearer key', (t) => setHeader(t, 'Authorization', 'Bearer not-a-key')],
    ...(users
      ? [
          [
            'a user token where an API key is required',
            (t) => setHeader(t, 'Authorization', `Bearer ${users.owner.token}`),
          ],
        ]
      : []),
  ];

  /** Each 401 cause of a user-token operation, in turn; the expired token is a scenario step. */
  const FAILED_TOKEN_CAUSES = [
    ['no token', () => {}],
    ['an API key where a user token is required', (t) => setHeader(t, 'Authorization', `Bearer ${keys.admin}`)],
    ['a malformed token', (t) => setHeader(t, 'Authorization', 'Bearer mru_not_a_token')],
    ['a logged-out token', (t) => setHeader(t, 'Authorization', `Bearer ${needUsers().loggedOut}`)],
    ['an API key in X-API-Key', (t) => setHeader(t, 'X-API-Key', keys.admin)],
  ];
  return { FAILED_AUTH_CAUSES, FAILED_TOKEN_CAUSES };
}

/** Adds the 401 and 403 arrangements to `run`. */
module.exports = (run) => {
  const {
    keys,
    state,
    needUsers,
    clearCredentials,
    setHeader,
    invalidOnPurpose,
    credentialKind,
    setBody,
    useToken,
    fillIds,
    ALL_PERMISSIONS,
    permissionsOf,
    createKey,
    authenticate,
  } = run;
  const { FAILED_AUTH_CAUSES, FAILED_TOKEN_CAUSES } = failedAuthCauses(run);
  let failedTokenTurn = 0;
  let failedAuthTurn = 0;

  /** Keys holding every permission but one, made once per permission left out. */
  const keysWithout = new Map();
  function keyWithout(id, permission) {
    if (!keysWithout.has(permission)) {
      const permissions = ALL_PERMISSIONS.filter((p) => p !== permission);
      keysWithout.set(permission, createKey(id, { name: `Contract run: all but ${permission}`, permissions }));
    }
    return keysWithout.get(permission);
  }
  /** Operations that act on a key, refused for a key holding a permission the caller lacks (permissionNotHeld). */
  const ACTS_ON_A_KEY = ['createApiKey', 'renameApiKey', 'rotateApiKey'];

  /**
   * An API-key operation's 403, each cause of the spec's: a key lacking the operation's own permission for the
   * reads (missingPermission), a read_only key for the other writes (readOnlyKey), and for creating, renaming and
   * rotating a key, a key that may manage keys asking for (or acting on) more than it holds (permissionNotHeld).
   * Between them, every permission is refused once.
   */
  async function arrangeKeyForbidden(transaction, operation, id) {
    const opId = operation.operationId;
    const needed = permissionsOf(operation);
    if (ACTS_ON_A_KEY.includes(opId)) {
      const lacking = ALL_PERMISSIONS.find((p) => !needed.includes(p) && !p.startsWith('api_keys:'));
      const manager = await keyWithout(id, lacking);
      authenticate(transaction, manager.apiKey);
      if (opId === 'createApiKey') {
        setBody(transaction, { name: 'Contract run: more than its creator holds', permissions: ALL_PERMISSIONS });
        return `a key without ${lacking} asking for a key with every permission`;
      }
      const target = await createKey(id);
      await fillIds(transaction, operation, id, { keyId: target.keyId });
      return `a key without ${lacking} acting on a key holding every permission`;
    }
    if (needed.length > 0 && needed.every((p) => p.endsWith(':read'))) {
      const [permission] = needed;
      const key = await keyWithout(id, permission);
      authenticate(transaction, key.apiKey);
      await fillIds(transaction, operation, id);
      return `a key with every permission but ${permission}`;
    }
    authenticate(transaction, keys.readOnly);
    await fillIds(transaction, operation, id);
    return 'a read_only key writing';
  }

  const arrangements = {
    async 401(transaction, operation) {
      clearCredentials(transaction);
      invalidOnPurpose(transaction);
      const kind = credentialKind(operation);
      let cause;
      if (kind === 'public') {
        // A log-in with a wrong password (any public operation that documents 401 takes credentials in its body).
        const { owner } = needUsers();
        setBody(transaction, { email: owner.email, password: `${owner.password} wrong` });
        return 'a wrong password';
      }
      if (kind === 'signature') {
        setHeader(transaction, 'Github-Public-Key-Identifier', undefined);
        setHeader(transaction, 'Github-Public-Key-Signature', undefined);
        return 'an unsigned report';
      }
      if (kind === 'user') {
        const [why, apply] = FAILED_TOKEN_CAUSES[failedTokenTurn++ % FAILED_TOKEN_CAUSES.length];
        apply(transaction);
        cause = why;
      } else {
        const [why, apply] = FAILED_AUTH_CAUSES[failedAuthTurn++ % FAILED_AUTH_CAUSES.length];
        apply(transaction);
        cause = why;
      }
      // Failed attempts are limited per client address: when the last 401 said none are left, wait.
      const { authWindow } = state;
      if (authWindow && authWindow.remaining <= 0 && Date.now() < authWindow.resetAt) {
        await sleep(authWindow.resetAt - Date.now() + 100);
      }
      return cause;
    },

    async 403(transaction, operation, id) {
      if (credentialKind(operation) === 'user') {
        const { member, owner } = needUsers();
        useToken(transaction, member);
        // An owner's action; or, where members may act on themselves only (leaving), another member.
        await fillIds(transaction, operation, id, { userId: owner.userId });
        return "the organization's member (not an owner) acting on another member";
      }
      return arrangeKeyForbidden(transaction, operation, id);
    },
  };

  return { arrangements };
};
