// The server under fuzz, in a process of its own (so a crash is seen as an exit, and its memory is its own): the real
// `startServer` on an embedded PGlite data directory the fuzz seeded. Options come as JSON in MAILROOM_FUZZ_SERVER;
// the log goes to stdout as JSON lines (the fuzz reads it for errors); the first line on fd 3 is `{ url, port }`.
// SIGTERM closes the server and its stores, then exits.
import { createWriteStream } from 'node:fs';
import type { AccountWindows, PlanTable, WindowConfig } from '../../../src/rate-limit/plans.ts';
import { startServer } from '../../../src/server/index.ts';
import { createLogger } from '../../../src/server/logger.ts';
import { parseSecretScanningKeys } from '../../../src/webhooks/secret-scanning.ts';

/** What the fuzz passes to the server process. */
export interface FuzzServerOptions {
  dataDir: string;
  serverSecret: string;
  plans: PlanTable;
  failedAuth: WindowConfig;
  accountWindows: AccountWindows;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** GitHub's public keys (MAILROOM_SECRET_SCANNING_PUBLIC_KEYS's JSON), so signed reports are accepted. */
  secretScanningPublicKeys: string;
}

const options = JSON.parse(process.env.MAILROOM_FUZZ_SERVER ?? 'null') as FuzzServerOptions | null;
if (!options) {
  throw new Error('MAILROOM_FUZZ_SERVER is not set: this process is started by scripts/fuzz.mjs');
}

const handle = await startServer({
  port: 0,
  host: '127.0.0.1',
  store: { kind: 'pglite', dataDir: options.dataDir },
  serverSecret: options.serverSecret,
  plans: options.plans,
  failedAuth: options.failedAuth,
  accountWindows: options.accountWindows,
  // Sign-ups hash passwords at the cost the tests use (the default takes ~100 ms and 32 MiB each).
  passwordCost: { logN: 10, r: 8, p: 1 },
  logger: createLogger('info', process.stdout),
  // Responses are checked against the spec by the fuzz itself; the server runs as `mailroom serve` does.
  validateResponses: false,
  http: { headersTimeoutMs: options.headersTimeoutMs, requestTimeoutMs: options.requestTimeoutMs },
  // Endpoint URLs are checked as in production (no private addresses); nothing is delivered (the fuzz has no network).
  webhooks: { deliver: false, secretScanningKeys: parseSecretScanningKeys(options.secretScanningPublicKeys) },
});

const control = createWriteStream('', { fd: 3 });
control.write(`${JSON.stringify({ url: handle.url, port: handle.port })}\n`);

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) {
    return;
  }
  stopping = true;
  handle.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
