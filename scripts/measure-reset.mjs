#!/usr/bin/env node
// How long `POST /sandbox/reset` takes, as a test suite's beforeEach pays it: a sandbox (`mailroom serve --memory
// --sandbox --seed FILE`, the compiled build) seeded from a fixture this script writes, then, round after round, a few
// writes (what a test leaves behind) and one reset, timed from the client (the HTTP round trip: what the suite waits).
// The baseline, measured on the same server in the same rounds: one authenticated GET (`/v1/api-keys/validate`).
// Prints the median, p99 and max of each and their ratio, and checks after every reset that the writes are gone.
//
//   node scripts/measure-reset.mjs [--resets 100] [--writes 5] [--organizations 3] [--users 5] [--keys 3]
//                                  [--contacts 200] [--json]
//
// Run `npm run build` first (the script runs dist/, as `npx mailroom` does).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseScriptArgs, wholeNumber } from './lib/args.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const USAGE = `
Usage: node scripts/measure-reset.mjs [--resets 100] [--writes 5] [--organizations 3] [--users 5] [--keys 3]
                                     [--contacts 200] [--json]

Times POST /sandbox/reset from the client against one authenticated GET on the same sandbox (the compiled build:
run \`npm run build\` first), checking after every reset that the round's writes are gone.

  --resets N         rounds (default 100)
  --writes N         writes before each reset (default 5)
  --organizations N  organizations in the fixture (default 3)
  --users N          users in the fixture (default 5)
  --keys N           keys per organization (default 3)
  --contacts N       contacts in all, spread over the organizations (default 200)
  --json             print the results as JSON
  -h, --help         this text
`;
const values = parseScriptArgs('measure-reset', USAGE, {
  resets: { type: 'string', default: '100' },
  writes: { type: 'string', default: '5' },
  organizations: { type: 'string', default: '3' },
  users: { type: 'string', default: '5' },
  keys: { type: 'string', default: '3' },
  contacts: { type: 'string', default: '200' },
  json: { type: 'boolean', default: false },
});
// Every count checked now, before a server is started (a mistake found later would leave it running).
const counts = Object.fromEntries(
  ['resets', 'writes', 'organizations', 'users', 'keys', 'contacts'].map((name) => [
    name,
    wholeNumber('measure-reset', name, values[name], name === 'writes' ? 0 : 1),
  ]),
);
const count = (name) => counts[name];
const { completeApiKey } = await import(join(root, 'dist', 'keys', 'api-key.js'));

/** A fixture of the asked size: users, organizations (the first user owns each), keys (the first fixed) and contacts. */
function writeFixture(file) {
  const lines = ['users:'];
  for (let u = 0; u < count('users'); u++) {
    lines.push(`  - { email: user${u}@example.com, password: correct horse battery staple, name: User ${u} }`);
  }
  lines.push('organizations:');
  const perOrganization = Math.ceil(count('contacts') / count('organizations'));
  let contacts = 0;
  for (let o = 0; o < count('organizations'); o++) {
    lines.push(
      `  - name: Organization ${o}`,
      '    plan: pro',
      '    members:',
      '      - { email: user0@example.com, role: owner }',
    );
    lines.push('    keys:');
    for (let k = 0; k < count('keys'); k++) {
      const fixed = o === 0 && k === 0 ? `, apiKey: ${completeApiKey(`mr_measure0_${'M'.repeat(32)}`)}` : '';
      lines.push(`      - { name: Key ${k}, environment: staging${fixed} }`);
    }
    lines.push('    contacts:');
    for (let c = 0; c < perOrganization && contacts < count('contacts'); c++, contacts++) {
      lines.push(`      - { email: contact${c}@example.com, firstName: Contact, lastName: "${c}" }`);
    }
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
  return completeApiKey(`mr_measure0_${'M'.repeat(32)}`);
}

/** Starts the compiled `mailroom serve` on the fixture; resolves with its URL and the start-up time to "listening". */
function startSandbox(fixture) {
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [join(root, 'bin', 'mailroom.js'), 'serve', '--memory', '--sandbox', '--seed', fixture, '--port', '0'],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MAILROOM_LOG_LEVEL: 'warn' } },
  );
  let output = '';
  return new Promise((resolveStart, reject) => {
    const onData = (chunk) => {
      output += chunk;
      const url = /listening on (http:\/\/\S+)/.exec(output)?.[1];
      if (url) {
        child.stdout.off('data', onData);
        resolveStart({ child, url, startMs: performance.now() - started });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    child.on('exit', (code) => reject(new Error(`mailroom serve exited (${code}) before listening:\n${output}`)));
  });
}

/** Sends one request and returns its round-trip time in ms, failing on any status but `want`. */
async function timed(url, init, want) {
  const started = performance.now();
  const response = await fetch(url, init);
  const text = await response.text();
  const ms = performance.now() - started;
  if (response.status !== want) {
    throw new Error(`${init.method ?? 'GET'} ${url}: ${response.status} ${text}`);
  }
  return { ms, body: text };
}

const percentile = (xs, p) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};
const summary = (xs) => ({
  median: Math.round(percentile(xs, 50) * 10) / 10,
  p99: Math.round(percentile(xs, 99) * 10) / 10,
  max: Math.round(Math.max(...xs) * 10) / 10,
});

