// Shared by scripts/bench.mjs and scripts/bench/profile.mjs: CPU pinning, server processes (each
// pinned to the server CPU, output to a log file), the load generator (autocannon, in this
// process) and what is read from /proc about a server (CPU time, resident memory).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { tsImport } from 'tsx/esm/api';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(import.meta.url);

export const GET_PATH = '/v1/api-keys/validate';
export const CONTACTS_PATH = '/v1/contacts';
/** MAILROOM_PLANS for the bench: the first key's plan ("free") made roomy enough never to trip. */
export const ROOMY_PLANS = JSON.stringify({
  free: { windows: [{ name: 'burst', limit: 1_000_000_000, windowSeconds: 1 }] },
});
/** The most the CLI allows; rejected-key runs count against it (per minute, per client address). */
export const FAILED_AUTH_LIMIT = 1_000_000;

export const autocannonVersion = require('autocannon/package.json').version;

// ---------------------------------------------------------------------------------------------
// CPU pinning

/**
 * Pins this process (the load generator) to CPU 1 and reports how servers should be started:
 * on CPU 0 through taskset. Without taskset or with a single CPU nothing is pinned.
 */
export function setUpPinning() {
  const cpus = availableParallelism();
  const hasTaskset = process.platform === 'linux' && spawnSync('taskset', ['-p', String(process.pid)]).status === 0;
  const serverCpu = 0;
  const loadCpu = 1;
  const pinned = hasTaskset && cpus >= 2;
  if (pinned) {
    // -a: every thread of this process.
    const pin = spawnSync('taskset', ['-a', '-p', '-c', String(loadCpu), String(process.pid)]);
    if (pin.status !== 0) {
      throw new Error(`could not pin the load generator to CPU ${loadCpu}: ${pin.stderr}`);
    }
  }
  return {
    cpus,
    pinned,
    serverCpu,
    loadCpu,
    description: pinned
      ? `servers pinned to CPU ${serverCpu}, load generator to CPU ${loadCpu} (taskset)`
      : `not pinned (${hasTaskset ? `${cpus} CPU` : 'no taskset'}): servers and load generator share the CPUs`,
  };
}

// ---------------------------------------------------------------------------------------------
// Server processes

export function getFreePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * Starts and tracks server processes: `node <nodeFlags> <nodeArgs>` pinned to the server CPU (taskset
 * execs node, so the child's pid is node's), output to `<workDir>/<name>.log`, with an IPC channel
 * for the memory probe (scripts/bench/memory-probe.mjs, preloaded). `node` is this Node unless given
 * (the bench runs every server on the current LTS as well).
 */
export function createProcesses({ workDir, pinning }) {
  const running = new Set();

  function start(name, nodeArgs, { env = {}, nodeFlags = [], node = process.execPath } = {}) {
    const logFile = join(workDir, `${name}.log`);
    const fd = openSync(logFile, 'a');
    const nodeCommand = [node, '--expose-gc', '--import', join(root, 'scripts/bench/memory-probe.mjs'), ...nodeFlags];
    const [command, ...args] = pinning.pinned
      ? ['taskset', '-c', String(pinning.serverCpu), ...nodeCommand, ...nodeArgs]
      : [...nodeCommand, ...nodeArgs];
    const child = spawn(command, args, {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...env },
      stdio: ['ignore', fd, fd, 'ipc'],
    });
    closeSync(fd);
    let exited = null;
    const exit = new Promise((done) => {
      child.once('exit', (code, signal) => {
        exited = { code, signal };
        done(exited);
      });
      child.once('error', (error) => {
        exited = { code: null, signal: null, error: error.message };
        done(exited);
      });
    });
    const handle = {
      name,
      child,
      logFile,
      get pid() {
        return child.pid;
      },
      get exited() {
        return exited;
      },
      log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
      logTail(lines = 20) {
        return this.log().trimEnd().split('\n').slice(-lines).join('\n');
      },
      /** SIGTERM (the CLI closes its stores and exits), SIGKILL after 15 s. */
      async stop() {
        running.delete(handle);
        if (exited) {
          return exited;
        }
        child.kill('SIGTERM');
        const done = await Promise.race([exit, sleep(15_000).then(() => null)]);
        if (!done) {
          child.kill('SIGKILL');
          return exit;
        }
        return done;
      },
    };
    running.add(handle);
    return handle;
  }

  return {
    start,
    stopAll: () => Promise.all([...running].map((proc) => proc.stop())),
  };
}

