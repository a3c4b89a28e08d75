import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOWER_ALNUM, newId, randomString } from '../../src/lib/ids.ts';
import type { Db } from '../../src/store/db.ts';
import { migrate } from '../../src/store/migrate.ts';
import { openPgliteDb } from '../../src/store/pglite.ts';
import { openPostgresDb } from '../../src/store/postgres.ts';
import { createSqlStore } from '../../src/store/sql-store.ts';
import type { Store } from '../../src/store/types.ts';
import { PG_URL, withAdmin } from '../helpers/postgres.ts';

// The store's whole data as one value (sql-state.ts), what a sandbox reset restores: every data table of the migrated
// schema, found in the catalog, captured and put back exactly, on both back-ends.

const RUN = randomString(8, LOWER_ALNUM);
const schemas: string[] = [];

afterAll(async () => {
  if (schemas.length > 0) {
    await withAdmin(async (admin) => {
      for (const schema of schemas) {
        await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      }
    });
  }
});

const T0 = Date.parse('2031-05-06T07:08:09.123Z');
const at = (offsetMs: number) => new Date(T0 + offsetMs);
const hex = () => randomBytes(32).toString('hex');

const backends = [
  { name: 'PGlite', open: () => openPgliteDb() },
  {
    name: 'PostgreSQL',
    open: () => {
      const schema = `mailroom_test_${RUN}_state`;
      schemas.push(schema);
      return openPostgresDb({ url: PG_URL, schema });
    },
  },
];

/** Every data table's rows, each table's sorted, read through the store's own capture. */
async function contents(store: Store): Promise<Record<string, unknown[]>> {
  const state = await store.captureState();
  return Object.fromEntries(
    state.tables.map((table) => [
      table.name,
      (JSON.parse(table.rows) as unknown[]).map((row) => JSON.stringify(row)).sort(),
    ]),
  );
}

/** A row in every table the migrations make: a user with an organization, keys (one rotated), a contact, a token, and an idempotent outcome. */
async function fillEveryTable(store: Store): Promise<void> {
  const userId = newId('usr');
  const passwordHash = `$scrypt$ln=10,r=8,p=1$${randomBytes(16).toString('base64').replace(/=+$/, '')}$${randomBytes(32).toString('base64').replace(/=+$/, '')}`;
  const { membership } = await store.createUser({
    user: { userId, email: `${randomString(8, LOWER_ALNUM)}@example.com`, name: null, passwordHash },
    organizationName: 'Filled',
    at: at(0),
  });
  const organizationId = membership.organizationId;
  const key = await store.insertApiKey({
    keyId: newId('key'),
    organizationId,
    name: 'first',
    publicId: randomString(8, LOWER_ALNUM),
    keyHash: hex(),
    permissions: ['contacts:read'],
    environment: 'staging',
    rateLimit: 7,
    createdAt: at(1),
    expiresAt: at(86_400_000),
  });
  // A rotation: the old row points at the new one (a foreign key of the table to itself).
  const next = { keyId: newId('key'), publicId: randomString(8, LOWER_ALNUM), keyHash: hex() };
  await store.rotateApiKey(organizationId, key.keyId, next, at(2), at(60_000));
  await store.createContact(organizationId, { email: 'lin@example.com', firstName: 'Lin', subscribed: false }, at(3));
  await store.insertUserToken({
    tokenId: newId('tok'),
    userId,
    publicId: randomString(8, LOWER_ALNUM),
    tokenHash: hex(),
    createdAt: at(4),
    expiresAt: at(5_000_000),
    createdFrom: { address: '203.0.113.9', userAgent: 'state test' },
  });
  const scope = { organizationId, principal: `key:${key.keyId}`, keyHash: hex() };
  await store.claimIdempotencyKey({
    ...scope,
    fingerprint: hex(),
    owner: 'test',
    at: at(5),
    leaseExpiresAt: at(65_000),
    expiresAt: at(86_400_000),
  });
  await store.completeIdempotencyKey(scope, 'test', { status: 201, sealed: new Uint8Array([0, 1, 2, 254, 255]) });
  await store.insertRequestLogs([
    {
      organizationId,
      at: at(6),
      keyId: key.keyId,
      userId: null,
      environment: 'staging',
      operationId: 'listContacts',
      method: 'GET',
      path: '/v1/contacts',
      status: 200,
      durationMs: 1.5,
      address: '203.0.113.9',
      userAgent: 'state test',
      requestId: 'state-test',
      queryNames: ['limit'],
    },
  ]);
}

