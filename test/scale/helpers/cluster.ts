// Instances of the reference server on a shared PostgreSQL schema and Redis key prefix, one environment per test file.
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { LOWER_ALNUM, randomString } from '../../../src/lib/ids.ts';
import { DEFAULT_FAILED_AUTH_WINDOW, type PlanTable } from '../../../src/rate-limit/plans.ts';
import { type ServerHandle, startServer, type WebhookOptions } from '../../../src/server/index.ts';
import type { UsageOptions } from '../../../src/server/usage-recorder.ts';
import { PG_URL, withAdmin } from '../../helpers/postgres.ts';
import { type Relay, startRelay } from './relay.ts';

/** The shared real services; other engineers' tests use them too, so they are never stopped, only relayed. */
export { PG_URL, withAdmin };
export const REDIS_URL = process.env.MAILROOM_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The tiny plan's limit L: small enough to exhaust in a test, big enough to make a miscount visible. */
export const TINY_LIMIT = 10;

export const PLANS: PlanTable = {
  tiny: { windows: [{ name: 'minute', limit: TINY_LIMIT, windowSeconds: 60 }] },
  // For the requests that drive a test (health polls, admin calls), so they never run into a limit themselves.
  roomy: { windows: [{ name: 'minute', limit: 100_000, windowSeconds: 60 }] },
  // The plan of every organization a user creates (sign-up, POST /organizations).
  free: { windows: [{ name: 'minute', limit: 100_000, windowSeconds: 60 }] },
};

export const SERVER_SECRET = 'same-secret-for-all-instances';

export type OutagePolicy = 'fail-open' | 'fail-closed';

export interface ClusterOptions {
  instances?: number;
  outagePolicy?: OutagePolicy;
  /** Put a relay between every instance and Redis (one relay shared by all instances). */
  relayRedis?: boolean;
  /** Put a relay between these instances (by index) and PostgreSQL; true for all of them. */
  relayPostgres?: boolean | number[];
  /** The instances' clock (default: real time), e.g. to move every instance past a key's expiry at once. */
  clock?: () => Date;
  /** The request log's settings (default: the server's), e.g. a flush interval long enough that only close() writes. */
  usage?: UsageOptions;
  /** The webhooks side (default: the server's), e.g. usage.anomaly's thresholds and a receiver on 127.0.0.1. */
  webhooks?: WebhookOptions;
}

export interface TestKey {
  plaintext: string;
  keyId: string;
  organizationId: string;
  /** The organization's name, for more keys in it. */
  organization: string;
}

export interface Cluster {
  servers: ServerHandle[];
  keyPrefix: string;
  redisRelay: Relay | undefined;
  /** The relay in front of PostgreSQL (shared by every relayed instance). */
  pgRelay: Relay | undefined;
  /**
   * A key created through the first instance's store, in a new organization on `plan` (or in `organization`, by
   * name, when given).
   */
  newKey(plan: 'tiny' | 'roomy', name?: string, organization?: string): Promise<TestKey>;
}

export interface ScaleSuite {
  /** This file's PostgreSQL schema, dropped after the file. */
  schema: string;
  startCluster(options?: ClusterOptions): Promise<Cluster>;
}

function urlVia(url: string, port: number): string {
  const parsed = new URL(url);
  parsed.hostname = '127.0.0.1';
  parsed.port = String(port);
  return parsed.toString();
}

function hostPort(url: string, defaultPort: number): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: parsed.port ? Number(parsed.port) : defaultPort };
}