/** A server that died mid-run would turn the rest of the run into connection errors: stop instead. */
export function assertAlive(proc) {
  if (proc.exited) {
    throw new Error(`${proc.name} exited (${JSON.stringify(proc.exited)}) during the run:\n${proc.logTail()}`);
  }
}

/** Polls `check` until it returns a value, the process exits, or the time is up. */
export async function waitFor(proc, what, check, timeoutMs = 180_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value) {
      return value;
    }
    if (proc.exited) {
      throw new Error(`${proc.name} exited (${JSON.stringify(proc.exited)}) before ${what}:\n${proc.logTail()}`);
    }
    await sleep(200);
  }
  throw new Error(`${proc.name}: no ${what} within ${timeoutMs / 1000} s:\n${proc.logTail()}`);
}

async function answers(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

/**
 * The reference server through its CLI (bin/mailroom.js serve --memory) with a roomy plan and
 * failed-authentication limit; resolves with its URL and its first API key.
 */
export async function startReference(
  processes,
  name,
  logLevel,
  { nodeFlags = [], node, args = [], databaseUrl, checkout = root } = {},
) {
  // Port 0: the server picks one and prints its URL (a port probed beforehand could be taken meanwhile).
  const proc = processes.start(
    name,
    [
      join(checkout, 'bin/mailroom.js'),
      'serve',
      ...(databaseUrl ? ['--database-url', databaseUrl] : ['--memory']),
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--log-level',
      logLevel,
      '--failed-auth-limit',
      String(FAILED_AUTH_LIMIT),
      ...args,
    ],
    {
      env: {
        MAILROOM_PLANS: ROOMY_PLANS,
        MAILROOM_LOG_LEVEL: '',
        // Commander takes a defined MAILROOM_MEMORY (even empty) as --memory, which --database-url excludes.
        ...(databaseUrl ? { MAILROOM_SERVER_SECRET: 'bench-secret-of-the-request-log-pair' } : { MAILROOM_MEMORY: '' }),
      },
      nodeFlags,
      node,
    },
  );
  const started = await waitFor(proc, 'a first API key', () => {
    const log = proc.log();
    const url = /listening on (http:\/\/\S+)/.exec(log)?.[1];
    const key = /First API key[^\n]*\n\s*(mr_\S+)/.exec(log)?.[1];
    return url && key ? { url, key } : null;
  });
  return { proc, ...started };
}

/** One of the baseline servers in scripts/bench/, answering GET_PATH with `body`. */
export async function startPlain(processes, name, script, body, { node } = {}) {
  const proc = processes.start(name, [join(root, script), '--port', '0'], { env: { BENCH_BODY: body }, node });
  const port = await waitFor(proc, 'listening', () => /listening on [^\s]+:(\d+)/.exec(proc.log())?.[1], 60_000);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(proc, 'an answer', () => answers(`${url}${GET_PATH}`), 60_000);
  return { proc, url };
}

/** The Prism mock on generated/openapi.yaml. Prism needs a port up front: probe one, retry if taken. */
export async function startPrism(processes, { node } = {}, attempt = 1) {
  const spec = join(root, 'generated', 'openapi.yaml');
  if (!existsSync(spec)) {
    throw new Error(`${relative(process.cwd(), spec)} is missing: run npm run generate first`);
  }
  const prismPackage = require.resolve('@stoplight/prism-cli/package.json');
  const prismBin = join(dirname(prismPackage), require(prismPackage).bin.prism);
  const port = await getFreePort();
  // Logging at warn like the reference server; one process (no --multiprocess), like `npm run mock`.
  const proc = processes.start(
    `prism-${port}`,
    [prismBin, 'mock', spec, '--host', '127.0.0.1', '--port', String(port), '--verboseLevel', 'warn'],
    { node },
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(proc, 'listening', () => answers(`${url}/livez`), 180_000);
  } catch (error) {
    await proc.stop();
    if (attempt < 3 && /EADDRINUSE/.test(String(error))) {
      return startPrism(processes, { node }, attempt + 1);
    }
    throw error;
  }
  return { proc, url };
}

/**
 * A key with the real key's public id and a valid checksum but another secret: it passes the format
 * and checksum checks, is found (in the key cache) and fails only at the HMAC comparison.
 */
export async function forgeKey(realKey) {
  const { crc32, parseApiKey } = await tsImport('../../src/keys/api-key.ts', import.meta.url);
  const { BASE62, randomString } = await tsImport('../../src/lib/ids.ts', import.meta.url);
  const publicId = /^mr_([a-z0-9]{8})_/.exec(realKey)?.[1];
  for (;;) {
    const body = `mr_${publicId}_${randomString(32)}`;
    let rest = crc32(body);
    let checksum = '';
    for (let i = 0; i < 6; i++) {
      checksum = BASE62[rest % 62] + checksum;
      rest = Math.floor(rest / 62);
    }
    const forged = `${body}${checksum}`;
    const parsed = parseApiKey(forged);
    if (!parsed.ok || parsed.publicId !== publicId) {
      throw new Error(`could not forge a well-formed key (${JSON.stringify(parsed)}): has the key format changed?`);
    }
    if (forged !== realKey) {
      return forged;
    }
  }
}

/** Creates a contact on the reference server and returns its path, for GET /v1/contacts/{contactId}. */
export async function createContact(reference, email) {
  const created = await fetch(`${reference.url}${CONTACTS_PATH}`, {
    method: 'POST',
    headers: { 'X-API-Key': reference.key, 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, firstName: 'Ada', lastName: 'Lovelace' }),
  });
  const contact = await created.json();
  if (created.status !== 201 || typeof contact?.data?.contactId !== 'string') {
    throw new Error(`reference POST ${CONTACTS_PATH} answered ${created.status}: ${JSON.stringify(contact)}`);
  }
  return `${CONTACTS_PATH}/${contact.data.contactId}`;
}

