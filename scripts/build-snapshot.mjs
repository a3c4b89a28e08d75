#!/usr/bin/env node
// The embedded store's start-up snapshot (`npm run build` calls buildSnapshot after compiling): a PGlite data
// directory after initdb and every migration, packed into dist/store/pglite-snapshot/. A new embedded database (memory,
// or a fresh --data-dir) starts as a copy of it instead of running initdb and the migrations, about 4 s of CPU here.
// It is remade only when a migration was added or changed or the PGlite release changed (its manifest says which it
// was made from), so an up-to-date build spends a few milliseconds here.
//
//   node scripts/build-snapshot.mjs        (after `npm run build` has compiled dist/)
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Makes dist/store/pglite-snapshot/ from the compiled store unless it is current; returns whether it made one. */
export async function buildSnapshot() {
  const store = (file) => import(pathToFileURL(join(root, 'dist', 'store', file)).href);
  const [{ loadMigrations }, { readSnapshot, writeSnapshot }, { createPgliteSnapshot }] = await Promise.all([
    store('migrate.js'),
    store('pglite-snapshot.js'),
    store('pglite.js'),
  ]);
  const dir = join(root, 'dist', 'store', 'pglite-snapshot');
  const migrations = await loadMigrations();
  // A snapshot older than the newest migration still starts a store (the rest runs on top of it), but the build makes
  // one that holds every migration, so a start runs none.
  const found = await readSnapshot(dir, migrations);
  if ('snapshot' in found && found.snapshot.manifest.migrations.length === migrations.length) {
    return false;
  }
  const started = performance.now();
  const snapshot = await createPgliteSnapshot(migrations);
  await writeSnapshot(dir, snapshot);
  const last = migrations.at(-1)?.version ?? 'none';
  console.error(
    `build: dist/store/pglite-snapshot/ (migrated to ${last}, ${Math.round(snapshot.tarball.byteLength / 1024)} KiB, ` +
      `${Math.round(performance.now() - started)} ms)`,
  );
  return true;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildSnapshot();
}
