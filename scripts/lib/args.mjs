// Command-line parsing for the measurement scripts: node:util's parseArgs, plus `-h`/`--help` printing the script's
// usage and a one-line error (exit 2) instead of a stack trace for an unknown or malformed option.
import { parseArgs } from 'node:util';

/** Parses `process.argv` with `options`; prints `usage` and exits 0 on --help, or one line and exits 2 on a mistake. */
export function parseScriptArgs(name, usage, options) {
  let parsed;
  try {
    parsed = parseArgs({
      options: { ...options, help: { type: 'boolean', short: 'h', default: false } },
      strict: true,
    });
  } catch (error) {
    console.error(`${name}: ${error instanceof Error ? error.message : String(error)} (see --help)`);
    process.exit(2);
  }
  if (parsed.values.help) {
    console.log(usage.trim());
    process.exit(0);
  }
  return parsed.values;
}

/** A whole number of at least `min` from option `flag`, or a one-line error and exit 2. */
export function wholeNumber(name, flag, text, min = 1) {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    console.error(`${name}: --${flag} must be a whole number of at least ${min}, not ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return value;
}
