import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { completeApiKey } from '../../src/keys/api-key.ts';
import { encodeCursor } from '../../src/server/cursor.ts';
import { createLogger } from '../../src/server/logger.ts';
import { createUsageRecorder, queryNamesOf } from '../../src/server/usage-recorder.ts';
import { type RequestLogRecord, StoreUnavailableError } from '../../src/store/types.ts';
import { fromNewAddress, signUp } from './helpers/accounts.ts';
import { expectError } from './helpers/call.ts';
import { SERVER_SECRET, startTestServer, type TestKey, type TestServer } from './helpers/server.ts';
import type { Body } from './helpers/spec.ts';

// Usage you can see: every request made with a key (refused ones too) or with a member's user token in an
// organization lands in the request log, in batches; usage is counted from it, and the log pages newest first.

let server: TestServer;
let admin: TestKey;

beforeAll(async () => {
  // Only `flushed()` writes the buffer: what a read sees never depends on when the timer fires.
  server = await startTestServer({ trustProxy: true, usage: { flushMs: 3_600_000 } });
  admin = await server.newKey();
});
afterAll(async () => {
  await server?.close();
});

/** Writes what the recorder holds, as its timer would within a second. */
async function flushed(): Promise<void> {
  await server.handle.context.usage.flush();
}

type Log = Body<'listRequestLogs', 200>;
type KeyUsage = Body<'getApiKeyUsage', 200>;
type OrgUsage = Body<'getUsage', 200>;

