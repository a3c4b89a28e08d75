// The seam between the one SQL implementation (sql-store.ts and its sql-*.ts families) and the drivers (pglite.ts,
// postgres.ts): the few operations both back-ends provide.

/** Which back-end a store runs on. */
export type StoreKind = 'pglite' | 'postgres';

/** Result of one SQL statement, the common subset of PGlite's and pg's results. */
export interface DbResult<T> {
  rows: T[];
  affectedRows?: number;
}

/** Something SQL can run on: the database itself or an open transaction. */
export interface Queryable {
  /** One statement with `$n` parameters. */
  query<T>(sql: string, params?: unknown[]): Promise<DbResult<T>>;
  /** Several statements without parameters (migration files). */
  exec(sql: string): Promise<void>;
}

/** The tiny database surface both back-ends provide, so the store runs literally the same SQL on each. */
export interface Db extends Queryable {
  readonly kind: StoreKind;
  /** Runs `fn` in a transaction; `timeoutMs` lifts the per-statement timeout for long work such as migrations. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>, opts?: { timeoutMs?: number }): Promise<T>;
  /** Listens on a channel; `onReconnect` runs when notifications may have been missed. Returns an unsubscribe function. */
  listen(channel: string, onNotify: (payload: string) => void, onReconnect: () => void): Promise<() => Promise<void>>;
  /** Closes the database; idempotent. */
  close(): Promise<void>;
  /**
   * Where the driver can load rows in COPY's text format (PGlite: from a blob, in its own thread), loads `text` into
   * `target` (`table (column, …)`); absent on drivers that can't (the caller then inserts another way).
   */
  copyFrom?(target: string, text: string): Promise<void>;
}
