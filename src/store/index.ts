import { openPgliteStore, type PgliteStoreOptions } from './pglite.ts';
import { openPostgresStore, type PostgresStoreOptions } from './postgres.ts';
import type { Store } from './types.ts';

/** Which store to open: embedded PGlite (memory or a data directory) or a PostgreSQL server. */
export type StoreConfig = ({ kind: 'pglite' } & PgliteStoreOptions) | ({ kind: 'postgres' } & PostgresStoreOptions);

/** Opens the configured store and applies pending migrations. */
export async function openStore(config: StoreConfig): Promise<Store> {
  if (config.kind === 'pglite') {
    const { kind: _kind, ...options } = config;
    return openPgliteStore(options);
  }
  const { kind: _kind, ...options } = config;
  return openPostgresStore(options);
}

export { loadMigrations, type Migration, migrate } from './migrate.ts';
export { openPgliteDb, openPgliteStore } from './pglite.ts';
export { openPostgresDb, openPostgresStore } from './postgres.ts';
export { ALL_KEYS, KEY_CHANGES_CHANNEL } from './sql-key-changes.ts';
export { createSqlStore } from './sql-store.ts';
export * from './types.ts';
export type { PgliteStoreOptions, PostgresStoreOptions };
