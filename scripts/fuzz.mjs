#!/usr/bin/env node
// `npm run fuzz`: the hostile-input suite. The engine (test/fuzz/engine/) plans the requests, seeds a store, runs a
// real server process and checks every answer; this script is its command line. The engine is TypeScript, loaded
// through tsx (a dev tool; the fuzz is a test suite and runs from a checkout).
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { register } from 'tsx/esm/api';

register();

const { formatReport, passed } = await import('../test/fuzz/engine/report.ts');
const { DEFAULT_FUZZ_OPTIONS, runFuzz } = await import('../test/fuzz/engine/run.ts');

const usage = `Usage: npm run fuzz -- [--requests N] [--seed N] [--concurrency N] [--max-seconds N] [--json FILE]
                      [--classes] [--keep] [--case N[,N…]]

Sends N hostile requests (default ${DEFAULT_FUZZ_OPTIONS.requests}), derived from generated/openapi.json over every
operation, to a real reference server on 127.0.0.1 (its own process, embedded database seeded for the run), and
reports 5xx answers, non-envelope answers, code/status mismatches, missing X-Request-Id or rate-limit headers, hung
requests, refused requests that changed stored rows, errors in the server's log, crashes, the server's memory before
and after, and whether every seeded row is intact after the run and after a restart. Exits 1 on any finding.

  --requests N      how many requests (default ${DEFAULT_FUZZ_OPTIONS.requests}); every class is sent at least once
  --seed N          the run's seed (default ${DEFAULT_FUZZ_OPTIONS.seed}): the same seed plans the same requests
  --concurrency N   requests in flight at once (default ${DEFAULT_FUZZ_OPTIONS.concurrency})
  --max-seconds N   stop sending after N seconds (default ${DEFAULT_FUZZ_OPTIONS.maxSeconds}); the run then fails
  --json FILE       also write the whole report (every finding) as JSON
  --classes         list every class with its number of cases
  --keep            keep the work directory (database, server log)
  --case N[,N…]     replay these cases of the run (same --seed and --requests) and print each exchange
  --help            this text`;

/** Exits 2 with `message` (a usage error). */
function refuse(message) {
  console.error(`fuzz: ${message}`);
  process.exit(2);
}

/** The option's value as a positive whole number, or `fallback` when it was not given. */
function positiveInteger(name, raw, fallback) {
  if (raw === undefined) {
    return fallback;
  }
  if (!/^[1-9][0-9]*$/.test(raw)) {
    refuse(`--${name} must be a positive whole number, got "${raw}"`);
  }
  return Number(raw);
}

/** `--case 3,17`'s case numbers. */
function caseNumbers(raw) {
  return raw.split(',').map((n) => {
    if (!/^(0|[1-9][0-9]*)$/.test(n)) {
      refuse(`--case takes case numbers, got "${n}"`);
    }
    return Number(n);
  });
}

/** Prints one replayed exchange: what was sent and what came back. */
function printExchange(planned, chunks, exchange) {
  const sent = chunks
    .map((c) =>
      typeof c === 'object' && 'pauseMs' in c ? `<pause ${c.pauseMs} ms>` : Buffer.from(c).toString('latin1'),
    )
    .join('');
  console.log(
    `\n=== case ${planned.n}: ${planned.cls.group}: ${planned.cls.name} on ${planned.op.method} ${planned.op.path} (expect ${planned.expect})`,
  );
  console.log(`--- sent (${sent.length} bytes)\n${JSON.stringify(sent.slice(0, 2000))}`);
  console.log(
    `--- received${exchange.timedOut ? ' (timed out)' : ''}${exchange.error ? ` (${exchange.error})` : ''}\n${exchange.received.toString('latin1').slice(0, 2000)}`,
  );
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      requests: { type: 'string' },
      seed: { type: 'string' },
      concurrency: { type: 'string' },
      'max-seconds': { type: 'string' },
      json: { type: 'string' },
      classes: { type: 'boolean' },
      keep: { type: 'boolean' },
      case: { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  }));
} catch (error) {
  refuse(`${error.message}\n\n${usage}`);
}
if (values.help) {
  console.log(usage);
  process.exit(0);
}

const only = values.case === undefined ? undefined : caseNumbers(values.case);
const report = await runFuzz({
  ...DEFAULT_FUZZ_OPTIONS,
  seed: positiveInteger('seed', values.seed, DEFAULT_FUZZ_OPTIONS.seed),
  requests: positiveInteger('requests', values.requests, DEFAULT_FUZZ_OPTIONS.requests),
  concurrency: positiveInteger('concurrency', values.concurrency, DEFAULT_FUZZ_OPTIONS.concurrency),
  maxSeconds: positiveInteger('max-seconds', values['max-seconds'], DEFAULT_FUZZ_OPTIONS.maxSeconds),
  keep: values.keep ?? false,
  ...(only ? { only } : {}),
  onProgress: (line) => console.error(`fuzz: ${line}`),
  onExchange: only ? printExchange : undefined,
});

console.log(formatReport(report, { classes: values.classes ?? false }));
if (report.workDir) {
  console.log(`Work directory kept: ${report.workDir}`);
}
if (values.json) {
  writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
}
process.exit(passed(report) ? 0 : 1);
