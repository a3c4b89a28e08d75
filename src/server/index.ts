import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createPasswordHasher, type ScryptCost } from '../accounts/password.ts';
import { issueApiKey } from '../keys/issue.ts';
import { type AccessShorthand, type Environment, type Permission, permissionsOfAccess } from '../lib/permissions.ts';
import { VERSION } from '../lib/version.ts';
import { rateLimitHeaders } from '../rate-limit/headers.ts';
import {
  createRateLimiter,
  DEFAULT_REDIS_KEY_PREFIX,
  type RateLimiter,
  type RateLimiterStoreOptions,
  waitUntilUp,
} from '../rate-limit/limiter.ts';
import {
  type AccountWindows,
  DEFAULT_FAILED_AUTH_WINDOW,
  DEFAULT_PLANS,
  type PlanTable,
  type WindowConfig,
} from '../rate-limit/plans.ts';
import { openStore, type StoreConfig } from '../store/index.ts';
import type { Store } from '../store/types.ts';
import {
  type AnomalySettings,
  createAnomalyWatch,
  DEFAULT_ANOMALY_SETTINGS,
  redisRefusalCounter,
} from '../webhooks/anomaly.ts';
import type { SecretScanningKeys } from '../webhooks/secret-scanning.ts';
import type { UrlPolicy } from '../webhooks/url-guard.ts';
import { type DeliveryWorker, type DeliveryWorkerOptions, startDeliveryWorker } from '../webhooks/worker.ts';
import { createApp, requestIdFor } from './app.ts';
import type { AppContext } from './context.ts';
import { createEdgeServer, type EdgeLimits } from './http-edge.ts';
import { startIdempotencyPurge } from './idempotency.ts';
import { createKeyCache, createTokenCache, type KeyCache } from './key-cache.ts';
import { createLastUsedTracker } from './last-used.ts';
import { createLogger, type LogLevel } from './logger.ts';
import { governingOf, type OperationTable } from './operations.ts';
import { createSandboxClock } from './sandbox/clock.ts';
import { createSandbox, type SandboxResetOutcome } from './sandbox/sandbox.ts';
import { type SeedOutcome, seedStore } from './sandbox/seed.ts';
import { readSeedFile, type SeedFile } from './sandbox/seed-file.ts';
import { warmSchemaValidators } from './schema-validator-cache.ts';
import { createSessionUseTracker } from './session-use.ts';
import { loadSpec } from './spec.ts';
import { createUsageRecorder, type UsageOptions } from './usage-recorder.ts';

/** Options of {@link startServer}; every field has a default suited to tests and the sandbox. */
export interface ServerOptions {
  port?: number;
  host?: string;
  /** Where keys and contacts live; default: embedded PGlite in memory. */
  store?: StoreConfig;
  /** Where rate-limit counters live; default: this process's memory. */
  rateLimitStore?: RateLimiterStoreOptions;
  plans?: PlanTable;
  failedAuth?: WindowConfig;
  /** The user, address and account windows (default DEFAULT_ACCOUNT_WINDOWS); any not given keeps its default. */
  accountWindows?: Partial<AccountWindows>;
  /** The scrypt cost of new password hashes (default DEFAULT_SCRYPT_COST; tests use a cheaper one). */
  passwordCost?: ScryptCost;
  /** Keys are stored as HMAC-SHA256 under this secret; every instance sharing a database needs the same one. */
  serverSecret?: string;
  clock?: () => Date;
  logger?: Logger;
  logLevel?: LogLevel;
  validateResponses?: boolean;
  trustProxy?: boolean | string | number;
  /** How long a looked-up key is trusted without a database round trip (revocations propagate at once regardless). */
  keyCacheTtlMs?: number;
  lastUsedFlushMs?: number;
  /** The request log: recording on or off, its batch interval and buffer bound, retention and row bound. */
  usage?: UsageOptions;
  /** How long start-up waits for Redis before serving under the outage policy (default 5000 ms). */
  rateLimitStoreWaitMs?: number;
  /** Limits of the HTTP layer: head size (16 KiB) and the time a request may take to arrive (20 s head, 60 s all). */
  http?: Partial<EdgeLimits>;
  /** Sandbox scenarios: force any documented response with the mock's selectors (default off; never in production). */
  scenarios?: boolean;
  /** How often expired idempotency entries are deleted (default 10 minutes; they are also replaced on access). */
  idempotencyPurgeMs?: number;
  /**
   * Sandbox mode (default off; never in production): `POST /sandbox/reset` exists, and a fixture's keys may carry a
   * fixed text. One process's own state only: the embedded store and in-memory rate limits.
   */
  sandbox?: boolean;
  /**
   * A fixture file (YAML or JSON, see generated/seed.schema.json) to seed: in sandbox mode the store is emptied first,
   * and every reset goes back to it; otherwise it is seeded only into a store that holds no data yet. A fixture with a
   * problem (SeedError: file, line, field) stops the start before anything is stored.
   */
  seed?: string;
  /** Webhooks: the URL policy, the delivery worker, the anomaly thresholds and the secret-scanning keys. */
  webhooks?: WebhookOptions;
}

