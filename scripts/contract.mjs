#!/usr/bin/env node
// `npm run test:contract`: the contract run (`mailroom contract`, src/contract/) pointed at a reference
// server started here, in memory, on a free port, with sandbox scenarios on. The run gets what any deployment's
// CI would give it: the server's URL and one full-access key (made as `mailroom serve` makes its first key).
// Everything else it arranges through the public API; the outcomes only a cooperative server produces (500, 503,
// the expired-key 401) it forces with `Prefer`, and here it requires them. Exit status: 0 when the run passed.
import { generateKeyPairSync } from 'node:crypto';
import { Command } from 'commander';
import { register } from 'tsx/esm/api';

// The server and the contract run are TypeScript: load the sources through tsx (a dev tool; users run dist/).
register();

const { contractAction, contractOptions } = await import('../src/cli/contract.ts');
const { parseSecretScanningKeys } = await import('../src/webhooks/secret-scanning.ts');
const { startServer } = await import('../src/server/index.ts');

const program = contractOptions(
  new Command()
    .name('npm run test:contract --')
    .description(
      'Starts the reference server in memory on a free port, with sandbox scenarios on, and runs\n' +
        '`mailroom contract --require-scenarios` against it:\n' +
        "Dredd over every documented (operation, status), Prism's validating proxy in front of the server,\n" +
        'semantic header checks, edge values; every documented response, 500s and 503s included, must pass.',
    ),
  { withTarget: false },
).showHelpAfterError('(run with --help for usage)');
program.parse(process.argv);
const opts = program.opts();

// Room for the run's sign-ups, log-ins and failed authentications from this one address, so the run never waits
// for those windows (a plain deployment's run paces itself by them instead), yet few enough that spending the
// address window for its 429 stays cheap; the per-user window stays as shipped.
// GitHub's side of a secret-scanning key pair, made here: the server knows the public half, the run signs with the other.
const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const keyIdentifier = 'contract-run-secret-scanning-key';
const published = JSON.stringify([
  { key_identifier: keyIdentifier, key: pair.publicKey.export({ type: 'spki', format: 'pem' }), is_current: true },
]);
const server = await startServer({
  // Endpoints on 127.0.0.1 (the run's receiver) need what --allow-private-webhooks gives.
  // Keys are scanned for expiry every second, so the run's api_key.expiring comes at once (the default is a minute).
  webhooks: { allowPrivate: true, expiryScanMs: 1000, secretScanningKeys: parseSecretScanningKeys(published) },
  port: 0,
  logLevel: 'error',
  scenarios: true,
  // A sandbox too: the run holds it to POST /sandbox/reset, last of all (the reset wipes what the run made).
  sandbox: true,
  // As behind a load balancer (--trust-proxy): the run's sign-in spray comes from several addresses (X-Forwarded-For).
  trustProxy: true,
  failedAuth: { name: 'auth-failures', limit: 1000, windowSeconds: 60 },
  accountWindows: {
    address: { name: 'address', limit: 100, windowSeconds: 60 },
    // Room for the user-token requests (the /organizations twins' Dredd cases use one owner's token).
    user: { name: 'user', limit: 1000, windowSeconds: 60 },
  },
});
// The first key, on a plan with room for the whole run (about 1,000 requests).
const first = await server.createApiKey({ name: 'Contract run', organization: 'contract', plan: 'enterprise' });
let code = 1;
try {
  code = await contractAction({
    ...opts,
    requireScenarios: true,
    sandbox: true,
    target: server.url,
    apiKey: first.plaintext,
    secretScanning: { keyIdentifier, privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() },
  });
} finally {
  await server.close();
}
process.exit(code);
