import type { Db } from './db.ts';
import { InvalidValueError } from './errors.ts';
import { sqlStateOf } from './rows.ts';
import { apiKeyStatements } from './sql-api-keys.ts';
import { contactStatements } from './sql-contacts.ts';
import { idempotencyStatements } from './sql-idempotency.ts';
import { keyChangeStatements } from './sql-key-changes.ts';
import { membershipStatements } from './sql-memberships.ts';
import { organizationStatements } from './sql-organizations.ts';
import { stateStatements } from './sql-state.ts';
import { usageStatements } from './sql-usage.ts';
import { userTokenStatements } from './sql-user-tokens.ts';
import { userStatements } from './sql-users.ts';
import { webhookStatements } from './sql-webhooks.ts';
import type { Store } from './types.ts';

/**
 * The same database, with driver errors that mean "this value can't be stored" (SQLSTATE class 22, data exception)
 * turned into InvalidValueError where they arise, so nothing above the store reads SQLSTATEs.
 */
function withTypedErrors(db: Db): Db {
  const typed = (err: unknown): never => {
    const state = sqlStateOf(err);
    throw state.startsWith('22') ? new InvalidValueError(state, { cause: err }) : err;
  };
  const copyFrom = db.copyFrom?.bind(db);
  return {
    kind: db.kind,
    query: <T>(sql: string, params?: unknown[]) => db.query<T>(sql, params).catch(typed),
    exec: (sql) => db.exec(sql).catch(typed),
    transaction: (fn, opts) => db.transaction(fn, opts).catch(typed),
    listen: (...args) => db.listen(...args),
    close: () => db.close(),
    ...(copyFrom ? { copyFrom: (target: string, text: string) => copyFrom(target, text).catch(typed) } : {}),
  };
}

/**
 * The one Store implementation: every back-end runs exactly these statements through its `Db`. Each table family
 * brings its statements from its own `sql-<family>.ts`; a new family is a new file and a line here (and its
 * interface in types.ts's `Store`).
 */
export function createSqlStore(driver: Db, options: { ackTimeoutMs?: number } = {}): Store {
  const db = withTypedErrors(driver);
  const keyChanges = keyChangeStatements(db, { ackTimeoutMs: options.ackTimeoutMs ?? 2000 });
  return {
    kind: db.kind,
    ...organizationStatements(db),
    ...apiKeyStatements(db),
    ...contactStatements(db),
    ...idempotencyStatements(db),
    ...userStatements(db),
    ...userTokenStatements(db),
    ...membershipStatements(db),
    ...stateStatements(db),
    ...usageStatements(db),
    ...webhookStatements(db),
    ...keyChanges.statements,

    async ping() {
      await db.query('SELECT 1');
    },

    async close() {
      await keyChanges.close();
      await db.close();
    },
  };
}