/** Every entry of the admin organization's log matching `query`, following cursors. */
async function wholeLog(query: string, key = admin.plaintext): Promise<Log['data']> {
  const entries: Log['data'] = [];
  let cursor: string | null = null;
  do {
    const page: { status: number; text: string; body: Log } = await server.call<Log>(
      'GET',
      `/v1/request-logs?limit=100&${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      { key },
    );
    expect(page.status, page.text).toBe(200);
    entries.push(...page.body.data);
    cursor = page.body.meta.nextCursor;
  } while (cursor);
  return entries;
}

describe('recording', () => {
  test('N requests with a key show N in its usage and N entries in the log, each with its request id', async () => {
    const key = await server.newKey({ organization: admin.organization, environment: 'staging' });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const requestId = `usage-test-${randomUUID()}`;
      ids.push(requestId);
      const reply = await server.call('GET', '/v1/contacts?limit=5', {
        key: key.plaintext,
        headers: { 'x-request-id': requestId, 'user-agent': 'usage-test/1.0' },
      });
      expect(reply.status).toBe(200);
    }
    await flushed();
    const usage = await server.call<KeyUsage>('GET', `/v1/api-keys/${key.keyId}/usage`, { key: admin.plaintext });
    expect(usage.status, usage.text).toBe(200);
    expect(usage.body.data.totals).toEqual({ total: 7, status2xx: 7, status4xx: 0, status5xx: 0, status429: 0 });
    expect(usage.body.data.buckets.reduce((n, b) => n + b.counts.total, 0)).toBe(7);

    const entries = await wholeLog(`keyId=${key.keyId}`);
    expect(entries).toHaveLength(7);
    expect(entries.map((e) => e.requestId)).toEqual([...ids].reverse());
    expect(entries[0]).toMatchObject({
      keyId: key.keyId,
      userId: null,
      environment: 'staging',
      operationId: 'listContacts',
      method: 'GET',
      path: '/v1/contacts',
      status: 200,
      userAgent: 'usage-test/1.0',
      queryParameters: ['limit'],
    });
  });

  test('refused requests are recorded: 401 of a revoked key, 403, 404, 422 and 429, the 429s apart', async () => {
    // Its own budget of 3 a minute: the 4th request is the 429.
    const tiny = await server.newKey({ rateLimit: 3, permissions: ['contacts:read'] });
    const sibling = await server.newKey({ organization: tiny.organization });
    const calls = [
      server.call('GET', '/v1/contacts/ct_0000000000000000', { key: tiny.plaintext }), // 404
      server.call('GET', '/v1/contacts?limit=0', { key: tiny.plaintext }), // 422
      server.call('POST', '/v1/contacts', { key: tiny.plaintext, body: { email: 'a@example.com' } }), // 403
    ];
    const statuses = [];
    for (const reply of calls) {
      statuses.push((await reply).status);
    }
    statuses.push((await server.call('GET', '/v1/contacts', { key: tiny.plaintext })).status); // 429 (tiny: 3 a minute)
    expect(statuses).toEqual([404, 422, 403, 429]);
    const revoke = await server.call('DELETE', `/v1/api-keys/${tiny.keyId}`, { key: sibling.plaintext });
    expect(revoke.status, revoke.text).toBe(200);
    const revoked = await server.call('GET', '/v1/contacts', { key: tiny.plaintext, headers: fromNewAddress() });
    expect(revoked.status).toBe(401);
    await flushed();

    const usage = await server.call<KeyUsage>('GET', `/v1/api-keys/${tiny.keyId}/usage?granularity=day`, {
      key: sibling.plaintext,
    });
    expect(usage.status, usage.text).toBe(200);
    expect(usage.body.data.totals).toEqual({ total: 5, status2xx: 0, status4xx: 5, status5xx: 0, status429: 1 });
  });

  test('a path the spec lacks is recorded without an operation; a key id never issued records nothing', async () => {
    const key = await server.newKey({ organization: admin.organization });
    expect((await server.call('PUT', '/v1/contacts', { key: key.plaintext })).status).toBe(405);
    expect((await server.call('GET', '/v1/nothing-here', { key: key.plaintext })).status).toBe(404);
    // A well-formed key (its checksum right) whose public id no key has: looked up, not found, never recorded.
    const stranger = String(completeApiKey(`mr_zzzzzzzz_${'Z'.repeat(32)}`));
    const before = server.handle.context.usage.buffered();
    const refused = await server.call('GET', '/v1/contacts', { key: stranger, headers: fromNewAddress() });
    expect(expectError(refused, 401, 'UNAUTHORIZED').message).toMatch(/unknown|not recognised|no such/i);
    expect(server.handle.context.usage.buffered()).toBe(before);
    await flushed();
    const entries = await wholeLog(`keyId=${key.keyId}`);
    expect(entries.map((e) => [e.method, e.status, e.operationId, e.path])).toEqual([
      ['GET', 404, null, null],
      ['PUT', 405, null, null],
    ]);
  });

  test('no secret, header value or query value is stored: only the names of the query parameters', async () => {
    const key = await server.newKey({ organization: admin.organization });
    const secretValue = `s3cret-${randomUUID()}`;
    await server.call('GET', `/v1/contacts?limit=2&cursor=${secretValue}&zeta=${secretValue}`, {
      key: key.plaintext,
      headers: { 'x-custom': secretValue },
    });
    await flushed();
    const [entry] = await wholeLog(`keyId=${key.keyId}`);
    expect(entry?.queryParameters).toEqual(['cursor', 'limit', 'zeta']);
    const { rows } = await rawRows(key.keyId);
    const stored = JSON.stringify(rows);
    expect(stored).not.toContain(secretValue);
    expect(stored).not.toContain(key.plaintext);
    expect(stored).not.toContain(key.plaintext.split('_')[2] ?? 'never');
  });

  test('a key shows where it was last used from: the client address as the server sees it behind a proxy', async () => {
    const key = await server.newKey({ organization: admin.organization });
    const before = await server.call<Body<'getApiKey', 200>>('GET', `/v1/api-keys/${key.keyId}`, {
      key: admin.plaintext,
    });
    expect(before.body.data.lastUsedFrom).toBeNull();
    await server.call('GET', '/v1/contacts', { key: key.plaintext, headers: { 'x-forwarded-for': '203.0.113.7' } });
    const pending = await server.call<Body<'getApiKey', 200>>('GET', `/v1/api-keys/${key.keyId}`, {
      key: admin.plaintext,
    });
    expect(pending.body.data.lastUsedFrom).toBe('203.0.113.7');
    await server.handle.context.lastUsed.flush();
    const stored = await server.handle.store.getApiKey(key.organizationId, key.keyId);
    expect(stored?.lastUsedFrom).toBe('203.0.113.7');
    await flushed();
    const [entry] = await wholeLog(`keyId=${key.keyId}`);
    expect(entry?.clientAddress).toBe('203.0.113.7');
  });

  test("a member's user-token requests on the organization's paths are recorded with their user", async () => {
    const owner = await signUp(server, { fromNewAddress: true });
    const organizationId = owner.organizations[0]?.organizationId ?? '';
    const token = owner.token;
    const headers = { authorization: `Bearer ${token}` };
    const listed = await server.call('GET', `/organizations/${organizationId}/api-keys`, { headers });
    expect(listed.status).toBe(200);
    await flushed();
    const logs = await server.call<Log>('GET', `/organizations/${organizationId}/request-logs`, { headers });
    expect(logs.status, logs.text).toBe(200);
    expect(logs.body.data[0]).toMatchObject({
      keyId: null,
      userId: owner.user.userId,
      environment: null,
      operationId: 'listOrganizationApiKeys',
      path: '/organizations/{organizationId}/api-keys',
    });
    const byKey = await server.call<OrgUsage>('GET', `/organizations/${organizationId}/usage?groupBy=key`, {
      headers,
    });
    expect(byKey.status, byKey.text).toBe(200);
    expect(byKey.body.data.groups).toEqual([
      { group: null, counts: { total: 1, status2xx: 1, status4xx: 0, status5xx: 0, status429: 0 } },
    ]);
  });
});

describe('reading', () => {
  test('the log pages newest first with signed cursors, without gaps or repeats, and filters', async () => {
    const key = await server.newKey({ organization: admin.organization });
    for (let i = 0; i < 5; i++) {
      await server.call('GET', '/v1/contacts', { key: key.plaintext });
      await server.call('GET', '/v1/contacts/ct_0000000000000000', { key: key.plaintext });
    }
    await flushed();
    const pages: Log['data'][] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: Log } = await server.call<Log>(
        'GET',
        `/v1/request-logs?keyId=${key.keyId}&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        { key: admin.plaintext },
      );
      pages.push(page.body.data);
      cursor = page.body.meta.nextCursor;
    } while (cursor);
    expect(pages.map((p) => p.length)).toEqual([3, 3, 3, 1]);
    const all = pages.flat();
    expect(new Set(all.map((e) => e.requestId)).size).toBe(10);
    const times = all.map((e) => Date.parse(e.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);

    const notFound = await wholeLog(`keyId=${key.keyId}&status=404`);
    expect(notFound).toHaveLength(5);
    expect(notFound.every((e) => e.operationId === 'getContact' && e.path === '/v1/contacts/{contactId}')).toBe(true);
    expect(await wholeLog(`keyId=${key.keyId}&operationId=listContacts`)).toHaveLength(5);
  });

  test('the organization totals group by key, environment and operation', async () => {
    const key = await server.newKey({ plan: 'roomy', environment: 'development' });
    await server.call('GET', '/v1/contacts', { key: key.plaintext });
    await server.call('GET', '/v1/api-keys', { key: key.plaintext });
    await flushed();
    const read = (groupBy: string) =>
      server.call<OrgUsage>('GET', `/v1/usage?groupBy=${groupBy}`, { key: key.plaintext });
    const one = { total: 1, status2xx: 1, status4xx: 0, status5xx: 0, status429: 0 };
    // The reads themselves are recorded too, after they answer: each one sees the ones before it.
    expect((await read('key')).body.data.groups).toEqual([
      { group: key.keyId, counts: { ...one, total: 2, status2xx: 2 } },
    ]);
    await flushed();
    expect((await read('environment')).body.data.groups).toEqual([
      { group: 'development', counts: { ...one, total: 3, status2xx: 3 } },
    ]);
    await flushed();
    const byOperation = (await read('operation')).body.data;
    expect(byOperation.groups).toEqual([
      { group: 'getUsage', counts: { ...one, total: 2, status2xx: 2 } },
      { group: 'listApiKeys', counts: one },
      { group: 'listContacts', counts: one },
    ]);
    expect(byOperation.totals.total).toBe(4);
  });

  test('usage buckets cover the period, empty ones included, aligned to UTC hours or days', async () => {
    const key = await server.newKey({ organization: admin.organization });
    const to = new Date(Math.ceil(Date.now() / 3_600_000) * 3_600_000);
    const from = new Date(to.getTime() - 6 * 3_600_000);
    const hourly = await server.call<KeyUsage>(
      'GET',
      `/v1/api-keys/${key.keyId}/usage?from=${from.toISOString()}&to=${to.toISOString()}&granularity=hour`,
      { key: admin.plaintext },
    );
    expect(hourly.status, hourly.text).toBe(200);
    expect(hourly.body.data.buckets.map((b) => b.start)).toEqual(
      Array.from({ length: 6 }, (_, i) => new Date(from.getTime() + i * 3_600_000).toISOString()),
    );
    expect(hourly.body.data.totals.total).toBe(0);
  });

  test('usage:read is needed: a key without it is refused; keys made with full access hold it', async () => {
    const narrow = await server.newKey({ organization: admin.organization, permissions: ['contacts:read'] });
    for (const path of [`/v1/api-keys/${narrow.keyId}/usage`, '/v1/usage', '/v1/request-logs']) {
      const refused = expectError(await server.call('GET', path, { key: narrow.plaintext }), 403, 'FORBIDDEN');
      expect(refused.details).toEqual({ permissions: ['usage:read'] });
    }
    const created = await server.call<Body<'createApiKey', 201>>('POST', '/v1/api-keys', {
      key: admin.plaintext,
      body: { name: 'full', access: 'full' },
    });
    expect(created.body.data.permissions).toContain('usage:read');
  });

  test("another organization's key is 404, and a key never made is 404", async () => {
    const other = await server.newKey();
    expectError(
      await server.call('GET', `/v1/api-keys/${other.keyId}/usage`, { key: admin.plaintext }),
      404,
      'RESOURCE_NOT_FOUND',
    );
    expectError(
      await server.call('GET', '/v1/api-keys/key_0000000000000000/usage', { key: admin.plaintext }),
      404,
      'RESOURCE_NOT_FOUND',
    );
  });
});