/** A POST /v1/contacts request factory: a new address each time (a repeated one would be a 409). */
export function newContactBodies() {
  const runId = randomBytes(4).toString('hex');
  let counter = 0;
  return (req) => {
    counter += 1;
    return { ...req, body: JSON.stringify({ email: `bench-${runId}-${counter}@example.com` }) };
  };
}

// ---------------------------------------------------------------------------------------------
// What /proc says about a server

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** CPU time (user + system, every thread) a process has used so far, in microseconds; null without /proc. */
export function readCpuUs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name start at field 3 (state); utime is field 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS) * 1e6;
  } catch {
    return null;
  }
}

/** VmRSS of a process in KiB; null without /proc. */
export function readRssKiB(pid) {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/** process.memoryUsage() of a server, through the memory probe, after a full GC when `gc`; null on timeout. */
export function probeMemory(proc, gc) {
  return new Promise((resolveUsage) => {
    const id = randomBytes(6).toString('hex');
    const onMessage = (message) => {
      if (message?.type === 'memory' && message.id === id) {
        clearTimeout(timer);
        proc.child.off('message', onMessage);
        resolveUsage(message.usage);
      }
    };
    const timer = setTimeout(() => {
      proc.child.off('message', onMessage);
      resolveUsage(null);
    }, 10_000);
    proc.child.on('message', onMessage);
    proc.child.send({ type: 'memory', id, gc });
  });
}

// ---------------------------------------------------------------------------------------------
// Load

/**
 * One autocannon run. Latencies are taken from every response's own time (float milliseconds):
 * autocannon's histogram keeps whole milliseconds, too coarse for sub-millisecond servers.
 */
function runAutocannon(scenario, limit, connections) {
  return new Promise((resolveRun, reject) => {
    const latencies = [];
    const instance = autocannon(
      {
        url: `${scenario.url}${scenario.path}`,
        method: scenario.method,
        headers: scenario.headers,
        connections,
        ...(scenario.setupRequest ? { requests: [{ setupRequest: scenario.setupRequest }] } : {}),
        ...limit,
      },
      (error, result) => (error ? reject(error) : resolveRun({ result, latencies })),
    );
    instance.on('response', (_client, _status, _bytes, responseTime) => {
      latencies.push(responseTime);
    });
    instance.on('error', reject);
  });
}

/** The q-th percentile (0-100) of ascending `sorted`, nearest rank. */
function percentile(sorted, q) {
  if (sorted.length === 0) {
    return null;
  }
  const rank = Math.ceil((q / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/**
 * Loads `scenario` ({url, path, method, headers, expectedStatus, pid, setupRequest?}) for
 * `limit` ({duration} seconds or {amount} requests) and reduces the run to what reports need.
 */
export async function measure(scenario, limit, connections) {
  const cpuBefore = scenario.pid ? readCpuUs(scenario.pid) : null;
  const { result, latencies } = await runAutocannon(scenario, limit, connections);
  const cpuAfter = scenario.pid ? readCpuUs(scenario.pid) : null;
  const sorted = Float64Array.from(latencies).sort();
  const total = result.requests.total;
  const expected = result.statusCodeStats?.[scenario.expectedStatus]?.count ?? 0;
  return {
    requests: total,
    seconds: result.duration,
    rps: result.duration > 0 ? total / result.duration : 0,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length > 0 ? sorted[sorted.length - 1] : null,
    // The server's own CPU time per answered request: unlike req/s, barely moved by other load on the machine.
    cpuUsPerRequest: cpuBefore !== null && cpuAfter !== null && total > 0 ? (cpuAfter - cpuBefore) / total : null,
    errors: result.errors,
    timeouts: result.timeouts,
    unexpected: total - expected,
    statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => [code, s.count])),
  };
}

export function median(numbers) {
  const sorted = [...numbers].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Server CPU per authenticated GET of each of `servers` (name → a started reference server), in interleaved rounds of
 * `requests` requests after a 5,000-request warm-up each; prints each round's figures and returns every server's list
 * (µs per request, one per round).
 */
export async function cpuRounds(servers, { rounds, requests, connections }) {
  const scenarioOf = (server) => ({
    url: server.url,
    pid: server.proc.pid,
    path: GET_PATH,
    method: 'GET',
    headers: { 'X-API-Key': server.key },
    expectedStatus: 200,
  });
  for (const server of Object.values(servers)) {
    await measure(scenarioOf(server), { amount: 5000 }, connections);
  }
  const cpu = Object.fromEntries(Object.keys(servers).map((name) => [name, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const [name, server] of Object.entries(servers)) {
      const result = await measure(scenarioOf(server), { amount: requests }, connections);
      if (result.unexpected > 0 || result.errors > 0) {
        throw new Error(`${name}: ${JSON.stringify(result.statusCodes)}, ${result.errors} errors`);
      }
      cpu[name].push(result.cpuUsPerRequest);
    }
    console.log(
      `round ${round}: ${Object.entries(cpu)
        .map(([name, list]) => `${name} ${list.at(-1).toFixed(0)} µs`)
        .join(', ')}`,
    );
  }
  return cpu;
}
