#!/usr/bin/env node
// CPU profile of the reference server under one bench scenario: starts it (CLI, --memory, pinned
// like in the bench) with node --cpu-prof, warms it up, loads it, stops it, and summarises the
// profile over the loaded window only (start-up and shutdown excluded). The .cpuprofile is kept
// for Chrome DevTools or speedscope.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { formatSummary, summarizeProfile } from './cpu-profile.mjs';
import {
  CONTACTS_PATH,
  createContact,
  createProcesses,
  forgeKey,
  GET_PATH,
  measure,
  newContactBodies,
  root,
  setUpPinning,
  startReference,
} from './lib.mjs';

const SCENARIOS = ['get', 'post', 'rejected', 'contact'];

const usage = `Usage: node scripts/bench/profile.mjs [options]

Profiles the reference server (node --cpu-prof) under one scenario of npm run bench.

  --scenario <name>    get (GET ${GET_PATH}, default), post (POST ${CONTACTS_PATH}),
                       rejected (bad key, 401), contact (GET ${CONTACTS_PATH}/{contactId})
  --log-level <level>  the server's log level: warn (default, as in the bench) or info
  --duration <s>       profiled seconds of load (default 20)
  --warmup <s>         seconds of load before the profiled window (default 5)
  --connections <n>    concurrent connections (default 50)
  --interval <us>      sampling interval in microseconds (default 250)
  --top <n>            functions to list (default 30)
  --out <dir>          where to keep the .cpuprofile and the summary (default bench-results/)
  -h, --help           show this help`;

function usageError(message) {
  console.error(`profile: ${message} (see --help)`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      scenario: { type: 'string', default: 'get' },
      'log-level': { type: 'string', default: 'warn' },
      duration: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '5' },
      connections: { type: 'string', default: '50' },
      interval: { type: 'string', default: '250' },
      top: { type: 'string', default: '30' },
      out: { type: 'string' },
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
if (!SCENARIOS.includes(values.scenario)) {
  usageError(`--scenario must be one of ${SCENARIOS.join(', ')}`);
}
if (!['warn', 'info'].includes(values['log-level'])) {
  usageError('--log-level must be warn or info');
}
const positive = (name) => {
  const n = Number(values[name]);
  if (!Number.isFinite(n) || n <= 0) {
    usageError(`--${name} must be a positive number`);
  }
  return n;
};
const duration = positive('duration');
const warmup = positive('warmup');
const connections = Math.round(positive('connections'));
const interval = Math.round(positive('interval'));
const top = Math.round(positive('top'));
const outDir = resolve(values.out ?? join(root, 'bench-results'));
const logLevel = values['log-level'];

const pinning = setUpPinning();
const workDir = mkdtempSync(join(tmpdir(), 'mailroom-profile-'));
const profileDir = join(workDir, 'cpuprofile');
const processes = createProcesses({ workDir, pinning });

async function main() {
  console.log(
    `Profiling the reference server (--log-level ${logLevel}), scenario ${values.scenario}; ${pinning.description}`,
  );
  const reference = await startReference(processes, 'reference', logLevel, {
    nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-interval=${interval}`],
  });
  const key = { 'X-API-Key': reference.key };
  const base = { url: reference.url, pid: reference.proc.pid, method: 'GET', headers: key, expectedStatus: 200 };
  const scenario =
    values.scenario === 'get'
      ? { ...base, path: GET_PATH }
      : values.scenario === 'rejected'
        ? { ...base, path: GET_PATH, headers: { 'X-API-Key': await forgeKey(reference.key) }, expectedStatus: 401 }
        : values.scenario === 'contact'
          ? { ...base, path: await createContact(reference, 'profile-reader@example.com') }
          : {
              ...base,
              method: 'POST',
              path: CONTACTS_PATH,
              headers: { ...key, 'Content-Type': 'application/json' },
              expectedStatus: 201,
              setupRequest: newContactBodies(),
            };

  console.log(`  warming up ${warmup} s, then ${duration} s profiled ...`);
  await measure(scenario, { duration: warmup }, connections);
  // V8 stamps samples with the monotonic clock in microseconds, the clock behind process.hrtime.
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  const run = await measure(scenario, { duration }, connections);
  const toUs = Number(process.hrtime.bigint() / 1000n);
  const exited = await reference.proc.stop();
  if (exited?.code !== 0) {
    throw new Error(
      `the server did not exit cleanly (${JSON.stringify(exited)}), no profile:\n${reference.proc.logTail()}`,
    );
  }

  // Main thread: CPU.<date>.<time>.<pid>.0.<seq>.cpuprofile (other threads have their own thread id).
  const file = existsSync(profileDir)
    ? readdirSync(profileDir)
        .filter((name) => name.includes(`.${reference.proc.pid}.0.`))
        .map((name) => join(profileDir, name))
        .sort((a, b) => statSync(b).size - statSync(a).size)[0]
    : undefined;
  if (!file) {
    throw new Error(`no main-thread profile in ${profileDir}`);
  }
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  let window = { fromUs, toUs };
  if (fromUs < profile.startTime || toUs > profile.endTime) {
    // Not the same clock after all: take the same length, ending where the profile ends (minus shutdown).
    const end = profile.endTime - 500_000;
    window = { fromUs: end - (toUs - fromUs), toUs: end };
  }
  const summary = summarizeProfile(profile, window);
  const text = [
    `Reference server, scenario ${values.scenario} (${scenario.method} ${scenario.path}), --log-level ${logLevel}, ` +
      `${connections} connections, ${duration} s, sampled every ${interval} µs; ${pinning.description}.`,
    `Load: ${Math.round(run.rps)} req/s, ${run.requests} responses (${run.unexpected} unexpected), ` +
      `server CPU ${run.cpuUsPerRequest?.toFixed(1) ?? 'n/a'} µs/req (/proc, profiler overhead included).`,
    '',
    formatSummary(summary, { requests: run.requests, top }),
  ].join('\n');
  console.log(`\n${text}`);

  mkdirSync(outDir, { recursive: true });
  const stem = join(outDir, `profile-${values.scenario}-${logLevel}`);
  writeFileSync(`${stem}.cpuprofile`, JSON.stringify(profile));
  writeFileSync(`${stem}.txt`, `${text}\n`);
  console.log(`\nWrote ${relative(process.cwd(), stem)}.cpuprofile and .txt`);
}

try {
  await main();
  rmSync(workDir, { recursive: true, force: true });
} catch (error) {
  console.error(`\nprofile: ${error instanceof Error ? error.message : String(error)}`);
  console.error(`profile: logs kept in ${workDir}`);
  process.exitCode = 1;
} finally {
  await processes.stopAll();
}
