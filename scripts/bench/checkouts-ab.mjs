#!/usr/bin/env node
// This checkout against another one (an earlier commit, built), measured narrowly: each reference server (`--memory`,
// `--log-level warn`) pinned to the bench's server CPU answers GET /v1/api-keys/validate in interleaved rounds of a
// fixed number of requests, and the script prints each server's own CPU time per request (/proc) per round, the
// medians and their ratios. CPU per request moves far less than req/s when other work shares the machine, so this is
// the before/after figure of a change to the request path. This checkout runs twice: as it is, and with
// --no-request-log (an older checkout records nothing).
//
//   git worktree add /tmp/before <commit> && (cd /tmp/before && npm ci)
//   node scripts/bench/checkouts-ab.mjs --other /tmp/before [--rounds 7] [--requests 8000] [--connections 20]
//   node scripts/bench/checkouts-ab.mjs --other /tmp/main --other-records   # the other records too: both ways each
//
// Run `npm run build` first.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseScriptArgs, wholeNumber } from '../lib/args.mjs';
import { cpuRounds, createProcesses, median, setUpPinning, startReference } from './lib.mjs';

const USAGE = `
Usage: node scripts/bench/checkouts-ab.mjs --other DIR [--other-records] [--rounds 7] [--requests 8000] [--connections 20]

Server CPU per authenticated GET of this checkout (with and without --no-request-log) against the checkout in DIR
(built: its dist/ exists), in interleaved rounds; prints the medians and their ratios.

  --other DIR        the checkout to compare with (e.g. a git worktree of an earlier commit, after npm ci)
  --other-records    the other checkout has the request log too: run it with and without --no-request-log as well
  --rounds N         interleaved rounds (default 7)
  --requests N       requests per server per round (default 8000)
  --connections N    concurrent connections of the load generator (default 20)
  -h, --help         this text
`;
const values = parseScriptArgs('checkouts-ab', USAGE, {
  other: { type: 'string' },
  'other-records': { type: 'boolean', default: false },
  rounds: { type: 'string', default: '7' },
  requests: { type: 'string', default: '8000' },
  connections: { type: 'string', default: '20' },
});
if (!values.other || !existsSync(join(resolve(values.other), 'dist'))) {
  console.error('checkouts-ab: --other must name a built checkout (a directory with dist/); see --help');
  process.exit(2);
}
const other = resolve(values.other);
const rounds = wholeNumber('checkouts-ab', 'rounds', values.rounds);
const requests = wholeNumber('checkouts-ab', 'requests', values.requests);
const connections = wholeNumber('checkouts-ab', 'connections', values.connections);

/** The machine's load averages (1, 5, 15 min), for the record: CPU per request still moves a little with them. */
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

const workDir = mkdtempSync(join(tmpdir(), 'mailroom-checkouts-ab-'));
const processes = createProcesses({ workDir, pinning: setUpPinning() });
try {
  const off = ['--no-request-log'];
  const servers = values['other-records']
    ? {
        'other, --no-request-log': await startReference(processes, 'other-off', 'warn', { checkout: other, args: off }),
        'this, --no-request-log': await startReference(processes, 'this-off', 'warn', { args: off }),
        'other, recording': await startReference(processes, 'other-on', 'warn', { checkout: other }),
        'this, recording': await startReference(processes, 'this-on', 'warn'),
      }
    : {
        [`other (${other})`]: await startReference(processes, 'other', 'warn', { checkout: other }),
        'this, --no-request-log': await startReference(processes, 'this-off', 'warn', { args: off }),
        'this, recording': await startReference(processes, 'this-on', 'warn'),
      };
  console.log(`${other}; load average ${load()}`);
  const cpu = await cpuRounds(servers, { rounds, requests, connections });
  const med = Object.fromEntries(Object.entries(cpu).map(([name, list]) => [name, median(list)]));
  for (const [name, us] of Object.entries(med)) {
    console.log(`${name}: median ${us.toFixed(1)} µs of server CPU per request`);
  }
  const ratio = (a, b) => (med[a] / med[b]).toFixed(3);
  if (values['other-records']) {
    console.log(
      `this / other: ${ratio('this, --no-request-log', 'other, --no-request-log')} with --no-request-log, ` +
        `${ratio('this, recording', 'other, recording')} recording; recording / --no-request-log: ` +
        `other ${ratio('other, recording', 'other, --no-request-log')}, this ${ratio('this, recording', 'this, --no-request-log')}`,
    );
  } else {
    const [otherName, offName, onName] = Object.keys(servers);
    console.log(
      `this / other: ${ratio(offName, otherName)} with --no-request-log, ${ratio(onName, otherName)} recording`,
    );
  }
  console.log(`load average ${load()}`);
} finally {
  await processes.stopAll();
  rmSync(workDir, { recursive: true, force: true });
}
