import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The version in the package root's package.json, the one place it is written, found from `fromDir` upwards: the
 * nearest package.json with a name and a version (a bare `{ "type": "module" }` a build may put in dist/ is passed
 * over), so it works from src/ under tsx and from compiled output alike.
 */
export function readPackageVersion(fromDir: string): string {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const manifest = readManifest(join(dir, 'package.json'));
    if (typeof manifest?.name === 'string' && typeof manifest.version === 'string' && manifest.version !== '') {
      return manifest.version;
    }
    if (dirname(dir) === dir) {
      throw new Error(`no package.json with a name and a version in ${fromDir} or above`);
    }
  }
}

function readManifest(file: string): { name?: unknown; version?: unknown } | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw error;
  }
  const manifest: unknown = JSON.parse(text);
  return typeof manifest === 'object' && manifest !== null ? manifest : undefined;
}

/** Mailroom's version (package.json), as the CLI, the health check and the bundled spec's info.version report it. */
export const VERSION: string = readPackageVersion(dirname(fileURLToPath(import.meta.url)));