describe('bad input is 422 with per-field details', () => {
  const cases: [string, string, string, RegExp][] = [
    ['from after to', '/v1/usage?from=2026-11-22T00:00:00Z&to=2026-11-21T00:00:00Z', 'query.from', /not be after to/],
    [
      'a period over the retention',
      '/v1/request-logs?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z',
      'query.from',
      /at most 30 days \(the retention period\)/,
    ],
    [
      'an unknown granularity',
      '/v1/api-keys/key_0000000000000000/usage?granularity=week',
      'query.granularity',
      /allowed values/,
    ],
    ['an unknown groupBy', '/v1/usage?groupBy=country', 'query.groupBy', /allowed values/],
    ['limit 0', '/v1/request-logs?limit=0', 'query.limit', />= 1/],
    ['limit 101', '/v1/request-logs?limit=101', 'query.limit', /<= 100/],
    ['a malformed from', '/v1/usage?from=yesterday', 'query.from', /date-time/],
    ['a status out of range', '/v1/request-logs?status=600', 'query.status', /<= 599/],
  ];
  test.each(cases)('%s', async (_what, path, field, message) => {
    const error = expectError(await server.call('GET', path, { key: admin.plaintext }), 422, 'VALIDATION_ERROR');
    expect(Object.keys(error.details ?? {})).toEqual([field]);
    expect(String(error.details?.[field])).toMatch(message);
  });

  test('a cursor issued to another organization, or a contact cursor, is 422 on query.cursor', async () => {
    const other = await server.newKey();
    await server.call('GET', '/v1/contacts', { key: other.plaintext });
    await server.call('GET', '/v1/contacts', { key: other.plaintext });
    await flushed();
    const page = await server.call<Log>('GET', '/v1/request-logs?limit=1', { key: other.plaintext });
    const foreign = page.body.meta.nextCursor;
    expect(foreign).toBeTypeOf('string');
    const contactCursor = encodeCursor(SERVER_SECRET, admin.organizationId, {
      createdAt: new Date(),
      contactId: 'ct_0000000000000000',
    });
    for (const cursor of [foreign ?? '', contactCursor]) {
      const error = expectError(
        await server.call('GET', `/v1/request-logs?cursor=${encodeURIComponent(cursor)}`, { key: admin.plaintext }),
        422,
        'VALIDATION_ERROR',
      );
      expect(error.details).toEqual({ 'query.cursor': ['is not a cursor returned by this API'] });
    }
  });
});