/** Options of the webhooks side of a server; every field has a default. */
export interface WebhookOptions
  extends Pick<DeliveryWorkerOptions, 'retrySchedule' | 'pollMs' | 'concurrency' | 'timeoutMs' | 'expiryScanMs'> {
  /** Accept http and private addresses (--allow-private-webhooks; default false): local development and tests. */
  allowPrivate?: boolean;
  /** How host names are resolved for the private-address check (default: the system resolver). */
  resolve?: UrlPolicy['resolve'];
  /** Run this instance's delivery worker (default true; false writes events for other instances to send). */
  deliver?: boolean;
  /** usage.anomaly's thresholds (default 20 refusals within 60 s). */
  anomaly?: AnomalySettings;
  /** GitHub's secret-scanning public keys (default none: every report is refused with 401). */
  secretScanningKeys?: SecretScanningKeys;
}

/** The sandbox of a running server: its reset, and what its reset state is. */
export interface SandboxControl {
  /** Restores the reset state, as `POST /sandbox/reset` does. */
  reset(): Promise<SandboxResetOutcome>;
  /** Makes the store's data as it is now the state every reset restores (e.g. after making a first key). */
  capture(): Promise<void>;
}

/** Sandbox mode or the fixture asked for what the server's stores can't give; the message says what to change. */
export class SandboxConfigError extends Error {
  override name = 'SandboxConfigError';
}

/** Options for a key made through the handle (tests, scripts, the CLI's first key). */
export interface CreateKeyOptions {
  name: string;
  organization?: string;
  plan?: string;
  rateLimit?: number;
  expiresInDays?: number;
  /** What the key may do (default: every permission, or what `access` stands for). */
  permissions?: readonly Permission[];
  /** The API's shorthand: `full` (every permission) or `read_only` (every `:read`). */
  access?: AccessShorthand;
  environment?: Environment;
}

/** A running reference server. */
export interface ServerHandle {
  url: string;
  port: number;
  server: Server;
  store: Store;
  limiter: RateLimiter;
  context: AppContext;
  /** Creates a key directly in the store (organization created if missing) and returns its plaintext once. */
  createApiKey(options: CreateKeyOptions): Promise<{ plaintext: string; keyId: string; organizationId: string }>;
  /** In sandbox mode: its reset and reset state; undefined on any other server. */
  sandbox: SandboxControl | undefined;
  /** What the fixture (`seed`) put into the store; undefined without one, or when the store held data already. */
  seeded: SeedOutcome | undefined;
  close(): Promise<void>;
}

