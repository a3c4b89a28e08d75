import { createServer, type Server as NetServer, connect as netConnect, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { LOWER_ALNUM, randomString } from '../../src/lib/ids.ts';
import { DEFAULT_FAILED_AUTH_WINDOW, type PlanTable } from '../../src/rate-limit/plans.ts';
import { type ServerHandle, startServer } from '../../src/server/index.ts';
import { PG_URL, withAdmin } from '../support/postgres.ts';

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

function noop(): void {}

// ---------------------------------------------------------------------------------------------------------------
// TCP relay: an outage of a shared service without touching the service itself.
// ---------------------------------------------------------------------------------------------------------------

/**
 * 'up' forwards bytes; 'down' is a stopped service (listener closed, connections reset: connection refused);
 * 'blackhole' is a network partition (connections accepted or kept open, nothing ever answered).
 */
export type RelayMode = 'up' | 'down' | 'blackhole';

/** A TCP relay in front of a real service; the server under test connects to `port` instead of the service. */
export interface Relay {
  readonly port: number;
  readonly mode: RelayMode;
  /** Stops the "service": closes the listener and destroys every connection through the relay. */
  stop(): Promise<void>;
  /** Delays every chunk by `ms` in each direction from now on (0: none), a slow link. */
  setLatency(ms: number): void;
  /** Partitions the network: new connections hang unanswered and open ones stop carrying bytes. */
  blackhole(): Promise<void>;
  /** The "service" returns: frozen connections are dropped and the relay listens again on the same port. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a relay on a free loopback port forwarding to `target`. */
export async function startRelay(target: { host: string; port: number }): Promise<Relay> {
  const sockets = new Set<Socket>();
  let mode: RelayMode = 'up';
  let latencyMs = 0;

  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', noop);
  };
  const destroyAll = () => {
    for (const socket of sockets) {
      socket.destroy();
    }
    sockets.clear();
  };

  const server: NetServer = createServer((client) => {
    track(client);
    if (mode !== 'up') {
      // Blackhole: held open and never answered.
      return;
    }
    const upstream = netConnect(target.port, target.host);
    track(upstream);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    // Not pipe(): bytes must stop flowing the moment the relay is blackholed, and may be delayed.
    const forward = (from: Socket, to: Socket) => {
      // Delayed chunks wait in order in one queue, so a later chunk never overtakes an earlier one.
      const queue: { at: number; chunk: Buffer }[] = [];
      let timer: NodeJS.Timeout | undefined;
      const write = (chunk: Buffer) => {
        if (mode === 'up' && !to.destroyed) {
          to.write(chunk);
        }
      };
      const drain = () => {
        timer = undefined;
        let next = queue[0];
        while (next !== undefined && next.at <= Date.now()) {
          queue.shift();
          write(next.chunk);
          next = queue[0];
        }
        if (next !== undefined) {
          timer = setTimeout(drain, next.at - Date.now());
        }
      };
      from.on('data', (chunk: Buffer) => {
        if (latencyMs === 0 && queue.length === 0) {
          write(chunk);
          return;
        }
        queue.push({ at: Date.now() + latencyMs, chunk });
        timer ??= setTimeout(drain, latencyMs);
      });
      from.on('close', () => clearTimeout(timer));
    };
    forward(client, upstream);
    forward(upstream, client);
  });

  const listen = (port: number) =>
    new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolveListen();
      });
    });
  const closeListener = () =>
    new Promise<void>((done) => {
      if (!server.listening) {
        done();
        return;
      }
      server.close(() => done());
      destroyAll();
    });

  await listen(0);
  const port = (server.address() as { port: number }).port;

  return {
    port,
    get mode() {
      return mode;
    },
    async stop() {
      mode = 'down';
      await closeListener();
    },
    setLatency(ms) {
      latencyMs = ms;
    },
    async blackhole() {
      mode = 'blackhole';
      if (!server.listening) {
        await listen(port);
      }
    },
    async resume() {
      // Connections frozen by a blackhole carry a half-sent protocol exchange: drop them, as a real partition
      // healing after the peers' timeouts would.
      destroyAll();
      mode = 'up';
      if (!server.listening) {
        await listen(port);
      }
    },
    async close() {
      mode = 'down';
      await closeListener();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------------------------

export interface ApiResponse {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field in the tests.
  body: any;
  /** Wall time of the request, for the report only: tests never assert on it. */
  ms: number;
}

/** One request to an instance; the key goes in `Authorization: Bearer`. */
export async function api(
  server: { url: string },
  path: string,
  options: { key?: string; method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined) {
    headers.authorization = `Bearer ${options.key}`;
  }
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
  }
  const started = performance.now();
  const res = await fetch(`${server.url}${path}`, {
    method: options.method ?? 'GET',
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  const ms = Math.round(performance.now() - started);
  let body: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('json') && text !== '') {
    body = JSON.parse(text);
  }
  return { status: res.status, headers: res.headers, body, ms };
}

const sleep = (ms: number) => new Promise((resolveSleep) => setTimeout(resolveSleep, ms));

/**
 * Calls `probe` until it returns true, at most `timeoutMs`; returns how long it took (for the report). Throws with
 * `what` when the bound passes: a recovery that never comes fails the test instead of hanging it.
 */
export async function pollUntil(what: string, probe: () => Promise<boolean>, timeoutMs = 15_000): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await probe().catch(() => false)) {
      return Date.now() - started;
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    }
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Instances on a shared PostgreSQL schema and Redis key prefix
// ---------------------------------------------------------------------------------------------------------------

export interface ClusterOptions {
  instances?: number;
  outagePolicy?: OutagePolicy;
  /** Put a relay between every instance and Redis (one relay shared by all instances). */
  relayRedis?: boolean;
  /** Put a relay between these instances (by index) and PostgreSQL; true for all of them. */
  relayPostgres?: boolean | number[];
  /** The instances' clock (default: real time), e.g. to move every instance past a key's expiry at once. */
  clock?: () => Date;
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
        const server = await startServer({
          port: 0,
          store: { kind: 'postgres', url: viaPgRelay ? urlVia(PG_URL, pgRelay.port) : PG_URL, schema },
          rateLimitStore: {
            kind: 'redis',
            url: redisRelay ? urlVia(REDIS_URL, redisRelay.port) : REDIS_URL,
            keyPrefix,
            outagePolicy: options.outagePolicy ?? 'fail-open',
          },
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
          ...(options.clock ? { clock: options.clock } : {}),
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

/** The rate-limit headers the spec requires on every /v1 answer, 503 included. */
export const RATE_LIMIT_HEADERS = [
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'ratelimit-policy',
  'ratelimit',
] as const;

/** The rate-limit headers of `res` that are missing. */
export function missingRateLimitHeaders(res: ApiResponse): string[] {
  return RATE_LIMIT_HEADERS.filter((name) => !res.headers.has(name));
}

/** Writes a measurement to stderr when MAILROOM_SCALE_VERBOSE is set (figures for reports; never asserted). */
export function note(message: string): void {
  if (process.env.MAILROOM_SCALE_VERBOSE) {
    process.stderr.write(`[scale] ${message}\n`);
  }
}
