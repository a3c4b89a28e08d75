#!/usr/bin/env node
// How fast `GET /v1/request-logs` answers over a large log on PostgreSQL. Fills a schema of its own with --rows request
// records (one INSERT ... SELECT over generate_series: --share of them in one organization, 30 days of it, 20 keys, a
// realistic mix of operations and statuses; the rest spread over 99 other organizations), then times, one request at
// a time over HTTP (keep-alive), the first page and a page deep in the log under each filter the log offers. Prints
// p50, p99 and max per query, the EXPLAIN (ANALYZE, BUFFERS) of the filtered page's statement and the table's indexes,
// and drops the schema. The server is the compiled build (dist/), in this process, with recording on.
//
//   node scripts/measure-request-logs.mjs [--rows 1000000] [--share 0.9] [--requests 300] [--database-url URL] [--json]
//
// Run `npm run build` first. PostgreSQL: MAILROOM_TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test.
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    share: { type: 'string', default: '0.9' },
    requests: { type: 'string', default: '300' },
    'database-url': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const ROWS = Number(values.rows);
const SHARE = Number(values.share);
const REQUESTS = Number(values.requests);
const PG_URL =
  values['database-url'] ?? process.env.MAILROOM_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `mailroom_measure_logs_${randomBytes(5).toString('hex')}`;
const { startServer } = await import(join(root, 'dist', 'server', 'index.js'));
const { createLogger } = await import(join(root, 'dist', 'server', 'logger.js'));

const log = (line) => process.stderr.write(`${line}\n`);
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const ms = (n) => Number(n.toFixed(2));

