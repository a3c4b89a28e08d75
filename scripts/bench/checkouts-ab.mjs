#!/usr/bin/env node
// This checkout against others (earlier commits, built), measured narrowly: each reference server (`--memory`,
// `--log-level warn`) pinned to the bench's server CPU answers GET /v1/api-keys/validate in interleaved rounds of a
// fixed number of requests, and the script prints each server's own CPU time per request (/proc) per round, the
// medians and their ratios to this checkout's. CPU per request moves far less than req/s when other work shares the
// machine, so this is the before/after figure of a change to the request path. This checkout runs twice: as it is,
// and with --no-request-log; so does each `--other-records` checkout (one that has the request log too), while an
// `--other` checkout (older: it records nothing) runs as it is.
//
//   git worktree add /tmp/before <commit> && (cd /tmp/before && npm ci)
//   node scripts/bench/checkouts-ab.mjs --other /tmp/before [--other-records /tmp/main] [--rounds 7] [--requests 8000]
//
// Run `npm run build` first.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseScriptArgs, wholeNumber } from '../lib/args.mjs';
import { cpuRounds, createProcesses, median, setUpPinning, startReference } from './lib.mjs';

const USAGE = `
Usage: node scripts/bench/checkouts-ab.mjs [--other DIR]… [--other-records DIR]… [--rounds 7] [--requests 8000]
                                           [--connections 20]

Server CPU per authenticated GET of this checkout (with and without --no-request-log) against other built checkouts
(directories with dist/), in interleaved rounds; prints the medians and each one's ratio to this checkout's.

  --other DIR          a checkout without the request log (e.g. a git worktree of an earlier commit, after npm ci):
                       run as it is (repeatable)
  --other-records DIR  a checkout with the request log: run with and without --no-request-log (repeatable)
  --rounds N           interleaved rounds (default 7)
  --requests N         requests per server per round (default 8000)
  --connections N      concurrent connections of the load generator (default 20)
  -h, --help           this text
`;
const values = parseScriptArgs('checkouts-ab', USAGE, {
  other: { type: 'string', multiple: true, default: [] },
  'other-records': { type: 'string', multiple: true, default: [] },
  rounds: { type: 'string', default: '7' },
  requests: { type: 'string', default: '8000' },
  connections: { type: 'string', default: '20' },
});
const others = [
  ...values.other.map((dir) => ({ dir: resolve(dir), records: false })),
  ...values['other-records'].map((dir) => ({ dir: resolve(dir), records: true })),
];
if (others.length === 0 || others.some(({ dir }) => !existsSync(join(dir, 'dist')))) {
  console.error('checkouts-ab: --other and --other-records must name built checkouts (with dist/); see --help');
  process.exit(2);
}
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
  const servers = {};
  for (const [i, { dir, records }] of others.entries()) {
    const name = basename(dir);
    if (records) {
      servers[`${name}, --no-request-log`] = await startReference(processes, `other${i}-off`, 'warn', {
        checkout: dir,
        args: off,
      });
      servers[`${name}, recording`] = await startReference(processes, `other${i}-on`, 'warn', { checkout: dir });
    } else {
      servers[name] = await startReference(processes, `other${i}`, 'warn', { checkout: dir });
    }
  }
  servers['this, --no-request-log'] = await startReference(processes, 'this-off', 'warn', { args: off });
  servers['this, recording'] = await startReference(processes, 'this-on', 'warn');
  console.log(`load average ${load()}`);
  const cpu = await cpuRounds(servers, { rounds, requests, connections });
  const med = Object.fromEntries(Object.entries(cpu).map(([name, list]) => [name, median(list)]));
  const thisOff = med['this, --no-request-log'];
  for (const [name, us] of Object.entries(med)) {
    console.log(
      `${name}: median ${us.toFixed(1)} µs of server CPU per request (${(us / thisOff).toFixed(3)} × this, --no-request-log)`,
    );
  }
  const onOff = (name) => (med[`${name}, recording`] / med[`${name}, --no-request-log`]).toFixed(3);
  console.log(
    `recording / --no-request-log: ${[...others.filter((o) => o.records).map((o) => basename(o.dir)), 'this']
      .map((name) => `${name} ${onOff(name)}`)
      .join(', ')}`,
  );
  console.log(`load average ${load()}`);
} finally {
  await processes.stopAll();
  rmSync(workDir, { recursive: true, force: true });
}
