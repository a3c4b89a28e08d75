// Starts Dredd's CLI (src/contract/dredd.ts runs this file in a child process, with Dredd's arguments), minus a fixed
// cost, and started before the run is ready for it.
//
// The cost: Dredd 14's addHooks() deep-copies its whole configuration for the Node.js hooks API
// (`hooks.configuration`) with the `clone` package. The configuration holds the parsed API description (thousands of
// API Elements objects), and clone's circular-reference check compares every object with every one copied before it:
// quadratic, 25–27 s of CPU per Dredd run on the bundled spec (measured with --cpu-prof: `_clone` under addHooks),
// before its first transaction. The run's hooks never read `hooks.configuration`. So `clone` is replaced here, for
// every caller in Dredd, by the same clone leaving a configuration's `apiDescriptions` shared instead of copied.
//
// The wait: that copy is also the moment Dredd has read and compiled the spec and is about to load the hooks. Until
// the context file (MAILROOM_CONTRACT_CONTEXT) exists, Dredd waits there, so the runner can start Dredd early and
// write the context when its fixtures are made. The context's `only` becomes Dredd's `--only`.
'use strict';

const { existsSync, readFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { dirname, join } = require('node:path');

const dreddRequire = createRequire(require.resolve('dredd/package.json'));
const clone = dreddRequire('clone');
// Longer than any run: a runner that died without ending this process lets it go eventually.
const WAIT_LIMIT_MS = 30 * 60 * 1000;

/** Blocks (nothing else runs in Dredd yet) until the context file exists; returns it. */
function awaitContext(path) {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const until = Date.now() + WAIT_LIMIT_MS;
  const runner = process.ppid;
  while (!existsSync(path)) {
    if (process.ppid !== runner) {
      process.exit(3); // the runner died (killed) without ending this process
    }
    if (Date.now() > until) {
      process.stderr.write(`dredd-launch: no context at ${path} within ${WAIT_LIMIT_MS / 60000} minutes\n`);
      process.exit(3);
    }
    Atomics.wait(pause, 0, 0, 20);
  }
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** `clone(value, ...)`, with a Dredd configuration's parsed API descriptions shared, not copied. */
function cloneSharingDescriptions(value, ...rest) {
  // The configuration of addHooks: its API descriptions read and compiled into transactions.
  if (Array.isArray(value?.apiDescriptions) && value.apiDescriptions.some((d) => Array.isArray(d?.transactions))) {
    const context = awaitContext(process.env.MAILROOM_CONTRACT_CONTEXT);
    if (Array.isArray(value.only)) {
      value.only.push(...(context.only ?? []));
    }
    const { apiDescriptions, ...others } = value;
    return Object.assign(clone(others, ...rest), { apiDescriptions });
  }
  return clone(value, ...rest);
}
Object.assign(cloneSharingDescriptions, clone);
require.cache[dreddRequire.resolve('clone')].exports = cloneSharingDescriptions;

// Dredd's CLI reads its arguments after argv[1], where this file stands in for its bin.
const pkg = dreddRequire('dredd/package.json');
require(join(dirname(require.resolve('dredd/package.json')), pkg.bin.dredd));
