import { createRequire } from 'node:module';
import type pg from 'pg';
import type { ClientConfig, PoolClient, PoolConfig, QueryConfig, QueryResult } from 'pg';
import { migrate } from './migrate.ts';
import { createSqlStore } from './sql-store.ts';
import { type Db, type DbResult, type Queryable, type Store, StoreUnavailableError } from './types.ts';

// pg is loaded on the first PostgreSQL store, not with this module: an embedded store's start-up never pays for it.
const require = createRequire(import.meta.url);
let driver: typeof pg | undefined;
function pgDriver(): typeof pg {
  driver ??= require('pg') as typeof pg;
  return driver;
}

/** A PostgreSQL error (only pg makes them, so none exists before it is loaded). */
function isDatabaseError(err: unknown): err is pg.DatabaseError {
  return driver !== undefined && err instanceof driver.DatabaseError;
}

/** Options of the PostgreSQL store. */
export interface PostgresStoreOptions {
  /** Connection string, e.g. `postgres://user@host:5432/db`. */
  url: string;
  /** Schema for all tables (created if missing, set as `search_path` on every connection); the server default otherwise. */
  schema?: string;
  /** Maximum pooled connections (default 10). */
  poolSize?: number;
  /** Per-statement limit, enforced by the server and by the driver (default 2000 ms). */
  queryTimeoutMs?: number;
  /** Limit for opening a connection or waiting for a free one (default 2000 ms). */
  connectTimeoutMs?: number;
  /** `application_name` of the connections (default 'mailroom'); the LISTEN connection adds ':listen'. */
  applicationName?: string;
  /** How often the LISTEN connection proves it is alive (default 10000 ms): a silent network drop emits no error. */
  listenHeartbeatMs?: number;
  /** Receives errors that happen in the background (idle pooled connections, the LISTEN connection). */
  onError?: (err: Error) => void;
}

const DEFAULT_TIMEOUT_MS = 2000;
// The driver's own timer is a backstop for a dead network; the server-side statement_timeout fires first when the
// server is reachable, which cancels the statement and keeps the connection usable.
const DRIVER_GRACE_MS = 500;
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5000;
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

function checkIdentifier(kind: string, name: string): string {
  if (!IDENTIFIER.test(name)) {
    throw new TypeError(`invalid ${kind} "${name}": use lowercase letters, digits and underscores (max 63)`);
  }
  return name;
}

function sqlState(err: unknown): string {
  return isDatabaseError(err) ? (err.code ?? '') : '';
}

/** True when the error means "the database cannot serve us now" rather than "this statement is wrong". */
function isUnavailable(err: unknown): boolean {
  if (err instanceof StoreUnavailableError) {
    return true;
  }
  if (isDatabaseError(err)) {
    // 08: connection exception; 53: insufficient resources (too many connections, disk full);
    // 57P0x: server shutting down or starting; 57014: statement_timeout cancelled the statement.
    const code = sqlState(err);
    return code.startsWith('08') || code.startsWith('53') || code.startsWith('57P') || code === '57014';
  }
  // Everything else the driver throws is about the connection: refused, reset, "Connection terminated",
  // "timeout exceeded when trying to connect", "Query read timeout", a pool that was ended. Type and range
  // errors are programming mistakes and must stay visible as such.
  return err instanceof Error && !(err instanceof TypeError) && !(err instanceof RangeError);
}

/** True when the connection that produced the error must not go back into the pool. */
function isBrokenConnection(err: unknown): boolean {
  if (isDatabaseError(err)) {
    const code = sqlState(err);
    return code.startsWith('08') || code.startsWith('57P');
  }
  return true;
}

