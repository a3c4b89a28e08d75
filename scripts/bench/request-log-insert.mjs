#!/usr/bin/env node
// What one request-log row costs embedded PGlite to store, by way of loading it, measured alone: a migrated in-memory
// database (the server's settings and WebAssembly tiering) takes batches of rows like the recorder's, and the script
// prints this process's CPU time per row (median and best of the rounds) for each way of loading them:
//
//   json   INSERT … SELECT FROM jsonb_to_recordset($1): the whole batch as one JSON parameter (what PostgreSQL gets)
//   copy   COPY … FROM '/dev/blob' in text format (what PGlite gets: src/store/sql-usage.ts)
//
// each with the table as migrated, and, to show where the rest goes, with no index at all (`--bare`). PGlite runs in
// this thread, so its CPU is this process's; the rows go in one after another, never two methods at once.
//
//   node scripts/bench/request-log-insert.mjs [--rows 2000] [--rounds 15] [--bare]
//
// Run `npm run build` first.
import { join } from 'node:path';
import { cpuUsage } from 'node:process';
import { pathToFileURL } from 'node:url';
import { parseScriptArgs, wholeNumber } from '../lib/args.mjs';
import { root } from './lib.mjs';

const USAGE = `
Usage: node scripts/bench/request-log-insert.mjs [--rows 2000] [--rounds 15] [--bare]

CPU per request-log row stored in embedded PGlite, by loading method (a JSON parameter, COPY from a blob).

  --rows N      rows per batch (default 2000: about what the recorder writes a second under load)
  --rounds N    batches per method (default 15); the first three are a warm-up
  --bare        also on a table without its indexes and primary key (where the rest of the cost goes)
  -h, --help    this text
`;
const values = parseScriptArgs('request-log-insert', USAGE, {
  rows: { type: 'string', default: '2000' },
  rounds: { type: 'string', default: '15' },
  bare: { type: 'boolean', default: false },
});
const rows = wholeNumber('request-log-insert', 'rows', values.rows);
const rounds = wholeNumber('request-log-insert', 'rounds', values.rounds);

const dist = (path) => import(pathToFileURL(join(root, 'dist', path)).href);
const { openPgliteDb } = await dist('store/pglite.js');
const { loadMigrations, migrate } = await dist('store/migrate.js');
const { createSqlStore } = await dist('store/sql-store.js');
const { defaultSnapshotDir, readSnapshot } = await dist('store/pglite-snapshot.js');

/** A store whose request log loads rows as `method` says (`json`: as if the driver had no COPY). */
async function openWith(method, bare) {
  const migrations = await loadMigrations();
  const found = await readSnapshot(defaultSnapshotDir(), migrations);
  const db = await openPgliteDb({ snapshot: found && 'snapshot' in found ? found.snapshot : undefined });
  await migrate(db, migrations);
  if (bare) {
    await db.exec(`DROP INDEX request_logs_org_at_idx, request_logs_org_key_at_idx, request_logs_org_status_at_idx,
                     request_logs_org_operation_at_idx;
                   ALTER TABLE request_logs DROP CONSTRAINT request_logs_pkey`);
  }
  if (method === 'json') {
    db.copyFrom = undefined;
  }
  return createSqlStore(db);
}

const record = (i) => ({
  organizationId: 'org_0123456789abcdef',
  at: new Date(Date.now() + i),
  keyId: 'key_0123456789abcdef',
  userId: null,
  environment: 'production',
  operationId: 'validateApiKey',
  method: 'GET',
  path: '/v1/api-keys/validate',
  status: 200,
  durationMs: 0.412,
  address: '127.0.0.1',
  userAgent: 'autocannon/9.0.0',
  requestId: '0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0',
  queryNames: [],
});

const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
for (const bare of values.bare ? [false, true] : [false]) {
  for (const method of ['json', 'copy']) {
    const store = await openWith(method, bare);
    const perRow = [];
    for (let round = 0; round < rounds + 3; round++) {
      const batch = Array.from({ length: rows }, (_, i) => record(i));
      const before = cpuUsage();
      await store.insertRequestLogs(batch);
      const used = cpuUsage(before);
      if (round >= 3) {
        perRow.push((used.user + used.system) / rows);
      }
    }
    await store.close();
    console.log(
      `${method.padEnd(4)} ${bare ? 'no index, no primary key' : 'as migrated (primary key, 4 indexes)'}: ` +
        `median ${median(perRow).toFixed(1)} µs, best ${Math.min(...perRow).toFixed(1)} µs of CPU per row`,
    );
  }
}
