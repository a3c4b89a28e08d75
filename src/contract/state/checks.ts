// The check classes of the state model, as the report names and explains them.

export const STATE_CHECKS = {
  'read-after-write':
    'created means readable by id and in the list with the fields sent; updated shows everywhere; deleted is 404 on every read (401 for a key used), absent from lists, meta.total down by one; a rotation keeps what x-mailroom-inherits lists',
  'state-header':
    'Deprecation/Sunset only (and always) on a key inside its rotation grace; Idempotent-Replayed only (and always) on a replay; Retry-After only on 429, 503 and 409 IDEMPOTENCY_KEY_IN_USE; lastUsed set once a key is used and never moving backwards',
  counter:
    'X-RateLimit-Remaining and RateLimit r fall by exactly one per counted request of a subject within a window, not at all on x-rate-limit: peek operations, and never rise before the announced reset',
  'secret-exposure':
    'a secret (x-mailroom-secret: a key, a user token) appears only in the answer that issued it and its idempotent replay (or an answer echoing the request that sent it); no later answer carries it whole or past its masked prefix',
} as const;

/** A check class of the state model. */
export type StateCheck = keyof typeof STATE_CHECKS;

/** Something the state model found. */
export interface StateFinding {
  check: StateCheck;
  message: string;
}