const admin = new pg.Client({ connectionString: PG_URL });
await admin.connect();
let server;
try {
  server = await startServer({
    port: 0,
    store: { kind: 'postgres', url: PG_URL, schema },
    plans: { roomy: { windows: [{ name: 'minute', limit: 10_000_000, windowSeconds: 60 }] } },
    logger: createLogger('warn'),
  });
  const key = await server.createApiKey({ name: 'measure', organization: 'measured', plan: 'roomy' });
  const org = key.organizationId;
  const big = Math.round(ROWS * SHARE);
  log(
    `filling ${schema}.request_logs: ${big.toLocaleString()} rows in one organization, ${(ROWS - big).toLocaleString()} in 99 others ...`,
  );
  const filled = performance.now();
  await admin.query(`SET search_path TO "${schema}"`);
  // Keys key_measure000000 .. 19 (the first is the real key, so its filter finds its share), operations and statuses
  // in realistic proportions, times spread evenly over the last 30 days.
  await admin.query(
    `INSERT INTO request_logs (organization_id, at, key_id, user_id, environment, operation_id, method, path, status,
                               duration_ms, address, user_agent, request_id, query_names)
     SELECT CASE WHEN g <= $2 THEN $1 ELSE 'org_other' || lpad((g % 99)::text, 11, '0') END,
            now() - (g::double precision / $3) * interval '30 days',
            CASE WHEN g % 20 = 0 THEN $4 ELSE 'key_measure' || lpad((g % 20)::text, 5, '0') END,
            NULL,
            (ARRAY['production', 'staging', 'development'])[1 + g % 3],
            (ARRAY['listContacts', 'createContact', 'getContact', 'validateApiKey', 'listApiKeys', 'updateContact'])[1 + g % 6],
            (ARRAY['GET', 'POST', 'GET', 'GET', 'GET', 'PATCH'])[1 + g % 6],
            (ARRAY['/v1/contacts', '/v1/contacts', '/v1/contacts/{contactId}', '/v1/api-keys/validate', '/v1/api-keys', '/v1/contacts/{contactId}'])[1 + g % 6],
            CASE WHEN g % 97 = 0 THEN 429 WHEN g % 53 = 0 THEN 404 WHEN g % 1009 = 0 THEN 500 ELSE 200 END,
            1 + (g % 50) / 10.0,
            '203.0.113.' || (g % 250),
            'measure/1.0',
            'req-' || g,
            ARRAY['limit']
     FROM generate_series(1, $3) AS g`,
    [org, big, ROWS, key.keyId],
  );
  await admin.query('ANALYZE request_logs');
  log(`filled in ${((performance.now() - filled) / 1000).toFixed(1)} s`);

  const get = async (path) => {
    const started = performance.now();
    const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${key.plaintext}` } });
    const body = await res.json();
    const took = performance.now() - started;
    if (res.status !== 200) {
      throw new Error(`${path}: ${res.status} ${JSON.stringify(body)}`);
    }
    return { took, body };
  };
  // A cursor deep in the filtered log: the page after about 30 pages of 100.
  const deepCursor = async (query) => {
    let cursor = null;
    for (let page = 0; page < 30; page++) {
      const { body } = await get(`/v1/request-logs?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      cursor = body.meta.nextCursor;
    }
    return cursor;
  };
  const queries = [
    ['no filter, first page', 'limit=100'],
    ['keyId, first page', `keyId=${key.keyId}&limit=100`],
    ['keyId, page 31', `keyId=${key.keyId}&limit=100`, true],
    ['status=429, first page', 'status=429&limit=100'],
    ['operationId, first page', 'operationId=createContact&limit=100'],
    ['keyId and status=429, first page', `keyId=${key.keyId}&status=429&limit=100`],
  ];
  const results = [];
  for (const [label, query, deep] of queries) {
    const cursor = deep ? await deepCursor(query) : null;
    const path = `/v1/request-logs?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    for (let i = 0; i < 20; i++) {
      await get(path);
    }
    const times = [];
    let entries = 0;
    for (let i = 0; i < REQUESTS; i++) {
      const { took, body } = await get(path);
      times.push(took);
      entries = body.data.length;
    }
    times.sort((a, b) => a - b);
    results.push({
      query: label,
      entries,
      p50Ms: ms(percentile(times, 50)),
      p99Ms: ms(percentile(times, 99)),
      maxMs: ms(times.at(-1)),
    });
  }

  // The statement the store runs for the filtered first page (src/store/sql-usage.ts, listRequestLogs).
  const explain = await admin.query(
    `EXPLAIN (ANALYZE, BUFFERS)
     SELECT log_id::text AS log_text, organization_id, at, key_id, user_id, environment, operation_id, method, path,
            status, duration_ms, address, user_agent, request_id, query_names
     FROM request_logs
     WHERE organization_id = $1 AND at >= now() - interval '30 days' AND at < now() AND key_id = $2
     ORDER BY at DESC, log_id DESC LIMIT 101`,
    [org, key.keyId],
  );
  const indexes = await admin.query(
    `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'request_logs' ORDER BY indexname`,
    [schema],
  );
  const total = await admin.query('SELECT count(*)::integer AS n FROM request_logs');
  const { rows: version } = await admin.query('SHOW server_version');
  const report = {
    rows: total.rows[0].n,
    organizationRows: big,
    postgres: version[0].server_version,
    requestsPerQuery: REQUESTS,
    results,
    explain: explain.rows.map((r) => r['QUERY PLAN']),
    indexes: indexes.rows.map((r) => r.indexdef),
  };
  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    console.log(
      `GET /v1/request-logs over ${report.rows.toLocaleString()} rows (${big.toLocaleString()} in the caller's organization), PostgreSQL ${report.postgres}, ${REQUESTS} sequential requests per query, limit 100:`,
    );
    console.log('| query | entries | p50 ms | p99 ms | max ms |');
    console.log('|---|--:|--:|--:|--:|');
    for (const r of results) {
      console.log(`| ${r.query} | ${r.entries} | ${r.p50Ms} | ${r.p99Ms} | ${r.maxMs} |`);
    }
    console.log('\nEXPLAIN (ANALYZE, BUFFERS) of the keyId page:');
    console.log(report.explain.map((line) => `  ${line}`).join('\n'));
    console.log('\nIndexes:');
    console.log(report.indexes.map((line) => `  ${line}`).join('\n'));
  }
} finally {
  await server?.close();
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
}
