import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { gunzipSync } from 'node:zlib';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { loadMigrations, type Migration, migrate } from './migrate.ts';
import {
  defaultSnapshotDir,
  describeSnapshot,
  INITDB_PARAMS,
  type PgliteSnapshot,
  readSnapshot,
} from './pglite-snapshot.ts';
import { createSqlStore } from './sql-store.ts';
import { type Db, type DbResult, type Queryable, type Store, StoreUnavailableError } from './types.ts';

/** Options of the embedded store. */
export interface PgliteStoreOptions {
  /** Directory holding the database (created if missing); in memory when undefined. One process per directory. */
  dataDir?: string;
  /**
   * A new database (in memory, or a data directory without one yet) starts as a copy of this snapshot directory instead
   * of running initdb and every migration, when the snapshot fits the migrations (default: the build's,
   * `dist/store/pglite-snapshot/`). `false` always runs initdb.
   */
  snapshot?: string | false;
}

/** Options of {@link openPgliteDb}. */
export interface PgliteDbOptions {
  /** As in {@link PgliteStoreOptions}. */
  dataDir?: string;
  /** The data directory a new database starts as, instead of initdb's (see readSnapshot). */
  snapshot?: PgliteSnapshot;
}

// PGlite starts PostgreSQL with initdb's postgresql.conf, sized for a server: 128 MB of shared buffers, which
// PostgreSQL zeroes at start (all of it resident), and 100 connections' worth of shared state. PGlite is one
// single-user backend, and its files are in memory or in the OS page cache already, so small buffers cost a copy, not
// a read. Both settings are valid for any data directory, old ones included. Measured in scripts/measure-startup.mjs
// (README, *Start-up*).
const START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=8MB', '-c', 'max_connections=8'];

// Written into the snapshot's postgresql.auto.conf, so only databases made from it have them (they need its 1 MB WAL
// segments: PostgreSQL refuses a min_wal_size under two segments, and older directories have 16 MB ones). WAL is
// bounded so a long-running in-memory sandbox checkpoints and recycles segments instead of keeping up to 1 GB of
// them (PostgreSQL's default max_wal_size) in memory.
const SNAPSHOT_SETTINGS = { max_wal_size: '32MB', min_wal_size: '4MB' };

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

// PGlite is 9 MB of WebAssembly. V8 compiles each function with its baseline compiler (Liftoff) when first called, and
// recompiles the ones that ran long enough (the tiering budget) with its optimizing compiler (TurboFan), in the
// background. Opening a database runs hundreds of functions past the default budget: those compiles cost 0.3-0.6 s of
// CPU and 50-110 MiB of resident memory that is never returned, for queries that measured no faster here. A budget
// 1,000 times larger leaves start-up and an idle sandbox on Liftoff, while what stays hot under sustained load still
// tiers up. Set once, before the first module is compiled, for the whole process (its other WebAssembly too: undici's
// HTTP parser under fetch). `--liftoff-only` did the same on Node 20 but is not read after start-up on Node 26.
let wasmTieringSet = false;
function raiseWasmTieringBudget(): void {
  if (!wasmTieringSet) {
    wasmTieringSet = true;
    setFlagsFromString('--wasm-tiering-budget=2000000000');
  }
}

/** Starts PGlite on `dataDir` (memory when undefined), from `snapshot` when the database is new. */
async function startPglite(dataDir: string | undefined, snapshot: PgliteSnapshot | undefined): Promise<PGlite> {
  raiseWasmTieringBudget();
  const fresh = dataDir === undefined || !existsSync(join(dataDir, 'PG_VERSION'));
  const pg = new PGlite({
    dataDir,
    startParams: START_PARAMS,
    initDbStartParams: INITDB_PARAMS,
    // Unzipped here: zlib takes a third of the CPU of PGlite's own (web-stream) gunzip of a gzip-typed Blob.
    ...(fresh && snapshot ? { loadDataDir: new Blob([gunzipSync(snapshot.tarball)]) } : {}),
  });
  await pg.waitReady;
  return pg;
}

/** Opens a PGlite database behind the `Db` interface: not migrated, or as migrated as its snapshot when new. */
export async function openPgliteDb(options: PgliteDbOptions = {}): Promise<Db> {
  const dataDir = options.dataDir === undefined ? undefined : resolve(options.dataDir);
  if (dataDir !== undefined) {
    await mkdir(dataDir, { recursive: true });
  }
  const pg = await startPglite(dataDir, options.snapshot);
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
    async copyFrom(target: string, text: string): Promise<void> {
      guard();
      // PGlite's COPY reads a blob as the file /dev/blob: the rows go in without a parameter to parse.
      await pg.query(`COPY ${target} FROM '/dev/blob'`, [], { blob: new Blob([text]) });
    },
    close(): Promise<void> {
      closing ??= pg.closed ? Promise.resolve() : pg.close();
      return closing;
    },
  };
}

/**
 * Opens (creating when needed) and migrates the embedded store. A new database starts from the snapshot (see
 * PgliteStoreOptions) when it fits, and the migrations newer than the snapshot run on top of it.
 */
export async function openPgliteStore(options: PgliteStoreOptions = {}): Promise<Store> {
  const migrations = await loadMigrations();
  const found =
    options.snapshot === false ? undefined : await readSnapshot(options.snapshot ?? defaultSnapshotDir(), migrations);
  const snapshot = found !== undefined && 'snapshot' in found ? found.snapshot : undefined;
  const db = await openPgliteDb({ dataDir: options.dataDir, snapshot });
  try {
    await migrate(db, migrations);
  } catch (err) {
    await db.close();
    throw err;
  }
  return createSqlStore(db);
}

/**
 * Makes the snapshot of `migrations`: initdb and the migrations in a scratch data directory, shut down cleanly (so a
 * copy starts without crash recovery), then packed by PGlite itself. It holds no data but `schema_migrations`, and no
 * secret: the server secret lives outside the database.
 */
export async function createPgliteSnapshot(migrations: Migration[]): Promise<PgliteSnapshot> {
  const scratch = await mkdtemp(join(tmpdir(), 'mailroom-snapshot-'));
  try {
    const db = await openPgliteDb({ dataDir: scratch });
    try {
      await migrate(db, migrations);
      for (const [name, value] of Object.entries(SNAPSHOT_SETTINGS)) {
        await db.exec(`ALTER SYSTEM SET ${name} = '${value}'`);
      }
      // Only the database PGlite connects to: the templates initdb makes are for CREATE DATABASE, which nothing here
      // runs, and would be half of every copy (7 MB each, in memory for a --memory store).
      await db.exec("UPDATE pg_database SET datistemplate = false WHERE datname IN ('template0', 'template1')");
      await db.exec('DROP DATABASE template0');
      await db.exec('DROP DATABASE template1');
    } finally {
      await db.close();
    }
    // Not started (noInitDb): only the file system is mounted, for dumpDataDir to pack.
    const packer = new PGlite({ dataDir: scratch, noInitDb: true });
    await packer.waitReady;
    const tarball = new Uint8Array(await (await packer.dumpDataDir('gzip')).arrayBuffer());
    await packer.close();
    return { manifest: describeSnapshot(migrations), tarball };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
