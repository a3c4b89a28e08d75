import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Db, Queryable } from './types.ts';

/** One versioned SQL file from `migrations/`. */
export interface Migration {
  /** File name without `.sql`, e.g. `001_init`; applied in lexical order. */
  version: string;
  sql: string;
}

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
const MIGRATION_FILE = /^\d+_[a-z0-9_]+\.sql$/;

// Migrations are DDL and may legitimately outlast the per-statement timeout that protects requests.
const MIGRATION_TIMEOUT_MS = 60_000;

/** Reads the migration files, ordered by version. */
export async function loadMigrations(dir: string = MIGRATIONS_DIR): Promise<Migration[]> {
  const names = (await readdir(dir)).filter((name) => MIGRATION_FILE.test(name)).sort();
  return Promise.all(
    names.map(async (name) => ({
      version: name.slice(0, -'.sql'.length),
      sql: await readFile(`${dir}/${name}`, 'utf8'),
    })),
  );
}

// Serializes migrators of the same schema across processes. The lock is transaction-scoped, so it is released
// by COMMIT/ROLLBACK and even by a dropped connection. Keyed by schema so test schemas do not wait on each other.
// PGlite is single-process, but it accepts the same call, which keeps one code path.
async function lock(tx: Queryable): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock(7261, hashtext(coalesce(current_schema(), '')))");
}

/** Applies pending migrations, each in its own transaction; returns the versions applied (empty when up to date). */
export async function migrate(db: Db, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? (await loadMigrations());
  const opts = { timeoutMs: MIGRATION_TIMEOUT_MS };
  // Created under the lock too: concurrent CREATE TABLE IF NOT EXISTS can fail on PostgreSQL's catalog indexes.
  await db.transaction(async (tx) => {
    await lock(tx);
    await tx.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
  }, opts);
  const applied: string[] = [];
  for (const migration of all) {
    const ran = await db.transaction(async (tx) => {
      await lock(tx);
      // Checked again under the lock: another process may have applied it since we looked.
      const done = await tx.query('SELECT 1 FROM schema_migrations WHERE version = $1', [migration.version]);
      if (done.rows.length > 0) {
        return false;
      }
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())', [migration.version]);
      return true;
    }, opts);
    if (ran) {
      applied.push(migration.version);
    }
  }
  return applied;
}
