#!/usr/bin/env node
// `npm run mock`: the Prism mock of the Mailroom API, served from the bundled spec
// (generated/openapi.yaml). Stateless: it answers every operation with the spec's examples
// (or, with --dynamic, with bodies generated from the schemas). `npm start` is the stateful sandbox.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, stripVTControlCharacters } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const spec = join(root, 'generated', 'openapi.yaml');
const exampleKey = 'mr_a1b2c3d4_Xk3PqR7sT1uVwY9zA2bC4dE6fG8hJ0kL1mN3pQ';

const usage = `Usage: npm run mock -- [--host HOST] [--port PORT] [--dynamic] [--errors]

Starts the Prism mock of the Mailroom API on generated/openapi.yaml (run npm run generate first).

  --host HOST   interface to listen on (default 127.0.0.1, or MAILROOM_MOCK_HOST)
  --port PORT   port to listen on (default 4010, or MAILROOM_MOCK_PORT)
  --dynamic     generate response bodies from the schemas instead of serving the examples
  --errors      answer requests that violate the spec with an error instead of a warning header
  -h, --help    show this help

Pick a documented response with the Prefer header:
  Prefer: code=429                     the 429 RATE_LIMITED example, with Retry-After
  Prefer: code=401, example=revokedKey a named example of that status

The mock is stateless: any credential value passes, a created key is not stored and nothing is
rate-limited for real. For the stateful sandbox run npm start.`;

/** Prints a one-line usage error and exits with 2. */
function usageError(message) {
  console.error(`mock: ${String(message).replace(/\s*\n\s*/g, ' ')} (see npm run mock -- --help)`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      dynamic: { type: 'boolean', default: false },
      errors: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (error) {
  usageError(error instanceof Error ? error.message : error);
}

if (values.help) {
  console.log(usage);
  process.exit(0);
}

// An empty environment variable counts as unset.
const host = values.host ?? (process.env.MAILROOM_MOCK_HOST || '127.0.0.1');
const portText = values.port ?? (process.env.MAILROOM_MOCK_PORT || '4010');
const portSource =
  values.port !== undefined ? '--port' : process.env.MAILROOM_MOCK_PORT ? 'MAILROOM_MOCK_PORT' : 'port';
if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
  usageError(`${portSource} must be an integer from 1 to 65535, got '${portText}'`);
}
if (host.trim() === '') {
  usageError('--host must not be empty');
}
const port = Number(portText);

if (!existsSync(spec)) {
  console.error(`mock: ${relative(process.cwd(), spec) || spec} is missing: run npm run generate first`);
  process.exit(1);
}

// Run Prism's CLI entry with this Node directly (no .bin shim), so signals reach it unchanged.
const require = createRequire(import.meta.url);
const prismPackage = require.resolve('@stoplight/prism-cli/package.json');
const prismBin = join(dirname(prismPackage), require(prismPackage).bin.prism);

const args = [prismBin, 'mock', spec, '--host', host, '--port', String(port)];
if (values.dynamic) {
  // Without fillProperties=false, json-schema-faker pads every open object with random extra properties.
  args.push('--dynamic', '--json-schema-faker-fillProperties=false');
}
if (values.errors) {
  args.push('--errors');
}

const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });

const urlHost = host.includes(':') ? `[${host}]` : host;
const url = `http://${urlHost}:${port}`;
let announced = false;
let seen = '';

/** Once Prism says it listens, prints the URL and two requests to try. */
function announce() {
  announced = true;
  const mode = values.dynamic ? 'dynamic bodies generated from the schemas' : "the spec's examples";
  console.log(
    [
      '',
      `Mailroom mock listening on ${url} (Prism, serving ${mode}${values.errors ? ', --errors' : ''})`,
      '',
      '  Try:',
      `    curl ${url}/v1/api-keys -H "X-API-Key: ${exampleKey}"`,
      `    curl -i ${url}/v1/contacts -H "Authorization: Bearer ${exampleKey}" -H "Prefer: code=429"`,
      `    curl -X POST ${url}/auth/signup -H "Content-Type: application/json" -d '{"email":"ada@example.com","password":"correct horse battery staple"}'`,
      '',
      '  Stateless: any key passes, nothing is stored or rate-limited. Stateful sandbox: npm start.',
      '',
    ].join('\n'),
  );
}

function watch(chunk) {
  if (announced) {
    return;
  }
  // Strip ANSI colours; keep only the tail so a long log is not rescanned forever.
  seen = (seen + stripVTControlCharacters(chunk.toString())).slice(-4096);
  if (/Prism is listening on/.test(seen)) {
    announce();
  }
}

child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  watch(chunk);
});
child.stderr.on('data', (chunk) => {
  process.stderr.write(chunk);
  watch(chunk);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
    }
  });
}

child.on('error', (error) => {
  console.error(`mock: could not start Prism (${prismBin}): ${error.message}`);
  process.exit(1);
});

child.on('exit', (code, signal) => {
  if (!announced && code !== 0 && signal === null) {
    console.error(`mock: Prism exited with code ${code} before listening on ${url} (is the port in use?)`);
  }
  if (signal === 'SIGINT' || signal === 'SIGTERM') {
    process.exit(signal === 'SIGINT' ? 130 : 143);
  }
  process.exit(code ?? 1);
});
