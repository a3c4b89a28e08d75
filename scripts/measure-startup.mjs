#!/usr/bin/env node
// Cold start and idle memory of `npm start` against the Prism mock (`npm run mock`) on the same spec, in the same run:
// the time from running the command to its "listening" line, the CPU time the server process used until then (far
// less sensitive than the wall time to other work on the machine), and its resident memory after it has sat idle for
// a while. Runs one at a time (never in parallel, so runs don't slow each other), alternating the servers so a load
// change on the machine hits them alike, and prints medians.
//
//   node scripts/measure-startup.mjs [--runs 5] [--idle-ms 3000] [--data-dir DIR | --fresh-data-dir]
//                                    [--seed FILE]... [--root DIR]... [--direct] [--skip-prism] [--json]
//
// Without a store flag the server runs with --memory; with --data-dir, on that (existing or new) PGlite directory; with
// --fresh-data-dir, on a new empty directory each run (a first start). --root (repeatable; default this checkout)
// compares checkouts. Prism runs from the first root. --seed (repeatable) adds, for each root, a sandbox started on
// that fixture (`--sandbox --seed FILE`) beside the plain server, so a fixture's cost shows against it in one run.
// --direct starts both with node (`node bin/mailroom.js serve …`, `node scripts/mock.mjs …`), without npm's run
// wrapper, which adds about 0.4 s of wall time and 0.15 s of CPU (its own process, not counted as the server's CPU).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseScriptArgs, wholeNumber } from './lib/args.mjs';

const USAGE = `
Usage: node scripts/measure-startup.mjs [--runs 5] [--idle-ms 3000] [--data-dir DIR | --fresh-data-dir]
                                       [--seed FILE]... [--root DIR]... [--direct] [--skip-prism] [--json]

Cold start (wall and CPU time to the "listening" line) and idle RSS of \`npm start\` against the Prism mock on the
same spec, alternating the servers, medians printed. Without a store flag the server runs with --memory.

  --runs N          starts of each server (default 5)
  --idle-ms N       how long a server sits idle before its RSS is read (default 3000)
  --data-dir DIR    run on this PGlite directory (existing or new) instead of --memory
  --fresh-data-dir  run on a new empty directory each time (a first start)
  --seed FILE       also start a sandbox on this fixture (--sandbox --seed FILE) beside the plain server; repeatable
  --root DIR        compare checkouts (repeatable; default this one); Prism runs from the first
  --direct          start with node (node bin/mailroom.js serve, node scripts/mock.mjs) instead of npm start and
                    npm run mock, whose wrapper process adds about 0.4 s to the wall time
  --skip-prism      do not start Prism
  --json            print the results as JSON
  -h, --help        this text
`;
const values = parseScriptArgs('measure-startup', USAGE, {
  runs: { type: 'string', default: '5' },
  'idle-ms': { type: 'string', default: '3000' },
  'data-dir': { type: 'string' },
  'fresh-data-dir': { type: 'boolean', default: false },
  root: { type: 'string', multiple: true, default: [resolve(dirname(fileURLToPath(import.meta.url)), '..')] },
  seed: { type: 'string', multiple: true, default: [] },
  direct: { type: 'boolean', default: false },
  'skip-prism': { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
});
const runs = wholeNumber('measure-startup', 'runs', values.runs);
const idleMs = wholeNumber('measure-startup', 'idle-ms', values['idle-ms'], 0);

/** Every descendant pid of `pid` (Linux /proc). */
function descendants(pid) {
  const found = [];
  let tasks = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return found;
  }
  for (const task of tasks) {
    const children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    for (const child of children) {
      found.push(Number(child), ...descendants(Number(child)));
    }
  }
  return found;
}

/** The server: the node process (the one started, or a descendant) whose arguments match (not a shell or npm). */
function serverPid(npmPid, isServer) {
  return [npmPid, ...descendants(npmPid)].find((pid) => {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return /(^|\/)node$/.test(argv[0] ?? '') && isServer(argv);
    } catch {
      return false;
    }
  });
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** User + system CPU time of a process so far, in ms (/proc/<pid>/stat fields 14 and 15). */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

function rssMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
  return kib / 1024;
}

/** A port nothing listens on right now (Prism takes no port 0). */
async function freePort() {
  const probe = createServer();
  await new Promise((done) => probe.listen(0, '127.0.0.1', done));
  const { port } = probe.address();
  await new Promise((done) => probe.close(done));
  return port;
}

