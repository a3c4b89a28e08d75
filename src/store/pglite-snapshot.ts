// The embedded store's start-up snapshot: a data directory after initdb and every migration, made at build time
// (scripts/build-snapshot.mjs, createPgliteSnapshot) and unpacked for every new database instead of running them.
// Its data tables are empty (only schema_migrations has rows; test/store/pglite-snapshot.test.ts holds it to that), so
// a running sandbox gets back to it without reopening PGlite: TRUNCATE of the data tables is the empty state, and a
// seeded state is those tables captured once after seeding (COPY ... TO '/dev/blob' WITH (FORMAT binary)) and
// copied back in one transaction: 40-130 ms for 220 rows measured here, against 0.35 s of CPU to reopen.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Migration } from './migrate.ts';

/**
 * What a snapshot was made from: the PGlite release (a data directory is tied to its PostgreSQL build) and each
 * migration it contains, by version and SHA-256 of the file, so an edited migration never hides behind a stale copy.
 */
export interface SnapshotManifest {
  /** How it was made (SNAPSHOT_FORMAT). */
  format: number;
  pglite: string;
  initdb: string[];
  migrations: { version: string; sha256: string }[];
}

/** A snapshot that matches the running PGlite and a prefix of the migrations: a gzipped tarball of a data directory. */
export interface PgliteSnapshot {
  manifest: SnapshotManifest;
  tarball: Uint8Array<ArrayBuffer>;
}

/** Raised whenever createPgliteSnapshot makes a different directory from the same migrations, so builds remake it. */
export const SNAPSHOT_FORMAT = 2;

/** initdb's arguments for every new embedded database: 1 MB WAL segments (16 MB by default, held in memory). */
export const INITDB_PARAMS = ['--wal-segsize=1'];

const TARBALL = 'pgdata.tar.gz';
const MANIFEST = 'manifest.json';

/**
 * Where the build puts the snapshot (`npm run build`): `dist/store/pglite-snapshot/`, beside the compiled store. Run
 * from `src/` (tests, tsx) the store uses the build's copy in the same checkout; the manifest keeps a stale one out.
 */
export function defaultSnapshotDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const beside = join(here, 'pglite-snapshot');
  return /[\\/]src[\\/]store[\\/]$/.test(here) ? join(here, '..', '..', 'dist', 'store', 'pglite-snapshot') : beside;
}

/** The installed PGlite release, e.g. `0.5.16`. */
export function pgliteVersion(): string {
  const require = createRequire(import.meta.url);
  // The package's exports don't list package.json: find it from the entry point (dist/index.cjs).
  const entry = require.resolve('@electric-sql/pglite');
  const manifest = require(join(entry, '..', '..', 'package.json')) as { version: string };
  return manifest.version;
}

/** The manifest a snapshot of `migrations` made with this PGlite carries. */
export function describeSnapshot(migrations: Migration[]): SnapshotManifest {
  return {
    format: SNAPSHOT_FORMAT,
    pglite: pgliteVersion(),
    initdb: INITDB_PARAMS,
    migrations: migrations.map(({ version, sql }) => ({
      version,
      sha256: createHash('sha256').update(sql).digest('hex'),
    })),
  };
}

/**
 * Why the snapshot made as `manifest` can't stand in for initdb and `migrations`, or undefined when it can: same PGlite,
 * and its migrations are the first of `migrations`, unchanged (later ones are applied on top of it).
 */
export function snapshotMismatch(manifest: SnapshotManifest, migrations: Migration[]): string | undefined {
  const current = describeSnapshot(migrations);
  if (manifest.format !== current.format) {
    return `format ${manifest.format}, not ${current.format}`;
  }
  if (manifest.pglite !== current.pglite) {
    return `made with PGlite ${manifest.pglite}, running ${current.pglite}`;
  }
  if (JSON.stringify(manifest.initdb) !== JSON.stringify(current.initdb)) {
    return `made by initdb ${manifest.initdb?.join(' ')}, not ${current.initdb.join(' ')}`;
  }
  for (const [index, made] of manifest.migrations.entries()) {
    const now = current.migrations[index];
    if (now?.version !== made.version) {
      return `it contains migration ${made.version}, which is not migration ${index + 1} here`;
    }
    if (now.sha256 !== made.sha256) {
      return `migration ${made.version} changed since it was made`;
    }
  }
  return undefined;
}

/** Reads the snapshot in `dir` when it fits `migrations` (see snapshotMismatch); otherwise says why not. */
export async function readSnapshot(
  dir: string,
  migrations: Migration[],
): Promise<{ snapshot: PgliteSnapshot } | { unusable: string }> {
  if (!existsSync(join(dir, MANIFEST)) || !existsSync(join(dir, TARBALL))) {
    return { unusable: `no snapshot in ${dir}` };
  }
  const manifest = JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')) as SnapshotManifest;
  const mismatch = snapshotMismatch(manifest, migrations);
  if (mismatch !== undefined) {
    return { unusable: `the snapshot in ${dir} is stale: ${mismatch}` };
  }
  const tarball = await readFile(join(dir, TARBALL));
  return { snapshot: { manifest, tarball: new Uint8Array(tarball.buffer, tarball.byteOffset, tarball.byteLength) } };
}

/**
 * Writes a snapshot to `dir`: the old manifest goes first and the new one comes last, each file by rename, so a reader
 * never pairs a manifest with another snapshot's tarball.
 */
export async function writeSnapshot(dir: string, snapshot: PgliteSnapshot): Promise<void> {
  await mkdir(dir, { recursive: true });
  await rm(join(dir, MANIFEST), { force: true });
  const files: [string, Uint8Array | string][] = [
    [TARBALL, snapshot.tarball],
    [MANIFEST, `${JSON.stringify(snapshot.manifest, null, 2)}\n`],
  ];
  for (const [name, content] of files) {
    await writeFile(join(dir, `${name}.tmp`), content);
    await rename(join(dir, `${name}.tmp`), join(dir, name));
  }
}
