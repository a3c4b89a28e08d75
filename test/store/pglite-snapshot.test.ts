import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.ts';
import { loadMigrations, type Migration } from '../../src/store/migrate.ts';
import { createPgliteSnapshot, openPgliteDb, openPgliteStore } from '../../src/store/pglite.ts';
import {
  defaultSnapshotDir,
  describeSnapshot,
  type PgliteSnapshot,
  readSnapshot,
  type SnapshotManifest,
  snapshotMismatch,
  writeSnapshot,
} from '../../src/store/pglite-snapshot.ts';
import type { OrganizationRecord, Store } from '../../src/store/types.ts';

/** What a closed data directory holds: its databases, schema, row counts and applied migrations. */
async function inspect(dataDir: string) {
  const db = await openPgliteDb({ dataDir });
  try {
    const rows = async <T>(sql: string) => (await db.query<T>(sql)).rows;
    const tables = await rows<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'");
    const counts: Record<string, number> = {};
    for (const { name } of tables) {
      const [row] = await rows<{ count: number }>(`SELECT count(*)::int AS count FROM "${name}"`);
      counts[name] = row?.count ?? -1;
    }
    return {
      databases: (await rows<{ datname: string }>('SELECT datname FROM pg_database ORDER BY 1')).map((r) => r.datname),
      schema: (
        await rows<{ line: string }>(
          `SELECT concat_ws(' ', table_name, column_name, data_type, is_nullable, column_default) AS line
             FROM information_schema.columns WHERE table_schema = 'public'
           UNION ALL SELECT concat_ws(' ', tablename, indexdef) FROM pg_indexes WHERE schemaname = 'public'
           ORDER BY 1`,
        )
      ).map((r) => r.line),
      counts,
      migrations: (await rows<{ version: string }>('SELECT version FROM schema_migrations ORDER BY 1')).map(
        (r) => r.version,
      ),
    };
  } finally {
    await db.close();
  }
}

/** Opens a store on `dataDir` as `mailroom serve` would, lets `use` work on it, and closes it. */
async function withStore(dataDir: string, snapshot: string | false | undefined, use?: (store: Store) => Promise<void>) {
  const store = await openPgliteStore({ dataDir, ...(snapshot === undefined ? {} : { snapshot }) });
  try {
    await use?.(store);
  } finally {
    await store.close();
  }
}

/** Names of the entries of a (gzipped) tarball: 512-byte ustar headers, name in the first 100 bytes. */
function tarEntries(gzipped: Uint8Array): string[] {
  const tar = gunzipSync(gzipped);
  const names: string[] = [];
  for (let offset = 0; offset + 512 <= tar.length; ) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) {
      break;
    }
    const field = (start: number, length: number) =>
      new TextDecoder().decode(header.subarray(start, start + length)).replace(/\0.*$/s, '');
    const prefix = field(345, 155);
    names.push(prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    const size = Number.parseInt(field(124, 12).trim() || '0', 8);
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return names;
}

const dirs: string[] = [];
async function tempDir(tag: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `mailroom-snapshot-${tag}-`));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('the snapshot the build makes', () => {
  let migrations: Migration[];
  let snapshot: PgliteSnapshot;

  beforeAll(async () => {
    migrations = await loadMigrations();
    const found = await readSnapshot(defaultSnapshotDir(), migrations);
    if (!('snapshot' in found)) {
      throw new Error(`npm run build made no usable snapshot: ${found.unusable}`);
    }
    snapshot = found.snapshot;
  });

  it('records every migration of this checkout and this PGlite', () => {
    expect(snapshot.manifest).toEqual(describeSnapshot(migrations));
  });

  it('holds a PostgreSQL data directory and no secret, lock or other file of Mailroom', () => {
    const names = tarEntries(snapshot.tarball).map((name) => name.replace(/^\/+/, ''));
    expect(names).toContain('PG_VERSION');
    expect(names.some((name) => name.startsWith('base/'))).toBe(true);
    expect(names.filter((name) => /server-secret|mailroom\.lock/.test(name))).toEqual([]);
  });

  it('starts a store with the schema migrations make, and no rows but the migration record', async () => {
    const [fromSnapshot, fromInitdb] = [await tempDir('build'), await tempDir('initdb')];
    await withStore(fromSnapshot, undefined);
    await withStore(fromInitdb, false);
    const made = await inspect(fromSnapshot);
    const reference = await inspect(fromInitdb);

    expect(made.schema).toEqual(reference.schema);
    expect(made.migrations).toEqual(migrations.map((m) => m.version));
    expect(Object.keys(made.counts).length).toBeGreaterThan(5);
    const empty = Object.fromEntries(Object.keys(made.counts).map((table) => [table, 0]));
    expect(made.counts).toEqual({ ...empty, schema_migrations: migrations.length });
    // Made from the snapshot, not by initdb: the snapshot keeps only the database PGlite connects to.
    expect(made.databases).toEqual(['postgres']);
    expect(reference.databases).toEqual(['postgres', 'template0', 'template1']);
  });
});