/** Opens the stores, builds the app and listens; `close()` undoes all of it. */
export async function startServer(options: ServerOptions = {}): Promise<ServerHandle> {
  const logger = options.logger ?? createLogger(options.logLevel ?? 'info');
  const plans = options.plans ?? DEFAULT_PLANS;
  const sandboxMode = options.sandbox ?? false;
  checkSandboxStores(options);
  // Checked before anything is opened, so a fixture's mistake costs nothing and stores nothing.
  const seedFile =
    options.seed === undefined
      ? undefined
      : await readSeedFile(options.seed, { plans: Object.keys(plans), sandbox: sandboxMode });
  const store = await openStore(options.store ?? { kind: 'pglite' });
  const limiter = createRateLimiter({
    plans,
    failedAuth: options.failedAuth ?? DEFAULT_FAILED_AUTH_WINDOW,
    accountWindows: options.accountWindows,
    store: options.rateLimitStore ?? { kind: 'memory' },
    onStoreError: (err) => logger.warn({ err: { message: err.message } }, 'rate-limit store error'),
  });
  if (limiter.kind === 'redis' && !(await waitUntilUp(limiter, options.rateLimitStoreWaitMs ?? 5000))) {
    logger.warn('the rate-limit store is not reachable yet; applying the outage policy until it is');
  }
  const keys = createKeyCache(store, { ttlMs: options.keyCacheTtlMs ?? 60_000 });
  const tokens = createTokenCache(store, { ttlMs: options.keyCacheTtlMs ?? 60_000 });
  // One broadcast for revoked keys and logged-out tokens: a public id is dropped from both caches. The two kinds draw
  // their ids independently, so a shared id (1 in 36^8) costs one extra lookup, never a wrong answer.
  const unsubscribe = await store.onKeyChange((publicId) => {
    keys.invalidate(publicId);
    tokens.invalidate(publicId);
  });
  const lastUsed = createLastUsedTracker(store, logger, options.lastUsedFlushMs ?? 1000);
  const sessionUse = createSessionUseTracker(store, logger, options.lastUsedFlushMs ?? 1000);
  // A sandbox's clock can be moved forward (POST /sandbox/clock): everything of this server reads it.
  const sandboxClock = sandboxMode ? createSandboxClock(options.clock ?? (() => new Date())) : undefined;
  const clock = sandboxClock?.now ?? options.clock ?? (() => new Date());
  const usage = createUsageRecorder(store, logger, clock, options.usage);
  const webhookOptions = options.webhooks ?? {};
  let worker: DeliveryWorker | undefined;
  const context: AppContext = {
    store,
    limiter,
    keys,
    tokens,
    passwords: createPasswordHasher(options.passwordCost),
    lastUsed,
    sessionUse,
    usage,
    plans,
    failedAuth: options.failedAuth ?? DEFAULT_FAILED_AUTH_WINDOW,
    serverSecret: options.serverSecret ?? 'mailroom-development-secret',
    clock,
    logger,
    version: VERSION,
    scenarios: options.scenarios ?? false,
    webhooks: webhooksContext(webhookOptions, {
      store,
      keys,
      clock,
      logger,
      nudge: () => worker?.nudge(),
      rateLimitStore: options.rateLimitStore,
    }),
  };
  if (context.scenarios) {
    logger.warn('sandbox scenarios are on: Prefer: code=… and ?__code=… force any documented response');
  }
  let seeded: SeedOutcome | undefined;
  if (sandboxMode) {
    context.sandbox = createSandbox(context, options.seed, sandboxClock ?? createSandboxClock(clock));
    seeded = await seedSandbox(context, seedFile);
    logger.warn('sandbox mode is on: POST /sandbox/reset restores the state it starts with');
  } else if (seedFile !== undefined) {
    seeded = await seedNewStore(context, seedFile);
  }
  const stopPurge = startIdempotencyPurge(store, context.clock, logger, options.idempotencyPurgeMs ?? 600_000);
  if (webhookOptions.deliver ?? true) {
    worker = startDeliveryWorker({
      ...webhookOptions,
      store,
      serverSecret: context.serverSecret,
      logger,
      clock,
      allowPrivate: context.webhooks.allowPrivate,
      version: VERSION,
    });
  }
  const spec = loadSpec();
  const { app, operations } = createApp(context, spec, {
    validateResponses: options.validateResponses ?? false,
    trustProxy: options.trustProxy ?? false,
  });
  // Node's HTTP layer answers some requests without calling the app; the edge makes those answers the contract's too.
  const server = createEdgeServer(app, {
    logger,
    limits: options.http,
    requestIdFor,
    allowedMethods: (path) => operations.methodsOf(path),
    rateLimitHeadersFor: (path, address) => edgeRateLimitHeaders(operations, limiter, path, address),
  });

  await listen(server, options.port ?? 0, options.host ?? '127.0.0.1');
  // Keep-alive longer than typical load balancers' idle timeout, so they close first.
  server.keepAliveTimeout = 65_000;
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closed: Promise<void> | undefined;
  // Request validators are built per path on first use; what they all share is loaded now, in the background.
  warmSchemaValidators(
    String(spec.openapi),
    (err) => logger.warn({ err: { message: err.message } }, 'warming the request validators failed'),
    () => closed !== undefined,
  );
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    server,
    store,
    limiter,
    context,
    createApiKey: directKeyCreator(context),
    sandbox: sandboxControlOf(context.sandbox),
    seeded,
    close() {
      closed ??= (async () => {
        await new Promise<void>((done) => {
          server.close(() => done());
          server.closeAllConnections();
        });
        stopPurge();
        await worker?.close();
        await lastUsed.close();
        await sessionUse.close();
        await usage.close();
        await context.webhooks.anomalies.close();
        await unsubscribe();
        await limiter.close();
        await store.close();
      })();
      return closed;
    },
  };
}

/** ServerHandle.createApiKey: a key made in the store directly (its organization created if missing). */
function directKeyCreator(context: AppContext): ServerHandle['createApiKey'] {
  const { store } = context;
  return async (opts) => {
    const org = await store.ensureOrganization(opts.organization ?? 'default', opts.plan);
    const { plaintext, record } = await issueApiKey(store, context.serverSecret, {
      organizationId: org.organizationId,
      name: opts.name,
      expiresInDays: opts.expiresInDays,
      rateLimit: opts.rateLimit,
      permissions: opts.permissions ?? (opts.access ? permissionsOfAccess(opts.access) : undefined),
      environment: opts.environment,
      now: context.clock(),
    });
    return { plaintext, keyId: record.keyId, organizationId: org.organizationId };
  };
}

