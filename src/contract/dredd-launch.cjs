// Starts Dredd's CLI (src/contract/dredd.ts runs this file in a child process, with Dredd's arguments), minus a fixed
// cost of about 25 s of CPU per Dredd run on the bundled spec.
//
// Dredd 14's addHooks() deep-copies its whole configuration for the Node.js hooks API (`hooks.configuration`), with
// the `clone` package. The configuration holds the parsed API description (thousands of API Elements objects), and
// clone's circular-reference check compares every object with every one copied before it: quadratic, 25–27 s of CPU
// measured here (cpu-prof: `_clone` under addHooks) for one Dredd run, before its first transaction. The run's hooks
// never read `hooks.configuration`. So here `clone` is replaced, for every caller in Dredd, by the same clone that
// leaves a configuration's `apiDescriptions` shared instead of copied; everything else is copied as before.
'use strict';

const { createRequire } = require('node:module');
const { dirname, join } = require('node:path');

const dreddRequire = createRequire(require.resolve('dredd/package.json'));
const clonePath = dreddRequire.resolve('clone');
const clone = dreddRequire('clone');

/** `clone(value, ...)`, with a Dredd configuration's parsed API descriptions shared, not copied. */
function cloneSharingDescriptions(value, ...rest) {
  if (value !== null && typeof value === 'object' && Array.isArray(value.apiDescriptions)) {
    const { apiDescriptions, ...others } = value;
    return Object.assign(clone(others, ...rest), { apiDescriptions });
  }
  return clone(value, ...rest);
}
Object.assign(cloneSharingDescriptions, clone);
require.cache[clonePath].exports = cloneSharingDescriptions;

// Dredd's CLI reads its arguments after argv[1], where this file stands in for its bin.
const pkg = dreddRequire('dredd/package.json');
require(join(dirname(require.resolve('dredd/package.json')), pkg.bin.dredd));