/** The reference server from `root`, on the store the flags chose (a sandbox seeded from `seed`, when given). */
function mailroom(root, seed) {
  return {
    name: `mailroom (${root}, ${values.direct ? 'node bin/mailroom.js serve' : 'npm start'})${seed ? ` --sandbox --seed ${seed}` : ''}`,
    async start() {
      const fresh = values['fresh-data-dir'] ? mkdtempSync(join(tmpdir(), 'mailroom-startup-')) : undefined;
      const store = fresh
        ? ['--data-dir', fresh]
        : values['data-dir']
          ? ['--data-dir', values['data-dir']]
          : ['--memory'];
      const serve = ['--port', '0', ...store, ...(seed ? ['--sandbox', '--seed', resolve(seed)] : [])];
      return {
        args: values.direct ? ['bin/mailroom.js', 'serve', ...serve] : ['start', '--', ...serve],
        cleanup: () => fresh && rmSync(fresh, { recursive: true, force: true }),
      };
    },
    root,
    ready: /listening on http/,
    isServer: (argv) => argv.some((arg) => arg.endsWith('bin/mailroom.js')),
  };
}

/** The Prism mock as `npm run mock` starts it, from `root`. */
function prism(root) {
  return {
    name: `Prism mock (${values.direct ? 'node scripts/mock.mjs' : 'npm run mock'})`,
    async start() {
      const port = String(await freePort());
      return {
        args: values.direct ? ['scripts/mock.mjs', '--port', port] : ['run', 'mock', '--', '--port', port],
        cleanup: () => {},
      };
    },
    root,
    ready: /Mailroom mock listening on/,
    isServer: (argv) => argv.some((arg) => /prism-cli/.test(arg)),
  };
}

async function measureOnce(target) {
  const { args, cleanup } = await target.start();
  const started = performance.now();
  const command = values.direct ? process.execPath : 'npm';
  const child = spawn(command, args, {
    cwd: target.root,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MAILROOM_LOG_LEVEL: 'warn' },
  });
  let output = '';
  const listening = new Promise((resolveListening, reject) => {
    const onData = (chunk) => {
      output += chunk;
      if (target.ready.test(output)) {
        resolveListening(performance.now());
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) =>
      reject(new Error(`${command} ${args.join(' ')} exited (${code}) before listening:\n${output}`)),
    );
  });
  try {
    const at = await listening;
    const pid = serverPid(child.pid, target.isServer);
    if (!pid) {
      throw new Error(`could not find the server process under ${command} ${args.join(' ')}`);
    }
    const cpuToListening = cpuMs(pid);
    await sleep(idleMs);
    return { startMs: at - started, cpuMs: cpuToListening, rssMiB: rssMiB(pid) };
  } finally {
    process.kill(-child.pid, 'SIGTERM');
    await new Promise((done) => (child.exitCode === null ? child.on('exit', done) : done()));
    cleanup();
  }
}

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const roots = values.root.map((root) => resolve(root));
const targets = [
  ...roots.flatMap((root) => [mailroom(root), ...values.seed.map((seed) => mailroom(root, seed))]),
  ...(values['skip-prism'] ? [] : [prism(roots[0])]),
];
const samples = new Map(targets.map((target) => [target, []]));
for (let i = 0; i < runs; i++) {
  for (const [target, list] of samples) {
    list.push(await measureOnce(target));
  }
}
const store = values['fresh-data-dir']
  ? '--data-dir (a new directory each run)'
  : values['data-dir']
    ? `--data-dir ${values['data-dir']}`
    : '--memory';
const loadAverage = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const results = [...samples].map(([target, list]) => ({
  name: target.name,
  node: process.version,
  store: target.name.startsWith('mailroom') ? store : undefined,
  runs,
  idleMs,
  loadAverage,
  startMs: list.map((s) => Math.round(s.startMs)),
  cpuMs: list.map((s) => Math.round(s.cpuMs)),
  rssMiB: list.map((s) => Math.round(s.rssMiB * 10) / 10),
  medianStartMs: Math.round(median(list.map((s) => s.startMs))),
  medianCpuMs: Math.round(median(list.map((s) => s.cpuMs))),
  medianRssMiB: Math.round(median(list.map((s) => s.rssMiB)) * 10) / 10,
}));
for (const result of results) {
  if (values.json) {
    console.log(JSON.stringify(result));
    continue;
  }
  console.log(`${result.name}${result.store ? `, ${result.store}` : ''}, Node ${result.node}, ${runs} runs`);
  console.log(`  to "listening": median ${result.medianStartMs} ms (${result.startMs.join(', ')})`);
  console.log(`  server CPU until then: median ${result.medianCpuMs} ms (${result.cpuMs.join(', ')})`);
  console.log(`  idle RSS after ${idleMs} ms: median ${result.medianRssMiB} MiB (${result.rssMiB.join(', ')})`);
}
if (!values.json && results.length > 1) {
  const prismResult = results.find((r) => !r.store);
  for (const result of results.filter((r) => r.store && prismResult)) {
    console.log(
      `${result.name} / Prism: start ${(result.medianStartMs / prismResult.medianStartMs).toFixed(2)}×, ` +
        `CPU ${(result.medianCpuMs / prismResult.medianCpuMs).toFixed(2)}×, ` +
        `RSS ${(result.medianRssMiB / prismResult.medianRssMiB).toFixed(2)}× (load average ${loadAverage})`,
    );
  }
}