describe('the recorder', () => {
  const record = (organizationId: string, at: Date): RequestLogRecord => ({
    organizationId,
    at,
    keyId: 'key_0000000000000001',
    userId: null,
    environment: 'production',
    operationId: 'listContacts',
    method: 'GET',
    path: '/v1/contacts',
    status: 200,
    durationMs: 1,
    address: '127.0.0.1',
    userAgent: null,
    requestId: randomUUID(),
    queryNames: [],
  });
  const quiet = createLogger('silent');

  test('a full buffer drops new records and counts them; nothing is written until a flush', async () => {
    const organizationId = `org_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
    const recorder = createUsageRecorder(server.handle.store, quiet, () => new Date(), {
      maxBuffered: 3,
      flushMs: 3_600_000,
    });
    try {
      for (let i = 0; i < 5; i++) {
        recorder.record(record(organizationId, new Date()));
      }
      expect([recorder.buffered(), recorder.dropped()]).toEqual([3, 2]);
      expect(await countRows(organizationId)).toBe(0);
    } finally {
      await recorder.close();
    }
    expect(recorder.buffered()).toBe(0);
    expect(await countRows(organizationId)).toBe(3);
  });

  test('an unreachable database keeps the batch for the next write; a refused batch is dropped, not retried forever', async () => {
    const organizationId = `org_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
    const outcomes: (Error | undefined)[] = [
      new StoreUnavailableError('down'),
      undefined,
      new Error('refused'),
      undefined,
    ];
    const written: number[] = [];
    const store = {
      ...server.handle.store,
      async insertRequestLogs(records: readonly RequestLogRecord[]) {
        const outcome = outcomes.shift();
        if (outcome) {
          throw outcome;
        }
        written.push(records.length);
        await server.handle.store.insertRequestLogs(records);
      },
    };
    const recorder = createUsageRecorder(store, quiet, () => new Date(), { flushMs: 3_600_000 });
    try {
      recorder.record(record(organizationId, new Date()));
      await recorder.flush(); // unreachable: kept
      expect([recorder.buffered(), recorder.dropped()]).toEqual([1, 0]);
      await recorder.flush(); // written
      expect(written).toEqual([1]);
      recorder.record(record(organizationId, new Date()));
      await recorder.flush(); // refused: dropped
      expect([recorder.buffered(), recorder.dropped()]).toEqual([0, 1]);
      recorder.record(record(organizationId, new Date()));
      await recorder.flush();
      expect(written).toEqual([1, 1]);
    } finally {
      await recorder.close();
    }
    expect(await countRows(organizationId)).toBe(2);
  });

  test('pruning deletes rows past the retention period and beyond the per-organization bound', async () => {
    const { organizationId } = await server.handle.store.ensureOrganization(`prune-${randomUUID()}`);
    const now = Date.now();
    const old = [1, 2].map((d) => record(organizationId, new Date(now - (30 + d) * 86_400_000)));
    const recent = [1, 2, 3, 4, 5].map((m) => record(organizationId, new Date(now - m * 60_000)));
    await server.handle.store.insertRequestLogs([...old, ...recent]);
    expect(await countRows(organizationId)).toBe(7);
    const recorder = createUsageRecorder(server.handle.store, quiet, () => new Date(now), {
      retentionDays: 30,
      maxRowsPerOrganization: 3,
      enabled: false,
    });
    try {
      expect(await recorder.prune()).toBeGreaterThanOrEqual(4);
    } finally {
      await recorder.close();
    }
    const { rows } = await server.handle.store
      .listRequestLogs(organizationId, { from: new Date(now - 90 * 86_400_000), to: new Date(now), limit: 100 })
      .then((page) => ({ rows: page.items }));
    expect(rows.map((r) => r.at.getTime())).toEqual(recent.slice(0, 3).map((r) => r.at.getTime()));
  });

  test('rows of the same millisecond page in log id order, without repeats or gaps', async () => {
    const { organizationId } = await server.handle.store.ensureOrganization(`same-ms-${randomUUID()}`);
    const at = new Date();
    await server.handle.store.insertRequestLogs(Array.from({ length: 25 }, () => record(organizationId, at)));
    const seen: string[] = [];
    let before: { at: Date; logId: string } | undefined;
    for (;;) {
      const page = await server.handle.store.listRequestLogs(organizationId, {
        from: new Date(at.getTime() - 1000),
        to: new Date(at.getTime() + 1000),
        limit: 4,
        before,
      });
      seen.push(...page.items.map((item) => item.logId));
      const last = page.items.at(-1);
      if (!page.hasMore || !last) {
        break;
      }
      before = { at: last.at, logId: last.logId };
    }
    expect(seen).toHaveLength(25);
    expect(seen.map(BigInt)).toEqual([...seen.map(BigInt)].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0)));
  });

  test('recording off records nothing', async () => {
    const quietServer = await startTestServer({ usage: { enabled: false } });
    try {
      const key = await quietServer.newKey();
      await quietServer.call('GET', '/v1/contacts', { key: key.plaintext });
      await quietServer.handle.context.usage.flush();
      expect(quietServer.handle.context.usage.buffered()).toBe(0);
      const logs = await quietServer.call<Log>('GET', '/v1/request-logs', { key: key.plaintext });
      expect(logs.body.data).toEqual([]);
    } finally {
      await quietServer.close();
    }
  });

  test.each([
    ['', []],
    ['/v1/contacts', []],
    ['/v1/contacts?', []],
    ['/v1/contacts?b=1&a=2&b=3', ['a', 'b']],
    ['/v1/contacts?flag&x%20y=1', ['flag', 'x y']],
  ] as const)('the query names of %j are %j', (url, names) => {
    expect(queryNamesOf(url)).toEqual(names);
  });
});

/** The stored records of a key's requests, every column the store reads. */
async function rawRows(keyId: string): Promise<{ rows: unknown[] }> {
  const page = await server.handle.store.listRequestLogs(admin.organizationId, {
    from: new Date(Date.now() - 86_400_000),
    to: new Date(Date.now() + 60_000),
    keyId,
    limit: 100,
  });
  return { rows: page.items };
}

async function countRows(organizationId: string): Promise<number> {
  const page = await server.handle.store.listRequestLogs(organizationId, {
    from: new Date(Date.now() - 90 * 86_400_000),
    to: new Date(Date.now() + 60_000),
    limit: 100,
  });
  return page.items.length;
}