const dir = mkdtempSync(join(tmpdir(), 'mailroom-measure-reset-'));
const fixture = join(dir, 'fixtures.yaml');
const key = writeFixture(fixture);
const { child, url, startMs } = await startSandbox(fixture);
try {
  const headers = { 'X-API-Key': key };
  const json = { ...headers, 'Content-Type': 'application/json' };
  const resets = [];
  const gets = [];
  let restored;
  for (let round = 0; round < count('resets'); round++) {
    for (let w = 0; w < count('writes'); w++) {
      const email = `written-${round}-${w}@example.com`;
      await timed(`${url}/v1/contacts`, { method: 'POST', headers: json, body: JSON.stringify({ email }) }, 201);
    }
    gets.push((await timed(`${url}/v1/api-keys/validate`, { headers }, 200)).ms);
    const reset = await timed(`${url}/sandbox/reset`, { method: 'POST', headers }, 200);
    resets.push(reset.ms);
    restored = JSON.parse(reset.body).data.restored;
    // The reset must have taken the writes away: the first organization holds its seeded contacts only.
    const page = JSON.parse((await timed(`${url}/v1/contacts?limit=100`, { headers }, 200)).body);
    if (page.data.some((contact) => contact.email.startsWith('written-'))) {
      throw new Error(`round ${round}: a written contact survived the reset`);
    }
  }
  const result = {
    node: process.version,
    loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    fixture: restored,
    startWithSeedMs: Math.round(startMs),
    rounds: count('resets'),
    writesPerRound: count('writes'),
    resetMs: summary(resets),
    getMs: summary(gets),
    resetOverGet: Math.round((percentile(resets, 50) / percentile(gets, 50)) * 10) / 10,
  };
  if (values.json) {
    console.log(JSON.stringify(result));
  } else {
    const { fixture: f } = result;
    console.log(
      `Sandbox reset, Node ${result.node}, load average ${result.loadAverage}; fixture: ${f.organizations} organizations, ` +
        `${f.users} users, ${f.apiKeys} keys, ${f.contacts} contacts`,
    );
    console.log(`  start-up with the seed, to "listening": ${result.startWithSeedMs} ms`);
    console.log(
      `  POST /sandbox/reset (${result.rounds} rounds, ${result.writesPerRound} writes before each): ` +
        `median ${result.resetMs.median} ms, p99 ${result.resetMs.p99} ms, max ${result.resetMs.max} ms`,
    );
    console.log(
      `  baseline GET /v1/api-keys/validate: median ${result.getMs.median} ms, p99 ${result.getMs.p99} ms; ` +
        `reset / GET (medians): ${result.resetOverGet}×`,
    );
  }
} finally {
  child.kill('SIGTERM');
  await new Promise((done) => (child.exitCode === null ? child.on('exit', done) : done()));
  rmSync(dir, { recursive: true, force: true });
}