describe.each(backends)('the store’s state on $name', ({ open }) => {
  let db: Db;
  let store: Store;

  beforeAll(async () => {
    db = await open();
    await migrate(db);
    store = createSqlStore(db);
  });
  afterAll(async () => {
    await store?.close();
  });

  it('holds no data when new, and some once a row is written', async () => {
    await store.clearData();
    expect(await store.holdsData()).toBe(false);
    await store.ensureOrganization('one', 'free');
    expect(await store.holdsData()).toBe(true);
  });

  it('captures every data table, and puts back exactly what each held', async () => {
    await store.clearData();
    await fillEveryTable(store);
    const captured = await store.captureState();
    const before = await contents(store);
    // Every table the migrations made, and none empty: the fill reached each one.
    const { rows } = await db.query<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables
       WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations'`,
    );
    expect(Object.keys(before).sort()).toEqual(rows.map((r) => r.name).sort());
    expect(Object.entries(before).filter(([, tableRows]) => tableRows.length === 0)).toEqual([]);

    await fillEveryTable(store);
    await store.restoreState(captured);
    expect(await contents(store)).toEqual(before);
    const [key] = await store.listAllApiKeys();
    expect(key).toMatchObject({ permissions: ['contacts:read'], environment: 'staging', rateLimit: 7 });
  });

  it('covers a table a later migration adds, without a list kept by hand', async () => {
    await store.clearData();
    await db.exec(
      `CREATE TABLE later_feature (
         id text PRIMARY KEY,
         organization_id text NOT NULL REFERENCES organizations (organization_id) ON DELETE CASCADE,
         tags text[] NOT NULL,
         payload bytea,
         at timestamptz(3) NOT NULL,
         total integer GENERATED ALWAYS AS (cardinality(tags)) STORED
       )`,
    );
    try {
      const { organizationId } = await store.ensureOrganization('with a later table', 'pro');
      await db.query(`INSERT INTO later_feature (id, organization_id, tags, payload, at) VALUES ($1, $2, $3, $4, $5)`, [
        'kept',
        organizationId,
        ['a', 'b,c'],
        new Uint8Array([9, 0, 7]),
        at(1),
      ]);
      const captured = await store.captureState();
      await db.query(`INSERT INTO later_feature (id, organization_id, tags, at) VALUES ('added', $1, '{}', $2)`, [
        organizationId,
        at(2),
      ]);
      await store.restoreState(captured);
      const { rows } = await db.query<{ id: string; tags: string[]; payload: Uint8Array; at: Date; total: number }>(
        'SELECT id, tags, payload, at, total FROM later_feature',
      );
      expect(rows.map((r) => ({ ...r, payload: [...r.payload] }))).toEqual([
        { id: 'kept', tags: ['a', 'b,c'], payload: [9, 0, 7], at: at(1), total: 2 },
      ]);
      await store.clearData();
      expect((await db.query('SELECT 1 FROM later_feature')).rows).toEqual([]);
    } finally {
      await db.exec('DROP TABLE later_feature');
    }
  });

  it('keeps the migration record: a cleared or restored store is still migrated', async () => {
    await store.clearData();
    await store.restoreState(await store.captureState());
    expect(await migrate(db)).toEqual([]);
  });
});