function toStoreError(err: unknown): unknown {
  if (err instanceof StoreUnavailableError || !isUnavailable(err)) {
    return err;
  }
  const message = err instanceof Error ? err.message : String(err);
  return new StoreUnavailableError(`database unavailable: ${message}`, { cause: err });
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function noop(): void {}

function connectionConfig(options: PostgresStoreOptions): ClientConfig {
  const queryTimeoutMs = options.queryTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  return {
    connectionString: options.url,
    connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_TIMEOUT_MS,
    statement_timeout: queryTimeoutMs,
    query_timeout: queryTimeoutMs + DRIVER_GRACE_MS,
    // TCP keepalives let the OS notice a peer that vanished without closing the connection.
    keepAlive: true,
    application_name: options.applicationName ?? 'mailroom',
    // Startup parameter, so every connection (pooled, reconnected, LISTEN) lands in the schema without a round trip.
    ...(options.schema === undefined ? {} : { options: `-c search_path=${checkIdentifier('schema', options.schema)}` }),
  };
}

interface Subscriber {
  onNotify: (payload: string) => void;
  onReconnect: () => void;
}

/**
 * One dedicated connection holding LISTEN for every subscribed channel (a pooled connection would lose its LISTENs
 * when recycled). After a lost connection it reconnects with backoff and tells subscribers that they may have missed
 * notifications.
 */
class ChannelListener {
  readonly #config: ClientConfig;
  readonly #heartbeatMs: number;
  readonly #onError: (err: Error) => void;
  readonly #subscribers = new Map<string, Set<Subscriber>>();
  #client: pg.Client | null = null;
  #connecting: Promise<void> | null = null;
  #retryTimer: NodeJS.Timeout | null = null;
  #heartbeatTimer: NodeJS.Timeout | null = null;
  #backoffMs = RECONNECT_MIN_MS;
  // Set when subscribers existed while no LISTEN was active, so notifications may have been lost.
  #missed = false;
  #closed = false;

  constructor(config: ClientConfig, heartbeatMs: number, onError: (err: Error) => void) {
    this.#config = config;
    this.#heartbeatMs = heartbeatMs;
    this.#onError = onError;
  }

  /** Adds a subscriber; resolves once the first connection attempt settled (it keeps retrying in the background). */
  async subscribe(channel: string, subscriber: Subscriber): Promise<() => Promise<void>> {
    if (this.#closed) {
      throw new StoreUnavailableError('the store is closed');
    }
    checkIdentifier('channel', channel);
    let set = this.#subscribers.get(channel);
    const newChannel = set === undefined;
    if (set === undefined) {
      set = new Set();
      this.#subscribers.set(channel, set);
    }
    set.add(subscriber);
    const client = this.#client;
    if (client !== null && newChannel) {
      try {
        await client.query(`LISTEN "${channel}"`);
      } catch (err) {
        this.#drop(client, err);
      }
    } else if (client === null && this.#retryTimer === null) {
      await this.#connect();
    }
    return async () => {
      this.#unsubscribe(channel, subscriber);
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#subscribers.clear();
    await this.#disconnect();
  }

  #unsubscribe(channel: string, subscriber: Subscriber): void {
    const set = this.#subscribers.get(channel);
    if (set === undefined || !set.delete(subscriber) || set.size > 0) {
      return;
    }
    this.#subscribers.delete(channel);
    if (this.#subscribers.size === 0) {
      void this.#disconnect();
    } else {
      this.#client?.query(`UNLISTEN "${channel}"`).catch(noop);
    }
  }

  async #disconnect(): Promise<void> {
    this.#clearTimers();
    this.#missed = false;
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(noop);
  }

  #clearTimers(): void {
    if (this.#retryTimer !== null) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = null;
    }
    if (this.#heartbeatTimer !== null) {
      clearInterval(this.#heartbeatTimer);
      this.#heartbeatTimer = null;
    }
  }

  #connect(): Promise<void> {
    this.#connecting ??= this.#attempt().finally(() => {
      this.#connecting = null;
    });
    return this.#connecting;
  }

  async #attempt(): Promise<void> {
    const client = new (pgDriver().Client)(this.#config);
    client.on('error', (err) => this.#drop(client, err));
    client.on('end', () => this.#drop(client));
    client.on('notification', (message) => this.#dispatch(message.channel, message.payload ?? ''));
    try {
      await client.connect();
      for (const channel of this.#subscribers.keys()) {
        await client.query(`LISTEN "${channel}"`);
      }
    } catch (err) {
      client.end().catch(noop);
      this.#missed = true;
      this.#onError(asError(err));
      this.#scheduleRetry();
      return;
    }
    if (this.#closed || this.#subscribers.size === 0) {
      await client.end().catch(noop);
      return;
    }
    this.#client = client;
    this.#backoffMs = RECONNECT_MIN_MS;
    this.#heartbeatTimer = setInterval(() => this.#heartbeat(client), this.#heartbeatMs);
    this.#heartbeatTimer.unref();
    if (this.#missed) {
      this.#missed = false;
      for (const set of this.#subscribers.values()) {
        for (const subscriber of set) {
          this.#call(() => subscriber.onReconnect());
        }
      }
    }
  }

  #heartbeat(client: pg.Client): void {
    client.query('SELECT 1').catch((err: unknown) => this.#drop(client, err));
  }

  // Called for errors and 'end' of any client we created; only the current one matters.
  #drop(client: pg.Client, err?: unknown): void {
    if (client !== this.#client) {
      return;
    }
    this.#client = null;
    this.#clearTimers();
    client.end().catch(noop);
    this.#missed = true;
    this.#onError(asError(err ?? new Error('LISTEN connection ended')));
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    if (this.#closed || this.#subscribers.size === 0 || this.#retryTimer !== null) {
      return;
    }
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      void this.#connect();
    }, this.#backoffMs);
    this.#retryTimer.unref();
    this.#backoffMs = Math.min(this.#backoffMs * 2, RECONNECT_MAX_MS);
  }

  #dispatch(channel: string, payload: string): void {
    for (const subscriber of this.#subscribers.get(channel) ?? []) {
      this.#call(() => subscriber.onNotify(payload));
    }
  }

  // A throwing subscriber must neither starve the others nor escape as an uncaught exception from an event handler.
  #call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#onError(asError(err));
    }
  }
}

