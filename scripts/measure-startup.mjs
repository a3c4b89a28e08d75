#!/usr/bin/env node
// Cold start and idle memory of `npm start`: the time from running `npm start -- <args>` to the
// "listening on" line, the CPU time the server process used until then (far less sensitive than the
// wall time to other work on the machine), and its resident memory after it has sat idle for a while.
// Runs one at a time (never in parallel, so runs don't slow each other) and prints medians.
//
//   node scripts/measure-startup.mjs [--runs 5] [--idle-ms 3000] [--data-dir DIR] [--root DIR]... [--json]
//
// Without --data-dir the server runs with --memory; with it, on that (existing or new) PGlite directory.
// --root (repeatable; default this checkout) compares checkouts: their runs alternate, so a load
// change on the machine hits them alike.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    'idle-ms': { type: 'string', default: '3000' },
    'data-dir': { type: 'string' },
    root: { type: 'string', multiple: true, default: [resolve(dirname(fileURLToPath(import.meta.url)), '..')] },
    json: { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);
const idleMs = Number(values['idle-ms']);

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

/** The server: the descendant node process running bin/mailroom.js (not the shell npm starts it with). */
function serverPid(npmPid) {
  return descendants(npmPid).find((pid) => {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return /(^|\/)node$/.test(argv[0] ?? '') && argv.some((arg) => arg.endsWith('bin/mailroom.js'));
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

async function measureOnce(root, storeArgs) {
  const started = performance.now();
  const child = spawn('npm', ['start', '--', '--port', '0', ...storeArgs], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MAILROOM_LOG_LEVEL: 'warn' },
  });
  let output = '';
  const listening = new Promise((resolveListening, reject) => {
    const onData = (chunk) => {
      output += chunk;
      if (/listening on http/.test(output)) {
        resolveListening(performance.now());
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`npm start exited (${code}) before listening:\n${output}`)));
  });
  try {
    const at = await listening;
    const pid = serverPid(child.pid);
    if (!pid) {
      throw new Error('could not find the server process under npm start');
    }
    const cpuToListening = cpuMs(pid);
    await sleep(idleMs);
    return { startMs: at - started, cpuMs: cpuToListening, rssMiB: rssMiB(pid) };
  } finally {
    process.kill(-child.pid, 'SIGTERM');
    await new Promise((done) => (child.exitCode === null ? child.on('exit', done) : done()));
  }
}

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const storeArgs = values['data-dir'] ? ['--data-dir', values['data-dir']] : ['--memory'];
const samples = new Map(values.root.map((root) => [resolve(root), []]));
for (let i = 0; i < runs; i++) {
  for (const [root, list] of samples) {
    list.push(await measureOnce(root, storeArgs));
  }
}
const results = [...samples].map(([root, list]) => ({
  root,
  node: process.version,
  store: storeArgs.join(' '),
  runs,
  idleMs,
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
  console.log(`${result.root}: npm start ${result.store} on Node ${result.node}, ${runs} runs`);
  console.log(`  to "listening": median ${result.medianStartMs} ms (${result.startMs.join(', ')})`);
  console.log(`  server CPU until then: median ${result.medianCpuMs} ms (${result.cpuMs.join(', ')})`);
  console.log(`  idle RSS after ${idleMs} ms: median ${result.medianRssMiB} MiB (${result.rssMiB.join(', ')})`);
}