describe('starting from a snapshot', () => {
  let migrations: Migration[];
  let older: string;

  beforeAll(async () => {
    migrations = await loadMigrations();
    // A snapshot of a release one migration behind this checkout.
    older = await tempDir('older');
    await writeSnapshot(older, await createPgliteSnapshot(migrations.slice(0, -1)));
  });

  it('applies the migrations newer than the snapshot on top of it', async () => {
    const dataDir = await tempDir('newer');
    await withStore(dataDir, older, async (store) => {
      const org = await store.ensureOrganization('from-an-older-snapshot');
      expect(await store.getOrganization(org.organizationId)).toEqual(org);
    });
    const made = await inspect(dataDir);
    expect(made.migrations).toEqual(migrations.map((m) => m.version));
    expect(made.databases).toEqual(['postgres']);
  });

  it('gives a new data directory its database, which a restart then opens as it is', async () => {
    const dataDir = await tempDir('data');
    // What `mailroom serve` writes into a new directory before the store opens.
    await writeFile(join(dataDir, 'server-secret'), 'a-secret-that-stays-outside-the-database\n');
    let kept: OrganizationRecord | undefined;
    await withStore(dataDir, older, async (store) => {
      kept = await store.ensureOrganization('kept');
    });
    await withStore(dataDir, undefined, async (store) => {
      expect(await store.getOrganization(kept?.organizationId ?? '')).toEqual(kept);
    });
    expect((await inspect(dataDir)).databases).toEqual(['postgres']);
    expect(await readFile(join(dataDir, 'server-secret'), 'utf8')).toBe('a-secret-that-stays-outside-the-database\n');
  });

  it('opens a data directory initdb made with its own defaults (16 MB WAL segments), as releases before it did', async () => {
    const dataDir = await tempDir('old');
    const old = new PGlite({ dataDir });
    await old.waitReady;
    expect((await old.query<{ size: string }>('SHOW wal_segment_size')).rows).toEqual([{ wal_segment_size: '16MB' }]);
    await old.close();

    let kept: OrganizationRecord | undefined;
    await withStore(dataDir, undefined, async (store) => {
      kept = await store.ensureOrganization('in-an-old-directory');
    });
    await withStore(dataDir, undefined, async (store) => {
      expect(await store.getOrganization(kept?.organizationId ?? '')).toEqual(kept);
    });
    expect((await inspect(dataDir)).migrations).toEqual(migrations.map((m) => m.version));
  });

  it('gives databases made from it 1 MB WAL segments and a WAL bounded to 32 MB', async () => {
    const dataDir = await tempDir('settings');
    await withStore(dataDir, older);
    const db = await openPgliteDb({ dataDir });
    try {
      const show = async (name: string) => (await db.query<Record<string, string>>(`SHOW ${name}`)).rows[0]?.[name];
      expect({
        segment: await show('wal_segment_size'),
        max: await show('max_wal_size'),
        min: await show('min_wal_size'),
        buffers: await show('shared_buffers'),
      }).toEqual({ segment: '1MB', max: '32MB', min: '4MB', buffers: '8MB' });
    } finally {
      await db.close();
    }
  });

  it('runs initdb instead when a migration in the snapshot changed since it was made', async () => {
    const edited = await tempDir('edited');
    await cp(older, edited, { recursive: true });
    const manifest = JSON.parse(await readFile(join(edited, 'manifest.json'), 'utf8')) as SnapshotManifest;
    manifest.migrations[0] = { version: manifest.migrations[0]?.version ?? '', sha256: '0'.repeat(64) };
    await writeFile(join(edited, 'manifest.json'), JSON.stringify(manifest));

    expect(await readSnapshot(edited, migrations)).toEqual({
      unusable: `the snapshot in ${edited} is stale: migration ${migrations[0]?.version} changed since it was made`,
    });
    const dataDir = await tempDir('fallback');
    await withStore(dataDir, edited);
    const made = await inspect(dataDir);
    expect(made.databases).toEqual(['postgres', 'template0', 'template1']);
    expect(made.migrations).toEqual(migrations.map((m) => m.version));
  });
});

describe('openStore', () => {
  it("passes the embedded store's snapshot option through (false: initdb)", async () => {
    const dataDir = await tempDir('open-store');
    const store = await openStore({ kind: 'pglite', dataDir, snapshot: false });
    await store.close();
    expect((await inspect(dataDir)).databases).toEqual(['postgres', 'template0', 'template1']);
  });
});

describe('snapshotMismatch', () => {
  const migrations: Migration[] = [
    { version: '001_a', sql: 'CREATE TABLE a (id int);' },
    { version: '002_b', sql: 'CREATE TABLE b (id int);' },
  ];
  const made = describeSnapshot(migrations);
  const first = made.migrations[0] as SnapshotManifest['migrations'][number];
  const second = made.migrations[1] as SnapshotManifest['migrations'][number];

  const cases: { given: string; manifest: SnapshotManifest; want: string | undefined }[] = [
    { given: 'the same migrations', manifest: made, want: undefined },
    { given: 'a prefix of them', manifest: { ...made, migrations: [first] }, want: undefined },
    { given: 'none of them', manifest: { ...made, migrations: [] }, want: undefined },
    {
      given: 'another PGlite',
      manifest: { ...made, pglite: '0.0.1' },
      want: `made with PGlite 0.0.1, running ${made.pglite}`,
    },
    { given: 'another format', manifest: { ...made, format: 0 }, want: `format 0, not ${made.format}` },
    {
      given: 'other initdb arguments',
      manifest: { ...made, initdb: [] },
      want: `made by initdb , not ${made.initdb.join(' ')}`,
    },
    {
      given: 'an edited migration',
      manifest: { ...made, migrations: [first, { ...second, sha256: 'f'.repeat(64) }] },
      want: 'migration 002_b changed since it was made',
    },
    {
      given: 'a migration this checkout lacks',
      manifest: { ...made, migrations: [first, second, { version: '003_c', sha256: 'a'.repeat(64) }] },
      want: 'it contains migration 003_c, which is not migration 3 here',
    },
    {
      given: 'a migration in another place',
      manifest: { ...made, migrations: [second] },
      want: 'it contains migration 002_b, which is not migration 1 here',
    },
  ];

  it.each(cases)('$given: $want', ({ manifest, want }) => {
    expect(snapshotMismatch(manifest, migrations)).toBe(want);
  });
});
