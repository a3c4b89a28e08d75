import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { migrate } from './migrate.ts';
import { createSqlStore } from './sql-store.ts';
import { type Db, type DbResult, type Queryable, type Store, StoreUnavailableError } from './types.ts';

/** Options of the embedded store. */
export interface PgliteStoreOptions {
  /** Directory holding the database (created if missing); in memory when undefined. One process per directory. */
  dataDir?: string;
}

function closedError(): StoreUnavailableError {
  return new StoreUnavailableError('the embedded database is closed');
}

function wrap(target: PGlite | Transaction): Queryable {
  return {
    async query<T>(sql: string, params: unknown[] = []): Promise<DbResult<T>> {
      const result = await target.query<T>(sql, params);
      return { rows: result.rows, affectedRows: result.affectedRows };
    },
    async exec(sql: string): Promise<void> {
      await target.exec(sql);
    },
  };
}

/** Opens a PGlite database (not migrated) behind the `Db` interface. */
export async function openPgliteDb(options: PgliteStoreOptions = {}): Promise<Db> {
  let pg: PGlite;
  if (options.dataDir === undefined) {
    pg = new PGlite();
  } else {
    const dataDir = resolve(options.dataDir);
    await mkdir(dataDir, { recursive: true });
    pg = new PGlite(dataDir);
  }
  await pg.waitReady;
  const direct = wrap(pg);
  let closing: Promise<void> | undefined;

  // PGlite throws a plain Error once closed; callers should see the same error as for a dead server.
  function guard(): void {
    if (closing !== undefined || pg.closed) {
      throw closedError();
    }
  }

  return {
    kind: 'pglite',
    async query<T>(sql: string, params?: unknown[]): Promise<DbResult<T>> {
      guard();
      return direct.query<T>(sql, params);
    },
    async exec(sql: string): Promise<void> {
      guard();
      await direct.exec(sql);
    },
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      guard();
      // Statement timeouts do not apply: PGlite runs in this process and cannot become unreachable.
      return pg.transaction((tx) => fn(wrap(tx)));
    },
    async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
      guard();
      // In-process LISTEN/NOTIFY: there is no connection to lose, so onReconnect is never needed.
      const unlisten = await pg.listen(channel, onNotify);
      return async () => {
        if (closing === undefined && !pg.closed) {
          await unlisten();
        }
      };
    },
    close(): Promise<void> {
      closing ??= pg.closed ? Promise.resolve() : pg.close();
      return closing;
    },
  };
}

/** Opens (creating when needed) and migrates the embedded store. */
export async function openPgliteStore(options: PgliteStoreOptions = {}): Promise<Store> {
  const db = await openPgliteDb(options);
  try {
    await migrate(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  return createSqlStore(db);
}