/** One instance on PostgreSQL (`pgUrl`, `schema`) and Redis (`redisUrl`, `keyPrefix`), with the scale tests' settings. */
function startInstance(at: {
  pgUrl: string;
  schema: string;
  redisUrl: string;
  keyPrefix: string;
  outagePolicy: OutagePolicy;
  clock: (() => Date) | undefined;
  usage: UsageOptions | undefined;
  webhooks: WebhookOptions | undefined;
}): Promise<ServerHandle> {
  return startServer({
    port: 0,
    store: { kind: 'postgres', url: at.pgUrl, schema: at.schema },
    rateLimitStore: { kind: 'redis', url: at.redisUrl, keyPrefix: at.keyPrefix, outagePolicy: at.outagePolicy },
    plans: PLANS,
    // Every test request comes from 127.0.0.1: keep the failed-auth budget out of the way of revocation tests,
    // and the per-address window of sign-up and log-in too (the per-account and per-user ones keep defaults).
    failedAuth: { ...DEFAULT_FAILED_AUTH_WINDOW, limit: 1_000 },
    accountWindows: { address: { name: 'address', limit: 1_000, windowSeconds: 60 } },
    // Real scrypt at a lower cost than the default, so a file of log-ins stays quick on a loaded machine.
    passwordCost: { logN: 12, r: 8, p: 1 },
    serverSecret: SERVER_SECRET,
    logLevel: 'silent',
    validateResponses: true,
    // Long on purpose: revocation must not rely on the cache TTL.
    keyCacheTtlMs: 600_000,
    ...(at.clock ? { clock: at.clock } : {}),
    ...(at.usage ? { usage: at.usage } : {}),
    ...(at.webhooks ? { webhooks: at.webhooks } : {}),
  });
}

/** Deletes every Redis key matching `pattern` (SCAN + DEL, never KEYS) on a direct connection. */
export async function deleteRedisKeys(pattern: string): Promise<number> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) {
        deleted += await redis.del(...keys);
      }
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

/**
 * Declares this test file's environment: a unique schema and Redis key prefix, and an afterAll that closes every
 * instance and relay, drops the schema and deletes the prefix's Redis keys. Call at the top level of a test file.
 */
export function scaleSuite(): ScaleSuite {
  const run = randomString(10, LOWER_ALNUM);
  const schema = `mailroom_scale_${run}`;
  const prefixRoot = `mailroom-test:${run}`;
  const servers: ServerHandle[] = [];
  const relays: Relay[] = [];
  let clusters = 0;

  afterAll(async () => {
    // Relays first come back up, so closing servers can flush and say goodbye instead of waiting on timeouts.
    await Promise.all(relays.map((relay) => relay.resume()));
    await Promise.all(servers.map((server) => server.close()));
    await Promise.all(relays.map((relay) => relay.close()));
    await withAdmin((admin) => admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
    await deleteRedisKeys(`${prefixRoot}:*`);
  });

  return {
    schema,
    async startCluster(options = {}) {
      const count = options.instances ?? 2;
      const keyPrefix = `${prefixRoot}:${clusters++}`;
      const redisRelay = options.relayRedis ? await startRelay(hostPort(REDIS_URL, 6379)) : undefined;
      const relayPg = options.relayPostgres ?? false;
      const pgRelay = relayPg === false ? undefined : await startRelay(hostPort(PG_URL, 5432));
      for (const relay of [redisRelay, pgRelay]) {
        if (relay) {
          relays.push(relay);
        }
      }
      const started: ServerHandle[] = [];
      for (let index = 0; index < count; index++) {
        const viaPgRelay =
          pgRelay !== undefined && (relayPg === true || (Array.isArray(relayPg) && relayPg.includes(index)));
        // One at a time: the first migrates the schema, the others find it migrated.
        const server = await startInstance({
          pgUrl: viaPgRelay ? urlVia(PG_URL, pgRelay.port) : PG_URL,
          schema,
          redisUrl: redisRelay ? urlVia(REDIS_URL, redisRelay.port) : REDIS_URL,
          keyPrefix,
          outagePolicy: options.outagePolicy ?? 'fail-open',
          clock: options.clock,
          usage: options.usage,
          webhooks: options.webhooks,
        });
        servers.push(server);
        started.push(server);
      }
      const first = started[0] as ServerHandle;
      return {
        servers: started,
        keyPrefix,
        redisRelay,
        pgRelay,
        async newKey(plan, name = `${plan} key`, organization = `org-${plan}-${randomString(10, LOWER_ALNUM)}`) {
          return { ...(await first.createApiKey({ name, plan, organization })), organization };
        },
      };
    },
  };
}