/** Connects lazily to PostgreSQL (creating `schema` when given, not migrating) behind the `Db` interface. */
export async function openPostgresDb(options: PostgresStoreOptions): Promise<Db> {
  const config = connectionConfig(options);
  const onError = options.onError ?? noop;
  const poolConfig: PoolConfig = {
    ...config,
    max: options.poolSize ?? 10,
    idleTimeoutMillis: 30_000,
    // A CLI run that forgets close() should still exit.
    allowExitOnIdle: true,
  };
  const pool = new (pgDriver().Pool)(poolConfig);
  // An idle connection dying (server restart, network drop) is reported here; without a listener Node would crash.
  // The pool has already discarded that connection and opens a new one on demand.
  pool.on('error', (err) => onError(err));
  const listener = new ChannelListener(
    { ...config, application_name: `${config.application_name}:listen` },
    options.listenHeartbeatMs ?? 10_000,
    onError,
  );
  let closing: Promise<void> | undefined;

  async function withClient<T>(fn: (client: PoolClient, markBroken: (err: unknown) => void) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw toStoreError(err);
    }
    let broken: Error | undefined;
    const markBroken = (err: unknown): void => {
      broken ??= asError(err);
    };
    // A checked-out client has no error listener of the pool's; an 'error' event without one would crash the process.
    client.on('error', markBroken);
    try {
      return await fn(client, markBroken);
    } catch (err) {
      if (isBrokenConnection(err)) {
        markBroken(err);
      }
      throw toStoreError(err);
    } finally {
      // A broken client keeps our listener: the pool ends it, and late errors must still land somewhere.
      if (broken === undefined) {
        client.off('error', markBroken);
      }
      client.release(broken);
    }
  }

  function toResult<T>(result: QueryResult): DbResult<T> {
    return { rows: result.rows as T[], affectedRows: result.rowCount ?? undefined };
  }

  const db: Db = {
    kind: 'postgres',
    query<T>(sql: string, params?: unknown[]): Promise<DbResult<T>> {
      return withClient(async (client) => toResult<T>(await client.query(sql, params)));
    },
    async exec(sql: string): Promise<void> {
      await withClient((client) => client.query(sql));
    },
    transaction<T>(fn: (tx: Queryable) => Promise<T>, opts?: { timeoutMs?: number }): Promise<T> {
      const timeoutMs = opts?.timeoutMs;
      return withClient(async (client, markBroken) => {
        const run = (text: string, values?: unknown[]): Promise<QueryResult> => {
          // query_timeout per statement is supported by pg but missing from its typings.
          const config: QueryConfig & { query_timeout?: number } = { text, values };
          if (timeoutMs !== undefined) {
            config.query_timeout = timeoutMs + DRIVER_GRACE_MS;
          }
          return client.query(config);
        };
        await run('BEGIN');
        try {
          if (timeoutMs !== undefined) {
            await run("SELECT set_config('statement_timeout', $1, true)", [String(timeoutMs)]);
          }
          const result = await fn({
            query: async <R>(sql: string, params?: unknown[]) => toResult<R>(await run(sql, params)),
            exec: async (sql: string) => {
              await run(sql);
            },
          });
          await run('COMMIT');
          return result;
        } catch (err) {
          // A connection that cannot even roll back is in an unknown state: never reuse it.
          await run('ROLLBACK').catch(markBroken);
          throw err;
        }
      });
    },
    listen(channel, onNotify, onReconnect) {
      return listener.subscribe(channel, { onNotify, onReconnect });
    },
    close(): Promise<void> {
      closing ??= (async () => {
        await listener.close();
        await pool.end();
      })();
      return closing;
    },
  };

  if (options.schema !== undefined) {
    try {
      await ensureSchema(db, options.schema);
    } catch (err) {
      await db.close();
      throw err;
    }
  }
  return db;
}

async function ensureSchema(db: Db, schema: string): Promise<void> {
  try {
    await db.query(`CREATE SCHEMA IF NOT EXISTS "${checkIdentifier('schema', schema)}"`);
  } catch (err) {
    // Two processes creating the schema at once: IF NOT EXISTS is not atomic, the loser sees a unique violation
    // on the catalog (23505) or duplicate_schema (42P06). Either way the schema now exists.
    const code = sqlState(err);
    if (code !== '23505' && code !== '42P06') {
      throw err;
    }
  }
}

/** Connects to PostgreSQL, creates the schema when given, migrates, and returns the store. */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<Store> {
  const db = await openPostgresDb(options);
  try {
    await migrate(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  return createSqlStore(db);
}
