#!/usr/bin/env node
// `npm run test:contract`: the contract run (`mailroom contract`, src/contract/) pointed at a reference
// server started here, in memory, on a free port. The run gets what any deployment's CI would give it: the
// server's URL and one full-access key (made as `mailroom serve` makes its first key). Everything else it
// arranges through the public API. Exit status: 0 when the run passed, 1 when it failed.
import { Command } from 'commander';
import { register } from 'tsx/esm/api';

// The server and the contract run are TypeScript: load the sources through tsx (a dev tool; users run dist/).
register();

const { contractAction, contractOptions } = await import('../src/cli/contract.ts');
const { startServer } = await import('../src/server/index.ts');

const program = contractOptions(
  new Command()
    .name('npm run test:contract --')
    .description(
      'Starts the reference server in memory on a free port and runs `mailroom contract` against it:\n' +
        "Dredd over every documented (operation, status), Prism's validating proxy in front of the server,\n" +
        'semantic header checks, edge values. Cases that need sandbox scenarios are listed, not passed.',
    ),
  { withTarget: false },
).showHelpAfterError('(run with --help for usage)');
program.parse(process.argv);
const opts = program.opts();

const server = await startServer({ port: 0, logLevel: 'error' });
// The first key, on a plan with room for the whole run (about 400 requests).
const first = await server.createApiKey({ name: 'Contract run', organization: 'contract', plan: 'enterprise' });
let code = 1;
try {
  code = await contractAction({ ...opts, target: server.url, apiKey: first.plaintext });
} finally {
  await server.close();
}
process.exit(code);
