#!/usr/bin/env node
// What recording requests (the request log) costs the server, measured narrowly: four reference servers (the compiled
// build) pinned to the bench's server CPU, each answering GET /v1/api-keys/validate: embedded PGlite (--memory) and
// PostgreSQL (a schema of its own, dropped afterwards), each with and without --no-request-log. Interleaved rounds of
// a fixed number of requests; prints each server's CPU time per request (its own process, /proc) per round and the
// medians' ratios. CPU per request moves far less than req/s when other work shares the machine.
//
//   node scripts/bench/request-log-ab.mjs [--rounds 7] [--requests 8000] [--connections 20] [--postgres URL]
//
// Run `npm run build` first. PostgreSQL: --postgres, else MAILROOM_TEST_DATABASE_URL, else the local test database.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { cpuRounds, createProcesses, median, setUpPinning, startReference } from './lib.mjs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    requests: { type: 'string', default: '8000' },
    connections: { type: 'string', default: '20' },
    postgres: { type: 'string' },
  },
});
const PG_URL = values.postgres ?? process.env.MAILROOM_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const workDir = mkdtempSync(join(tmpdir(), 'mailroom-request-log-ab-'));
const processes = createProcesses({ workDir, pinning: setUpPinning() });
const admin = new pg.Client({ connectionString: PG_URL });
await admin.connect();
const schemas = [];

/** A URL whose connections land in a new schema of this run. */
async function schemaUrl(name) {
  const schema = `mailroom_request_log_ab_${name}_${process.pid}`;
  await admin.query(`CREATE SCHEMA "${schema}"`);
  schemas.push(schema);
  const url = new URL(PG_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

try {
  const off = ['--no-request-log'];
  const servers = {
    'PGlite, recording': await startReference(processes, 'pglite-on', 'warn'),
    'PGlite, --no-request-log': await startReference(processes, 'pglite-off', 'warn', { args: off }),
    'PostgreSQL, recording': await startReference(processes, 'pg-on', 'warn', { databaseUrl: await schemaUrl('on') }),
    'PostgreSQL, --no-request-log': await startReference(processes, 'pg-off', 'warn', {
      databaseUrl: await schemaUrl('off'),
      args: off,
    }),
  };
  const cpu = await cpuRounds(servers, {
    rounds: Number(values.rounds),
    requests: Number(values.requests),
    connections: Number(values.connections),
  });
  const med = Object.fromEntries(Object.entries(cpu).map(([name, list]) => [name, median(list)]));
  for (const [name, us] of Object.entries(med)) {
    console.log(`${name}: median ${us.toFixed(1)} µs of server CPU per request`);
  }
  const ratio = (on, off) => (med[on] / med[off]).toFixed(3);
  console.log(
    `recording / --no-request-log: PGlite ${ratio('PGlite, recording', 'PGlite, --no-request-log')}, ` +
      `PostgreSQL ${ratio('PostgreSQL, recording', 'PostgreSQL, --no-request-log')} (target <= 1.05)`,
  );
} finally {
  await processes.stopAll();
  for (const schema of schemas) {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  }
  await admin.end();
  rmSync(workDir, { recursive: true, force: true });
}
