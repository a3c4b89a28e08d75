import { createHash } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openPgliteStore } from '../../src/store/index.ts';

// Creating a PGlite cluster (initdb) costs seconds; reopening one costs well under one. So the first
// server of a run builds a migrated, empty cluster once in the OS temp directory (keyed by the migrations and the
// PGlite version, so it is rebuilt when either changes) and every server gets its own copy of it: the same real
// PGlite and the same migrations as `{ kind: 'pglite' }`, on disk instead of in memory.

const MIGRATIONS_DIR = fileURLToPath(new URL('../../src/store/migrations/', import.meta.url));
const PGLITE_PACKAGE = fileURLToPath(new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url));

let template: Promise<string> | undefined;

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function buildTemplate(): Promise<string> {
  const hash = createHash('sha256').update(await readFile(PGLITE_PACKAGE));
  for (const name of (await readdir(MIGRATIONS_DIR)).sort()) {
    hash.update(name).update(await readFile(join(MIGRATIONS_DIR, name)));
  }
  const dir = join(tmpdir(), `mailroom-test-pglite-template-${hash.digest('hex').slice(0, 16)}`);
  if (await exists(dir)) {
    return dir;
  }
  const building = await mkdtemp(`${dir}-building-`);
  const store = await openPgliteStore({ dataDir: building });
  await store.close();
  try {
    // Atomic: a parallel worker that built one too either loses the race here or wins it; both copies are equal.
    await rename(building, dir);
  } catch {
    await rm(building, { recursive: true, force: true });
  }
  return dir;
}

/** A new data directory holding a migrated, empty database; the caller removes it. */
export async function freshDataDir(): Promise<string> {
  template ??= buildTemplate();
  const dir = await mkdtemp(join(tmpdir(), 'mailroom-test-db-'));
  await cp(await template, dir, { recursive: true });
  return dir;
}
