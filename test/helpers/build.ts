import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Vitest global setup: runs `npm run build` (scripts/build.mjs) once before any test file, so the tests that run what a
 * user runs (bin/mailroom.js, the packed packages) never see a stale dist/. An up-to-date build takes about a second.
 */
export default function buildOnce(): void {
  execFileSync(process.execPath, ['scripts/build.mjs'], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    stdio: 'inherit',
  });
}