/**
 * The webhook part of the context: the URL policy, the worker's nudge, the usage.anomaly watch (counting in the rate
 * limiter's Redis when there is one, so every instance sees the sum), the scanner keys.
 */
function webhooksContext(
  options: NonNullable<ServerOptions['webhooks']>,
  deps: {
    store: Store;
    keys: KeyCache;
    clock: () => Date;
    logger: Logger;
    nudge: () => void;
    rateLimitStore: ServerOptions['rateLimitStore'];
  },
): AppContext['webhooks'] {
  const { store, keys, clock, logger, nudge, rateLimitStore } = deps;
  const settings = options.anomaly ?? DEFAULT_ANOMALY_SETTINGS;
  const counter =
    rateLimitStore?.kind === 'redis'
      ? redisRefusalCounter(settings, clock, {
          url: rateLimitStore.url,
          keyPrefix: rateLimitStore.keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX,
          commandTimeoutMs: rateLimitStore.commandTimeoutMs,
          onError: (err) => logger.warn({ err: { message: err.message } }, 'usage.anomaly store error'),
        })
      : undefined;
  return {
    allowPrivate: options.allowPrivate ?? false,
    resolve: options.resolve,
    nudge,
    anomalies: createAnomalyWatch({
      settings,
      counter,
      clock,
      findKey: async (publicId) => (await keys.get(publicId)) ?? undefined,
      onBurst: (draft) => {
        store
          .enqueueWebhookEvents([draft])
          .then(nudge)
          .catch((err: unknown) => logger.warn({ err: { message: (err as Error).message } }, 'usage.anomaly'));
      },
    }),
    secretScanningKeys: options.secretScanningKeys ?? new Map(),
  };
}

/**
 * The rate-limit headers of an answer the HTTP layer gives without the app: only where the spec's security applies (a
 * secured operation, or a miss in a secured namespace), or where the path's operations are counted per address
 * without credentials (sign-up, log-in); then the address's failed-authentication window, peeked (an outage shows it
 * exhausted).
 */
async function edgeRateLimitHeaders(
  operations: OperationTable,
  limiter: RateLimiter,
  path: string | undefined,
  address: string,
): Promise<Record<string, string>> {
  const governing = path === undefined ? undefined : governingOf(operations.match('GET', path));
  if (governing && governing.security.length === 0 && governing.rateLimit !== 'address') {
    return {};
  }
  return rateLimitHeaders(await limiter.checkFailedAuth(address), false);
}

/** Listens on `port` and `host`; rejects when the socket can't be opened. */
function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
}

/** What the handle offers of a sandbox (the reset route's own call passes `fromRequest`; a script's does not). */
function sandboxControlOf(sandbox: AppContext['sandbox']): SandboxControl | undefined {
  return sandbox && { reset: () => sandbox.reset(), capture: () => sandbox.capture() };
}

/** Sandbox mode resets one process's own state: it refuses stores that other processes share (SandboxConfigError). */
export function checkSandboxStores(options: Pick<ServerOptions, 'sandbox' | 'store' | 'rateLimitStore'>): void {
  if (!options.sandbox) {
    return;
  }
  if (options.store?.kind === 'postgres') {
    throw new SandboxConfigError(
      'sandbox mode runs on the embedded database (--memory or --data-dir): a reset empties every table, which a shared PostgreSQL database must not have done to it; drop --database-url (DATABASE_URL)',
    );
  }
  if (options.rateLimitStore?.kind === 'redis') {
    throw new SandboxConfigError(
      'sandbox mode counts rate limits in memory (a reset empties them): drop --redis-url (REDIS_URL)',
    );
  }
}

/** A sandbox's start: its fixture, if any, into an emptied store; then the state every reset restores. */
async function seedSandbox(ctx: AppContext, seedFile: SeedFile | undefined): Promise<SeedOutcome | undefined> {
  let seeded: SeedOutcome | undefined;
  if (seedFile !== undefined) {
    await ctx.store.clearData();
    seeded = await seedStore(ctx.store, seedFile.seed, seedDepsOf(ctx));
  }
  await ctx.sandbox?.capture();
  return seeded;
}

/** Outside sandbox mode a fixture seeds only a store that holds no data yet; otherwise it is left as it is. */
async function seedNewStore(ctx: AppContext, seedFile: SeedFile): Promise<SeedOutcome | undefined> {
  if (await ctx.store.holdsData()) {
    ctx.logger.info(`the store holds data already: ${seedFile.path} was not seeded`);
    return undefined;
  }
  return seedStore(ctx.store, seedFile.seed, seedDepsOf(ctx));
}

function seedDepsOf(ctx: AppContext) {
  return { serverSecret: ctx.serverSecret, passwords: ctx.passwords, now: ctx.clock() };
}
