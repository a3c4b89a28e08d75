import type { Environment } from '../lib/permissions.ts';
import type { Db } from './db.ts';
import { toDate } from './rows.ts';

// The request log (007_usage.sql): written in batches by the server's usage recorder, read as usage counts and as a
// newest-first log with keyset pagination. Every read names one organization and a time range, which the indexes
// lead with, so a page reads at most its own rows (plus the rows a second filter skips: see README, "Usage").

/** One recorded request, as the recorder hands it to the store. Never a credential, a body or a query value. */
export interface RequestLogRecord {
  organizationId: string;
  at: Date;
  /** The key the request was made with (refused ones too), or null for a user token. */
  keyId: string | null;
  /** The user whose token made the request, or null for a key. */
  userId: string | null;
  environment: Environment | null;
  /** The spec's operation, or null for a path or method it does not have. */
  operationId: string | null;
  method: string;
  /** The operation's path template, never the path sent; null with operationId. */
  path: string | null;
  status: number;
  durationMs: number;
  address: string;
  userAgent: string | null;
  requestId: string;
  /** Names of the query parameters sent, sorted, each once. */
  queryNames: string[];
}

/** A stored request: its record and the id that orders rows of the same millisecond. */
export interface StoredRequestLog extends RequestLogRecord {
  /** A bigint, as a decimal string. */
  logId: string;
}

/** Where a newest-first page of the log resumes: strictly older than this row. */
export interface RequestLogCursor {
  at: Date;
  logId: string;
}

/** Counts by status class; 429s are counted in `status4xx` and again on their own. */
export interface UsageCountsRecord {
  total: number;
  status2xx: number;
  status4xx: number;
  status5xx: number;
  status429: number;
}

/** What the totals of an organization are grouped by. */
export type UsageGroupBy = 'key' | 'environment' | 'operation';

/** The width of a usage bucket. */
export type UsageGranularity = 'hour' | 'day';

/** The filters and page of a request-log read. */
export interface RequestLogQuery {
  from: Date;
  to: Date;
  keyId?: string;
  status?: number;
  operationId?: string;
  limit: number;
  before?: RequestLogCursor;
}

/** The request log and the usage counted from it. */
export interface UsageStore {
  /** Stores a batch of records in one statement. */
  insertRequestLogs(records: readonly RequestLogRecord[]): Promise<void>;
  /** A key's counts per hour or day (UTC) in [from, to); only buckets with requests, oldest first. */
  usageBuckets(
    organizationId: string,
    keyId: string,
    range: { from: Date; to: Date; granularity: UsageGranularity },
  ): Promise<{ start: Date; counts: UsageCountsRecord }[]>;
  /** The organization's counts in [from, to), by key, environment or operation; the largest groups first (≤ limit). */
  usageTotals(
    organizationId: string,
    range: { from: Date; to: Date; groupBy: UsageGroupBy; limit: number },
  ): Promise<{ group: string | null; counts: UsageCountsRecord }[]>;
  /** A page of the log, newest first (at, logId), and whether older rows match too. */
  listRequestLogs(
    organizationId: string,
    query: RequestLogQuery,
  ): Promise<{ items: StoredRequestLog[]; hasMore: boolean }>;
  /**
   * Deletes rows recorded before `olderThan`, and each organization's rows beyond its newest `maxRowsPerOrganization`,
   * a bounded chunk per statement; returns how many went.
   */
  pruneRequestLogs(olderThan: Date, maxRowsPerOrganization: number): Promise<number>;
  /** Whether the organization ever had the key (revoked keys keep their usage). */
  hadApiKey(organizationId: string, keyId: string): Promise<boolean>;
}

interface LogRow {
  log_text: string;
  organization_id: string;
  at: Date;
  key_id: string | null;
  user_id: string | null;
  environment: Environment | null;
  operation_id: string | null;
  method: string;
  path: string | null;
  status: number;
  duration_ms: number;
  address: string;
  user_agent: string | null;
  request_id: string;
  query_names: string[];
}

interface CountsRow {
  total: number;
  status2xx: number;
  status4xx: number;
  status5xx: number;
  status429: number;
}

// The id as text (a bigint may exceed a JS number) under another name: `ORDER BY log_id` must sort the bigint column,
// and an output column of the same name would win over it (sorting '10' before '9').
const LOG_COLUMNS =
  'log_id::text AS log_text, organization_id, at, key_id, user_id, environment, operation_id, method, path, status, duration_ms, address, user_agent, request_id, query_names';

