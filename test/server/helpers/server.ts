// A reference server for a test file: in-process on port 0, its own PGlite database, the test plans, a captured log,
// a movable clock, and `call` bound to its URL.
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { Writable } from 'node:stream';
import type { ScryptCost } from '../../../src/accounts/password.ts';
import type { AccountWindows, PlanTable, WindowConfig } from '../../../src/rate-limit/plans.ts';
import {
  type CreateKeyOptions,
  type ServerHandle,
  type ServerOptions,
  startServer,
} from '../../../src/server/index.ts';
import { createLogger } from '../../../src/server/logger.ts';
import { freshDataDir } from '../../helpers/data-dir.ts';
import { type CallOptions, call, type Reply } from './call.ts';
import type { Envelope } from './spec.ts';

/**
 * Plans for tests: `roomy` never trips, `tiny` trips at the 4th request, `steady` has one slow window to count on,
 * `free` (the plan of every organization a user creates) is roomy too.
 */
export const PLANS: PlanTable = {
  free: { windows: [{ name: 'minute', limit: 100000, windowSeconds: 60 }] },
  tiny: { windows: [{ name: 'minute', limit: 3, windowSeconds: 60 }] },
  roomy: {
    windows: [
      { name: 'burst', limit: 1000, windowSeconds: 1 },
      { name: 'minute', limit: 100000, windowSeconds: 60 },
    ],
  },
  steady: { windows: [{ name: 'minute', limit: 1000, windowSeconds: 60 }] },
};

/** A failed-auth window wide enough that a file's deliberate 401s never trip it. */
export const LENIENT_FAILED_AUTH: WindowConfig = { name: 'auth-failures', limit: 1000, windowSeconds: 60 };

/** Account windows wide enough that a file's sign-ups, log-ins and user-token calls never trip them by accident. */
export const LENIENT_ACCOUNT_WINDOWS: Partial<AccountWindows> = {
  user: { name: 'user', limit: 100_000, windowSeconds: 60 },
  address: { name: 'address', limit: 1000, windowSeconds: 60 },
};

/** A cheaper scrypt cost than the default, so files that sign many users up stay quick (still real scrypt). */
export const TEST_PASSWORD_COST: ScryptCost = { logN: 10, r: 8, p: 1 };

/** The server secret of every test server (restarts must use the same one). */
export const SERVER_SECRET = 'test-secret';

/** A key made through the server handle. */
export interface TestKey {
  plaintext: string;
  keyId: string;
  organizationId: string;
  /** The organization's name (what `createApiKey` takes). */
  organization: string;
}

/** A running server with a captured log, a movable clock and a bound `call`. */
export interface TestServer {
  handle: ServerHandle;
  url: string;
  /** Everything the server logged so far. */
  logs(): string;
  /** The server's clock: real time plus whatever `advanceClock` added. */
  now(): Date;
  advanceClock(ms: number): void;
  call<T = Envelope>(method: string, path: string, options?: CallOptions): Promise<Reply<T>>;
  /**
   * Creates a key through the handle. Without `organization` it is a fresh organization on `roomy`; with one, the
   * organization keeps its plan unless `plan` is given.
   */
  newKey(options?: Partial<CreateKeyOptions>): Promise<TestKey>;
  close(): Promise<void>;
}

/** A fresh organization name, so tests never share a rate-limit pool or data by accident. */
export function newOrganization(): string {
  return `org-${randomUUID()}`;
}

/**
 * Starts a server with the test defaults: its own PGlite database (see `freshDataDir`) unless `store` is given, the
 * test plans, a captured log, and responses validated against the spec.
 */
export async function startTestServer(overrides: Partial<ServerOptions> = {}): Promise<TestServer> {
  const ownDataDir = overrides.store === undefined ? await freshDataDir() : undefined;
  let logText = '';
  const sink = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      logText += chunk.toString();
      done();
    },
  });
  let offsetMs = 0;
  const now = () => new Date(Date.now() + offsetMs);
  const removeOwnDataDir = async () => {
    if (ownDataDir !== undefined) {
      await rm(ownDataDir, { recursive: true, force: true });
    }
  };
  const handle = await startServer({
    port: 0,
    host: '127.0.0.1',
    store: { kind: 'pglite', dataDir: ownDataDir },
    plans: PLANS,
    failedAuth: LENIENT_FAILED_AUTH,
    accountWindows: LENIENT_ACCOUNT_WINDOWS,
    passwordCost: TEST_PASSWORD_COST,
    clock: now,
    logger: createLogger('info', sink),
    validateResponses: true,
    serverSecret: SERVER_SECRET,
    ...overrides,
  }).catch(async (error: unknown) => {
    await removeOwnDataDir();
    throw error;
  });
  return {
    handle,
    url: handle.url,
    logs: () => logText,
    now,
    advanceClock(ms) {
      offsetMs += ms;
    },
    call: (method, path, options) => call(handle.url, method, path, options),
    async newKey(options = {}) {
      const organization = options.organization ?? newOrganization();
      const plan = options.plan ?? (options.organization === undefined ? 'roomy' : undefined);
      const created = await handle.createApiKey({ name: 'test key', ...options, organization, plan });
      return { ...created, organization };
    },
    async close() {
      await handle.close();
      await removeOwnDataDir();
    },
  };
}
