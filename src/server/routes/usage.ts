import type { Request } from 'express';
import type { UsageCountsRecord, UsageGranularity, UsageGroupBy } from '../../store/types.ts';
import { type AppContext, type OperationHandler, organizationOf, type Schemas, send } from '../context.ts';
import { decodeLogCursor, encodeLogCursor } from '../cursor.ts';
import { apiKeyNotFound, hourlyPeriodTooLong, periodOverRetention, periodReversed } from '../errors.ts';
import { toRequestLogEntry } from '../serialize.ts';
import { parseLimit } from './contacts.ts';

// Reading the request log (usage-recorder.ts writes it): a key's buckets, the organization's totals, and the log
// itself, newest first. Each handler serves its `/v1` operation (the API key's organization, `usage:read`) and its
// `/organizations/{organizationId}` twin (the user's organization in the path): see `organizationOf`. The spec checks
// each parameter's shape (an unknown granularity or groupBy, a limit out of bounds, a malformed instant are its 422s);
// what it can't say (from after to, a period longer than the retention) is checked here, as 422s on `query.from`.

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** Hourly buckets span at most 31 days (the spec's 744 buckets). */
const MAX_HOURLY_SPAN_MS = 31 * DAY_MS;
/** The most groups a usage total lists (the spec's bound). */
const MAX_GROUPS = 1000;

const STEP_MS: Record<UsageGranularity, number> = { hour: HOUR_MS, day: DAY_MS };

/** The period [from, to) a read covers: `to` defaults to now, `from` to `defaultSpanMs` before `to`. */
function periodOf(req: Request, ctx: AppContext, defaultSpanMs: number, maxSpanMs?: number): { from: Date; to: Date } {
  const retentionMs = ctx.usage.options.retentionDays * DAY_MS;
  const to = typeof req.query.to === 'string' ? new Date(req.query.to) : ctx.clock();
  const from =
    typeof req.query.from === 'string'
      ? new Date(req.query.from)
      : new Date(to.getTime() - Math.min(defaultSpanMs, retentionMs));
  if (from.getTime() > to.getTime()) {
    throw periodReversed();
  }
  const span = to.getTime() - from.getTime();
  if (span > retentionMs) {
    throw periodOverRetention(ctx.usage.options.retentionDays);
  }
  if (maxSpanMs !== undefined && span > maxSpanMs) {
    throw hourlyPeriodTooLong();
  }
  return { from, to };
}

const ZERO: UsageCountsRecord = { total: 0, status2xx: 0, status4xx: 0, status5xx: 0, status429: 0 };

function sumOf(counts: readonly UsageCountsRecord[]): UsageCountsRecord {
  return counts.reduce(
    (sum, c) => ({
      total: sum.total + c.total,
      status2xx: sum.status2xx + c.status2xx,
      status4xx: sum.status4xx + c.status4xx,
      status5xx: sum.status5xx + c.status5xx,
      status429: sum.status429 + c.status429,
    }),
    ZERO,
  );
}

/** Every bucket start (UTC) of [from, to), the first one holding `from`. */
function bucketStarts(from: Date, to: Date, granularity: UsageGranularity): Date[] {
  const step = STEP_MS[granularity];
  const starts: Date[] = [];
  for (let t = Math.floor(from.getTime() / step) * step; t < to.getTime(); t += step) {
    starts.push(new Date(t));
  }
  return starts;
}

/** Handlers of the usage operations, by operationId. */
export const usageHandlers: Record<string, OperationHandler> = {
  async getApiKeyUsage(req, res, ctx) {
    const keyId = String(req.params.keyId);
    const granularity = (req.query.granularity ?? 'hour') as UsageGranularity;
    const hourly = granularity === 'hour';
    const { from, to } = periodOf(req, ctx, hourly ? DAY_MS : 30 * DAY_MS, hourly ? MAX_HOURLY_SPAN_MS : undefined);
    const { organizationId } = organizationOf(req);
    if (!(await ctx.store.hadApiKey(organizationId, keyId))) {
      throw apiKeyNotFound(keyId);
    }
    const found = await ctx.store.usageBuckets(organizationId, keyId, { from, to, granularity });
    const byStart = new Map(found.map((bucket) => [bucket.start.getTime(), bucket.counts]));
    const buckets: Schemas['UsageBucket'][] = bucketStarts(from, to, granularity).map((start) => ({
      start: start.toISOString(),
      counts: byStart.get(start.getTime()) ?? ZERO,
    }));
    send(res, 'getApiKeyUsage', 200, {
      success: true,
      data: {
        keyId,
        granularity,
        from: from.toISOString(),
        to: to.toISOString(),
        totals: sumOf(found.map((bucket) => bucket.counts)),
        buckets,
      },
    });
  },

  async getUsage(req, res, ctx) {
    const groupBy = (req.query.groupBy ?? 'key') as UsageGroupBy;
    const { from, to } = periodOf(req, ctx, DAY_MS);
    const { organizationId } = organizationOf(req);
    const groups = await ctx.store.usageTotals(organizationId, { from, to, groupBy, limit: MAX_GROUPS });
    send(res, 'getUsage', 200, {
      success: true,
      data: {
        groupBy,
        from: from.toISOString(),
        to: to.toISOString(),
        totals: sumOf(groups.map((group) => group.counts)),
        groups,
      },
    });
  },

  async listRequestLogs(req, res, ctx) {
    const limit = parseLimit(req.query.limit);
    const { organizationId } = organizationOf(req);
    const before =
      typeof req.query.cursor === 'string'
        ? decodeLogCursor(ctx.serverSecret, organizationId, req.query.cursor)
        : undefined;
    const { from, to } = periodOf(req, ctx, ctx.usage.options.retentionDays * DAY_MS);
    const page = await ctx.store.listRequestLogs(organizationId, {
      from,
      to,
      keyId: typeof req.query.keyId === 'string' ? req.query.keyId : undefined,
      status: req.query.status === undefined ? undefined : Number(req.query.status),
      operationId: typeof req.query.operationId === 'string' ? req.query.operationId : undefined,
      limit,
      before,
    });
    const last = page.items.at(-1);
    send(res, 'listRequestLogs', 200, {
      success: true,
      data: page.items.map(toRequestLogEntry),
      meta: {
        limit,
        hasMore: page.hasMore,
        nextCursor:
          page.hasMore && last
            ? encodeLogCursor(ctx.serverSecret, organizationId, { at: last.at, logId: last.logId })
            : null,
      },
    });
  },
};

/** The `/organizations/{organizationId}` twins: the same handlers, for the organization in the path. */
export const organizationUsageHandlers: Record<string, OperationHandler> = {
  getOrganizationApiKeyUsage: usageHandlers.getApiKeyUsage as OperationHandler,
  getOrganizationUsage: usageHandlers.getUsage as OperationHandler,
  listOrganizationRequestLogs: usageHandlers.listRequestLogs as OperationHandler,
};