// One pass over the rows counts every class (FILTER), so a bucket or a group is one aggregate row.
const COUNTS = `count(*)::integer AS total,
  (count(*) FILTER (WHERE status BETWEEN 200 AND 299))::integer AS status2xx,
  (count(*) FILTER (WHERE status BETWEEN 400 AND 499))::integer AS status4xx,
  (count(*) FILTER (WHERE status BETWEEN 500 AND 599))::integer AS status5xx,
  (count(*) FILTER (WHERE status = 429))::integer AS status429`;

/** The column each grouping reads; never interpolated from input (the spec's enum maps here). */
const GROUP_COLUMNS: Record<UsageGroupBy, string> = {
  key: 'key_id',
  environment: 'environment',
  operation: 'operation_id',
};

/** The columns a record fills, in the order the JSON insert and the COPY lines give them. */
const INSERTED_COLUMNS =
  'organization_id, at, key_id, user_id, environment, operation_id, method, path, status, duration_ms, address, user_agent, request_id, query_names';

/** COPY's text format escapes these (with a backslash); a NULL is `\N`. */
const COPY_SPECIAL = /[\\\t\n\r]/g;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** A value as a field of COPY's text format. */
function copyField(value: string | null): string {
  return value === null ? '\\N' : value.replace(COPY_SPECIAL, (c) => COPY_ESCAPES[c] ?? c);
}

/** A text array's literal (`{"a","b"}`): every element quoted, its quotes and backslashes escaped. */
function arrayLiteral(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
}

/** A record as one line of COPY's text format, in INSERTED_COLUMNS' order. */
function copyLineOf(r: RequestLogRecord): string {
  return `${[
    r.organizationId,
    r.at.toISOString(),
    r.keyId,
    r.userId,
    r.environment,
    r.operationId,
    r.method,
    r.path,
    String(r.status),
    String(r.durationMs),
    r.address,
    r.userAgent,
    r.requestId,
    arrayLiteral(r.queryNames),
  ]
    .map(copyField)
    .join('\t')}\n`;
}

/** Rows a prune statement deletes at most, so a large prune never holds one long transaction. */
const PRUNE_CHUNK = 10_000;

function countsOf(row: CountsRow): UsageCountsRecord {
  return {
    total: row.total,
    status2xx: row.status2xx,
    status4xx: row.status4xx,
    status5xx: row.status5xx,
    status429: row.status429,
  };
}

function toLog(row: LogRow): StoredRequestLog {
  return {
    logId: row.log_text,
    organizationId: row.organization_id,
    at: toDate(row.at),
    keyId: row.key_id,
    userId: row.user_id,
    environment: row.environment,
    operationId: row.operation_id,
    method: row.method,
    path: row.path,
    status: row.status,
    durationMs: row.duration_ms,
    address: row.address,
    userAgent: row.user_agent,
    requestId: row.request_id,
    queryNames: row.query_names,
  };
}

/** The usage statements, run on `db`. */
export function usageStatements(db: Db): UsageStore {
  return {
    async insertRequestLogs(records) {
      if (records.length === 0) {
        return;
      }
      if (db.copyFrom) {
        // PGlite: COPY's text format, which the embedded database (WebAssembly, on the server's own thread) parses
        // for about a quarter less CPU a row than the JSON array below (README, *Performance*).
        await db.copyFrom(`request_logs (${INSERTED_COLUMNS})`, records.map(copyLineOf).join(''));
        return;
      }
      // One parameter for the whole batch: a JSON array binds the same way whatever its size.
      await db.query(
        `INSERT INTO request_logs (${INSERTED_COLUMNS})
         SELECT ${INSERTED_COLUMNS}
         FROM jsonb_to_recordset($1::jsonb) AS x (organization_id text, at timestamptz, key_id text, user_id text,
           environment text, operation_id text, method text, path text, status smallint, duration_ms real,
           address text, user_agent text, request_id text, query_names text[])`,
        [
          JSON.stringify(
            records.map((r) => ({
              organization_id: r.organizationId,
              at: r.at.toISOString(),
              key_id: r.keyId,
              user_id: r.userId,
              environment: r.environment,
              operation_id: r.operationId,
              method: r.method,
              path: r.path,
              status: r.status,
              duration_ms: r.durationMs,
              address: r.address,
              user_agent: r.userAgent,
              request_id: r.requestId,
              query_names: r.queryNames,
            })),
          ),
        ],
      );
    },

    async usageBuckets(organizationId, keyId, { from, to, granularity }) {
      const { rows } = await db.query<CountsRow & { start: Date }>(
        `SELECT date_trunc($4, at, 'UTC') AS start, ${COUNTS}
         FROM request_logs
         WHERE organization_id = $1 AND key_id = $2 AND at >= $3 AND at < $5
         GROUP BY 1 ORDER BY 1`,
        [organizationId, keyId, from.toISOString(), granularity, to.toISOString()],
      );
      return rows.map((row) => ({ start: toDate(row.start), counts: countsOf(row) }));
    },

    async usageTotals(organizationId, { from, to, groupBy, limit }) {
      const column = GROUP_COLUMNS[groupBy];
      const { rows } = await db.query<CountsRow & { grp: string | null }>(
        `SELECT ${column} AS grp, ${COUNTS}
         FROM request_logs
         WHERE organization_id = $1 AND at >= $2 AND at < $3
         GROUP BY 1 ORDER BY total DESC, grp NULLS LAST LIMIT $4`,
        [organizationId, from.toISOString(), to.toISOString(), limit],
      );
      return rows.map((row) => ({ group: row.grp, counts: countsOf(row) }));
    },

    async listRequestLogs(organizationId, query) {
      const params: unknown[] = [organizationId, query.from.toISOString(), query.to.toISOString()];
      const where = ['organization_id = $1', 'at >= $2', 'at < $3'];
      const add = (sql: (n: string) => string, value: unknown) => {
        params.push(value);
        where.push(sql(`$${params.length}`));
      };
      if (query.keyId !== undefined) {
        add((n) => `key_id = ${n}`, query.keyId);
      }
      if (query.status !== undefined) {
        add((n) => `status = ${n}`, query.status);
      }
      if (query.operationId !== undefined) {
        add((n) => `operation_id = ${n}`, query.operationId);
      }
      if (query.before) {
        params.push(query.before.at.toISOString(), query.before.logId);
        // A row comparison the indexes' trailing (at, log_id) answer directly: the page starts where the last ended.
        where.push(`(at, log_id) < ($${params.length - 1}::timestamptz, $${params.length}::bigint)`);
      }
      params.push(query.limit + 1);
      const { rows } = await db.query<LogRow>(
        `SELECT ${LOG_COLUMNS} FROM request_logs WHERE ${where.join(' AND ')}
         ORDER BY at DESC, log_id DESC LIMIT $${params.length}`,
        params,
      );
      const hasMore = rows.length > query.limit;
      return { items: rows.slice(0, query.limit).map(toLog), hasMore };
    },

    async pruneRequestLogs(olderThan, maxRowsPerOrganization) {
      let pruned = 0;
      // Organization by organization, so each delete is a range of request_logs_org_at_idx (no index on time alone,
      // which the planner could prefer for a log page and then scan every organization's rows).
      const { rows: organizations } = await db.query<{ organization_id: string }>(
        'SELECT organization_id FROM organizations',
      );
      for (const { organization_id: organizationId } of organizations) {
        for (;;) {
          const { affectedRows = 0 } = await db.query(
            `DELETE FROM request_logs WHERE log_id IN (
               SELECT log_id FROM request_logs WHERE organization_id = $1 AND at < $2 LIMIT ${PRUNE_CHUNK})`,
            [organizationId, olderThan.toISOString()],
          );
          pruned += affectedRows;
          if (affectedRows < PRUNE_CHUNK) {
            break;
          }
        }
      }
      const { rows: over } = await db.query<{ organization_id: string }>(
        'SELECT organization_id FROM request_logs GROUP BY organization_id HAVING count(*) > $1',
        [maxRowsPerOrganization],
      );
      for (const { organization_id: organizationId } of over) {
        // The newest row beyond the bound, and everything older than it.
        const { affectedRows = 0 } = await db.query(
          `DELETE FROM request_logs WHERE organization_id = $1 AND (at, log_id) <= (
             SELECT at, log_id FROM request_logs WHERE organization_id = $1
             ORDER BY at DESC, log_id DESC OFFSET $2 LIMIT 1)`,
          [organizationId, maxRowsPerOrganization],
        );
        pruned += affectedRows;
      }
      return pruned;
    },

    async hadApiKey(organizationId, keyId) {
      const { rows } = await db.query('SELECT 1 FROM api_keys WHERE organization_id = $1 AND key_id = $2', [
        organizationId,
        keyId,
      ]);
      return rows.length > 0;
    },
  };
}
