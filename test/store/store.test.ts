import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOWER_ALNUM, newId, randomString } from '../../src/lib/ids.ts';
import type { Environment, Permission } from '../../src/lib/permissions.ts';
import { openStore } from '../../src/store/index.ts';
import { loadMigrations, migrate } from '../../src/store/migrate.ts';
import { openPgliteDb, openPgliteStore } from '../../src/store/pglite.ts';
import { openPostgresDb, openPostgresStore } from '../../src/store/postgres.ts';
import { createSqlStore } from '../../src/store/sql-store.ts';
import {
  type ContactRecord,
  DuplicateApiKeyError,
  DuplicateEmailError,
  type IdempotencyScope,
  type NewApiKey,
  type Store,
  StoreUnavailableError,
} from '../../src/store/types.ts';
import { PG_URL, withAdmin } from '../helpers/postgres.ts';

// Port 1 on loopback: nothing listens there, so connections are refused at once.
const DEAD_URL = 'postgres://postgres@127.0.0.1:1/test';
const RUN = randomString(8, LOWER_ALNUM);
const schemas: string[] = [];

/** A schema unique to this run, dropped when the file finishes. */
function testSchema(tag: string): string {
  const schema = `mailroom_test_${RUN}_${tag}`;
  schemas.push(schema);
  return schema;
}

afterAll(async () => {
  if (schemas.length > 0) {
    await withAdmin(async (admin) => {
      for (const schema of schemas) {
        await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      }
    });
  }
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error('condition not met in time');
    }
    await sleep(10);
  }
}

async function elapsedMs(work: Promise<unknown>): Promise<{ ms: number; error: unknown }> {
  const started = Date.now();
  try {
    await work;
    return { ms: Date.now() - started, error: undefined };
  } catch (error) {
    return { ms: Date.now() - started, error };
  }
}

// Millisecond timestamps far from "now", so tests never depend on the clock.
const T0 = Date.parse('2031-05-06T07:08:09.123Z');
const at = (offsetMs: number) => new Date(T0 + offsetMs);

function keyInput(organizationId: string, overrides: Partial<NewApiKey> = {}) {
  return {
    keyId: newId('key'),
    organizationId,
    name: 'Production',
    publicId: randomString(8, LOWER_ALNUM),
    keyHash: randomBytes(32).toString('hex'),
    permissions: ['api_keys:read', 'api_keys:write', 'contacts:read', 'contacts:write'] as Permission[],
    environment: 'production' as Environment,
    rateLimit: null,
    createdAt: at(0),
    expiresAt: null,
    ...overrides,
  };
}

const byCreatedThenId = <T extends { createdAt: Date }>(id: (item: T) => string) => {
  return (a: T, b: T) => a.createdAt.getTime() - b.createdAt.getTime() || (id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0);
};

interface Backend {
  name: string;
  open: () => Promise<{ store: Store; cleanup: () => Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'PGlite in memory',
    open: async () => ({ store: await openPgliteStore(), cleanup: async () => {} }),
  },
  {
    name: 'PGlite in a data directory',
    open: async () => {
      const dir = await mkdtemp(join(tmpdir(), 'mailroom-store-'));
      return {
        store: await openPgliteStore({ dataDir: dir }),
        cleanup: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'PostgreSQL',
    open: async () => ({
      store: await openStore({ kind: 'postgres', url: PG_URL, schema: testSchema('suite') }),
      cleanup: async () => {},
    }),
  },
];

describe.each(backends)('store on $name', ({ open }) => {
  let store: Store;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ store, cleanup } = await open());
  });

  afterAll(async () => {
    await store?.close();
    await cleanup?.();
  });

  const freshOrganization = (plan?: string) => store.ensureOrganization(newId('test org'), plan);

  describe('organizations', () => {
    it('creates a missing organization on the free plan and returns the same one afterwards', async () => {
      const name = newId('acme');
      const created = await store.ensureOrganization(name);
      expect(created).toMatchObject({ name, plan: 'free' });
      expect(created.organizationId).toMatch(/^org_[0-9a-z]{16}$/);
      expect(created.createdAt).toBeInstanceOf(Date);
      expect(await store.ensureOrganization(name)).toEqual(created);
      expect(await store.getOrganization(created.organizationId)).toEqual(created);
    });

    it('updates the plan only when one is given', async () => {
      const name = newId('acme');
      const created = await store.ensureOrganization(name, 'pro');
      expect(created.plan).toBe('pro');
      expect((await store.ensureOrganization(name)).plan).toBe('pro');
      const upgraded = await store.ensureOrganization(name, 'enterprise');
      expect(upgraded).toEqual({ ...created, plan: 'enterprise' });
    });

    it('returns null for an unknown organization', async () => {
      expect(await store.getOrganization(newId('org'))).toBeNull();
    });
  });

  describe('API keys', () => {
    it('stores a key and finds it by public id with its plan, dates intact to the millisecond', async () => {
      const org = await freshOrganization('pro');
      const input = keyInput(org.organizationId, {
        permissions: ['api_keys:read', 'contacts:read'],
        rateLimit: 120,
        createdAt: at(1),
        expiresAt: at(86_400_000),
      });
      const stored = await store.insertApiKey(input);
      expect(stored).toEqual({
        ...input,
        lastUsedAt: null,
        lastUsedFrom: null,
        revokedAt: null,
        rotatedAt: null,
        replacedBy: null,
      });
      expect(await store.findApiKeyByPublicId(input.publicId)).toEqual({ ...stored, plan: 'pro' });
      expect(await store.findApiKeyByPublicId(randomString(8, LOWER_ALNUM))).toBeNull();
    });

    it('finds revoked and expired keys by public id but hides revoked ones from get and list', async () => {
      const org = await freshOrganization();
      const expired = await store.insertApiKey(keyInput(org.organizationId, { expiresAt: at(-1) }));
      const revoked = await store.insertApiKey(keyInput(org.organizationId));
      await store.revokeApiKey(org.organizationId, revoked.keyId, at(5));
      expect((await store.findApiKeyByPublicId(expired.publicId))?.expiresAt).toEqual(at(-1));
      expect((await store.findApiKeyByPublicId(revoked.publicId))?.revokedAt).toEqual(at(5));
      expect(await store.getApiKey(org.organizationId, expired.keyId)).toMatchObject({ keyId: expired.keyId });
      expect(await store.getApiKey(org.organizationId, revoked.keyId)).toBeNull();
      expect((await store.listApiKeys(org.organizationId)).map((k) => k.keyId)).toEqual([expired.keyId]);
    });

    it('scopes get, rename and revoke to the owning organization', async () => {
      const owner = await freshOrganization();
      const other = await freshOrganization();
      const key = await store.insertApiKey(keyInput(owner.organizationId));
      expect(await store.getApiKey(other.organizationId, key.keyId)).toBeNull();
      expect(await store.renameApiKey(other.organizationId, key.keyId, 'stolen')).toBeNull();
      expect(await store.revokeApiKey(other.organizationId, key.keyId, at(1))).toBeNull();
      expect(await store.getApiKey(owner.organizationId, key.keyId)).toEqual({ ...key, plan: 'free' });
    });

    it('lists active keys oldest first, breaking ties by key id', async () => {
      const org = await freshOrganization();
      const keys = [
        await store.insertApiKey(keyInput(org.organizationId, { createdAt: at(20) })),
        await store.insertApiKey(keyInput(org.organizationId, { createdAt: at(10) })),
        await store.insertApiKey(keyInput(org.organizationId, { createdAt: at(10) })),
        await store.insertApiKey(keyInput(org.organizationId, { createdAt: at(30) })),
      ];
      await store.revokeApiKey(org.organizationId, keys[3]?.keyId ?? '', at(40));
      const expected = keys.slice(0, 3).sort(byCreatedThenId((k) => k.keyId));
      const listed = await store.listApiKeys(org.organizationId);
      expect(listed).toEqual(expected.map((k) => ({ ...k, plan: 'free' })));
    });

    it('lists active keys of every organization, oldest first', async () => {
      const first = await freshOrganization('pro');
      const second = await freshOrganization();
      const a = await store.insertApiKey(keyInput(first.organizationId, { createdAt: at(2) }));
      const b = await store.insertApiKey(keyInput(second.organizationId, { createdAt: at(1) }));
      const gone = await store.insertApiKey(keyInput(second.organizationId));
      await store.revokeApiKey(null, gone.keyId, at(3));
      const all = await store.listAllApiKeys();
      const ids = all.map((k) => k.keyId);
      expect(ids).toContain(a.keyId);
      expect(ids).toContain(b.keyId);
      expect(ids).not.toContain(gone.keyId);
      expect(all.find((k) => k.keyId === a.keyId)?.plan).toBe('pro');
      expect(all.every((k) => k.revokedAt === null)).toBe(true);
      expect(all).toEqual([...all].sort(byCreatedThenId((k) => k.keyId)));
    });

    it('renames an active key and refuses to rename a revoked or missing one', async () => {
      const org = await freshOrganization();
      const key = await store.insertApiKey(keyInput(org.organizationId));
      const renamed = await store.renameApiKey(org.organizationId, key.keyId, 'CI');
      expect(renamed).toEqual({ ...key, name: 'CI', plan: 'free' });
      await store.revokeApiKey(org.organizationId, key.keyId, at(1));
      expect(await store.renameApiKey(org.organizationId, key.keyId, 'again')).toBeNull();
      expect(await store.renameApiKey(org.organizationId, newId('key'), 'nobody')).toBeNull();
    });

    it('revokes a key once, in any organization when none is given', async () => {
      const org = await freshOrganization('pro');
      const key = await store.insertApiKey(keyInput(org.organizationId));
      const revoked = await store.revokeApiKey(null, key.keyId, at(7));
      expect(revoked).toEqual({ ...key, revokedAt: at(7), plan: 'pro' });
      expect(await store.revokeApiKey(null, key.keyId, at(8))).toBeNull();
      expect(await store.revokeApiKey(org.organizationId, key.keyId, at(9))).toBeNull();
      expect((await store.findApiKeyByPublicId(key.publicId))?.revokedAt).toEqual(at(7));
    });

    it('touches keys in a batch, keeping the later time and ignoring unknown keys', async () => {
      const org = await freshOrganization();
      const a = await store.insertApiKey(keyInput(org.organizationId));
      const b = await store.insertApiKey(keyInput(org.organizationId));
      await store.touchApiKeys([]);
      await store.touchApiKeys([
        { keyId: a.keyId, lastUsedAt: at(100) },
        { keyId: a.keyId, lastUsedAt: at(300) },
        { keyId: a.keyId, lastUsedAt: at(200) },
        { keyId: b.keyId, lastUsedAt: at(50) },
        { keyId: newId('key'), lastUsedAt: at(50) },
      ]);
      await store.touchApiKeys([
        { keyId: a.keyId, lastUsedAt: at(150) },
        { keyId: b.keyId, lastUsedAt: at(60) },
      ]);
      expect((await store.getApiKey(org.organizationId, a.keyId))?.lastUsedAt).toEqual(at(300));
      expect((await store.getApiKey(org.organizationId, b.keyId))?.lastUsedAt).toEqual(at(60));
    });

    it('counts every key ever stored, revoked ones included', async () => {
      const org = await freshOrganization();
      const before = await store.countApiKeys();
      const key = await store.insertApiKey(keyInput(org.organizationId));
      await store.revokeApiKey(null, key.keyId, at(1));
      expect(await store.countApiKeys()).toBe(before + 1);
    });

    it('rejects a second key with the same public id', async () => {
      const org = await freshOrganization();
      const key = await store.insertApiKey(keyInput(org.organizationId));
      await expect(store.insertApiKey(keyInput(org.organizationId, { publicId: key.publicId }))).rejects.toThrow(
        DuplicateApiKeyError,
      );
    });
  });

  describe('key rotation', () => {
    const nextKey = () => ({
      keyId: newId('key'),
      publicId: randomString(8, LOWER_ALNUM),
      keyHash: randomBytes(32).toString('hex'),
    });

    it('inserts a successor with the old key’s settings and shortens the old key’s life to the grace period', async () => {
      const org = await freshOrganization('pro');
      const old = await store.insertApiKey(
        keyInput(org.organizationId, {
          name: 'Billing',
          permissions: ['api_keys:read', 'contacts:read'],
          environment: 'staging',
          rateLimit: 60,
          createdAt: at(0),
          expiresAt: at(30 * 86_400_000),
        }),
      );
      const next = nextKey();
      const result = await store.rotateApiKey(org.organizationId, old.keyId, next, at(1_000), at(61_000));
      if (result.outcome !== 'rotated') {
        throw new Error(`expected rotated, got ${result.outcome}`);
      }
      expect(result.current).toEqual({
        ...next,
        organizationId: org.organizationId,
        name: 'Billing',
        permissions: ['api_keys:read', 'contacts:read'],
        environment: 'staging',
        rateLimit: 60,
        plan: 'pro',
        createdAt: at(1_000),
        // The same 30-day lifetime, from now.
        expiresAt: at(1_000 + 30 * 86_400_000),
        lastUsedAt: null,
        lastUsedFrom: null,
        revokedAt: null,
        rotatedAt: null,
        replacedBy: null,
      });
      expect(result.previous).toEqual({
        ...old,
        plan: 'pro',
        expiresAt: at(61_000),
        rotatedAt: at(1_000),
        replacedBy: next.keyId,
      });
      expect(await store.findApiKeyByPublicId(old.publicId)).toEqual(result.previous);
      expect(await store.findApiKeyByPublicId(next.publicId)).toEqual(result.current);
    });

    it('never lets the grace period outlive the old key’s own expiry, and keeps a never-expiring policy', async () => {
      const org = await freshOrganization();
      const soon = await store.insertApiKey(keyInput(org.organizationId, { expiresAt: at(10_000) }));
      const rotated = await store.rotateApiKey(org.organizationId, soon.keyId, nextKey(), at(1_000), at(3_600_000));
      expect(rotated.outcome === 'rotated' && rotated.previous.expiresAt).toEqual(at(10_000));

      const forever = await store.insertApiKey(keyInput(org.organizationId, { expiresAt: null }));
      const again = await store.rotateApiKey(org.organizationId, forever.keyId, nextKey(), at(1_000), at(1_000));
      expect(again.outcome === 'rotated' && again.previous.expiresAt).toEqual(at(1_000));
      expect(again.outcome === 'rotated' && again.current.expiresAt).toBeNull();
    });

    it('refuses a second rotation, an expired key, a revoked key and another organization’s key', async () => {
      const org = await freshOrganization();
      const other = await freshOrganization();
      const key = await store.insertApiKey(keyInput(org.organizationId));
      const first = nextKey();
      expect((await store.rotateApiKey(org.organizationId, key.keyId, first, at(1), at(100))).outcome).toBe('rotated');
      expect(await store.rotateApiKey(org.organizationId, key.keyId, nextKey(), at(2), at(100))).toMatchObject({
        outcome: 'already_rotated',
        successor: first.keyId,
      });

      const expired = await store.insertApiKey(keyInput(org.organizationId, { expiresAt: at(5) }));
      expect(await store.rotateApiKey(org.organizationId, expired.keyId, nextKey(), at(5), at(100))).toMatchObject({
        outcome: 'expired',
        previous: { keyId: expired.keyId, expiresAt: at(5) },
      });

      const revoked = await store.insertApiKey(keyInput(org.organizationId));
      await store.revokeApiKey(org.organizationId, revoked.keyId, at(1));
      expect(await store.rotateApiKey(org.organizationId, revoked.keyId, nextKey(), at(2), at(100))).toEqual({
        outcome: 'not_found',
      });

      const foreign = await store.insertApiKey(keyInput(other.organizationId));
      expect(await store.rotateApiKey(org.organizationId, foreign.keyId, nextKey(), at(2), at(100))).toEqual({
        outcome: 'not_found',
      });
      expect((await store.rotateApiKey(null, foreign.keyId, nextKey(), at(2), at(100))).outcome).toBe('rotated');
      // Refused rotations left nothing behind.
      expect((await store.listApiKeys(org.organizationId)).map((k) => k.keyId).sort()).toEqual(
        [key.keyId, first.keyId, expired.keyId].sort(),
      );
    });

    it('rotates a key once when two rotations race, and rolls back a successor whose public id is taken', async () => {
      const org = await freshOrganization();
      const key = await store.insertApiKey(keyInput(org.organizationId));
      const outcomes = await Promise.all(
        Array.from({ length: 5 }, () => store.rotateApiKey(org.organizationId, key.keyId, nextKey(), at(1), at(100))),
      );
      expect(outcomes.map((o) => o.outcome).sort()).toEqual([
        'already_rotated',
        'already_rotated',
        'already_rotated',
        'already_rotated',
        'rotated',
      ]);

      const spare = await store.insertApiKey(keyInput(org.organizationId));
      const clash = { ...nextKey(), publicId: key.publicId };
      await expect(store.rotateApiKey(org.organizationId, spare.keyId, clash, at(1), at(100))).rejects.toThrow(
        DuplicateApiKeyError,
      );
      expect(await store.getApiKey(org.organizationId, spare.keyId)).toMatchObject({
        rotatedAt: null,
        expiresAt: null,
      });
    });
  });

  describe('idempotency keys', () => {
    const HOUR = 3_600_000;
    const sealed = new Uint8Array([0, 1, 2, 250, 255, 7]);
    let org: string;

    beforeAll(async () => {
      org = (await freshOrganization()).organizationId;
    });

    const scope = (): IdempotencyScope => ({
      organizationId: org,
      principal: `key:${newId('key')}`,
      keyHash: randomBytes(32).toString('hex'),
    });
    const claim = (where: IdempotencyScope, owner: string, now: number, fingerprint = 'a'.repeat(64)) =>
      store.claimIdempotencyKey({
        ...where,
        fingerprint,
        owner,
        at: at(now),
        leaseExpiresAt: at(now + 60_000),
        expiresAt: at(now + 24 * HOUR),
      });

    it('gives a key to its first claimant, shows the others the entry, and stores the outcome once', async () => {
      const where = scope();
      expect(await claim(where, 'first', 0)).toEqual({ claimed: true });
      expect(await claim(where, 'second', 10)).toMatchObject({
        claimed: false,
        existing: { ...where, state: 'in_flight', owner: 'first', responseStatus: null, responseSealed: null },
      });
      expect(await store.completeIdempotencyKey(where, 'second', { status: 201, sealed })).toBe(false);
      expect(await store.completeIdempotencyKey(where, 'first', { status: 201, sealed })).toBe(true);
      const done = await claim(where, 'third', 20);
      expect(done).toMatchObject({ claimed: false, existing: { state: 'done', responseStatus: 201 } });
      expect(done.claimed === false && Buffer.from(done.existing.responseSealed ?? [])).toEqual(Buffer.from(sealed));
    });

    it('scopes a key to the organization and the principal', async () => {
      const where = scope();
      expect(await claim(where, 'a', 0)).toEqual({ claimed: true });
      expect(await claim({ ...where, principal: `${where.principal}x` }, 'b', 0)).toEqual({ claimed: true });
      const otherOrg = (await freshOrganization()).organizationId;
      expect(await claim({ ...where, organizationId: otherOrg }, 'c', 0)).toEqual({ claimed: true });
    });

    it('keeps scopes without an organization (a sign-up, a new organization) apart, stored and purged alike', async () => {
      const none = { ...scope(), organizationId: '', principal: 'anonymous' };
      expect(await claim(none, 'first', 0)).toEqual({ claimed: true });
      expect(await claim(none, 'second', 1)).toMatchObject({
        claimed: false,
        existing: { organizationId: '', principal: 'anonymous', state: 'in_flight', owner: 'first' },
      });
      expect(await store.completeIdempotencyKey(none, 'first', { status: 201, sealed })).toBe(true);
      // The same key hash under a user, or in an organization, is another entry.
      expect(await claim({ ...none, principal: `user:${newId('usr')}` }, 'user', 2)).toEqual({ claimed: true });
      expect(await claim({ ...none, organizationId: org }, 'in org', 2)).toEqual({ claimed: true });
      const old = { ...scope(), organizationId: '', principal: 'anonymous' };
      await claim(old, 'old', -48 * HOUR);
      await store.releaseIdempotencyKey(none, 'first');
      expect((await claim(none, 'after release of a done entry', 3)).claimed).toBe(false);
      expect(await store.purgeIdempotencyKeys(at(-1))).toBeGreaterThanOrEqual(1);
      expect(await claim(old, 'after purge', 4)).toEqual({ claimed: true });
    });

    it('frees a released claim for the next request', async () => {
      const where = scope();
      await claim(where, 'failed', 0);
      await store.releaseIdempotencyKey(where, 'someone else');
      expect((await claim(where, 'retry', 1)).claimed).toBe(false);
      await store.releaseIdempotencyKey(where, 'failed');
      expect(await claim(where, 'retry', 2)).toEqual({ claimed: true });
    });

    it('lets a retry of the same request take over a claim whose lease passed, but not a different request', async () => {
      const where = scope();
      await claim(where, 'died', 0, 'a'.repeat(64));
      expect((await claim(where, 'other request', 61_000, 'b'.repeat(64))).claimed).toBe(false);
      expect((await claim(where, 'too early', 59_000, 'a'.repeat(64))).claimed).toBe(false);
      expect(await claim(where, 'retry', 61_000, 'a'.repeat(64))).toEqual({ claimed: true });
      expect(await store.completeIdempotencyKey(where, 'died', { status: 201, sealed })).toBe(false);
    });

    it('replaces an expired entry on access and purges expired entries', async () => {
      const where = scope();
      await claim(where, 'yesterday', 0, 'a'.repeat(64));
      await store.completeIdempotencyKey(where, 'yesterday', { status: 201, sealed });
      expect(await claim(where, 'today', 24 * HOUR, 'b'.repeat(64))).toEqual({ claimed: true });

      const stale = scope();
      await claim(stale, 'old', -48 * HOUR);
      const fresh = scope();
      await claim(fresh, 'new', 0);
      expect(await store.purgeIdempotencyKeys(at(-1))).toBeGreaterThanOrEqual(1);
      expect((await claim(stale, 'after purge', 1)).claimed).toBe(true);
      expect((await claim(fresh, 'still held', 1)).claimed).toBe(false);
    });

    it('lets exactly one of many concurrent claims win', async () => {
      const where = scope();
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => claim(where, `owner-${i}`, 0)));
      expect(results.filter((r) => r.claimed)).toHaveLength(1);
    });
  });

  describe('contacts', () => {
    it('creates a contact with defaults and reads it back within its organization only', async () => {
      const org = await freshOrganization();
      const other = await freshOrganization();
      const contact = await store.createContact(org.organizationId, { email: 'Ada@Example.com' }, at(1));
      expect(contact).toEqual({
        contactId: expect.stringMatching(/^ct_[0-9a-z]{16}$/),
        organizationId: org.organizationId,
        email: 'Ada@Example.com',
        firstName: null,
        lastName: null,
        subscribed: true,
        createdAt: at(1),
        updatedAt: at(1),
      });
      expect(await store.getContact(org.organizationId, contact.contactId)).toEqual(contact);
      expect(await store.getContact(other.organizationId, contact.contactId)).toBeNull();
    });

    it('rejects an email already used in the organization, whatever its case, but allows it elsewhere', async () => {
      const org = await freshOrganization();
      const other = await freshOrganization();
      await store.createContact(org.organizationId, { email: 'grace@example.com' }, at(1));
      await expect(store.createContact(org.organizationId, { email: 'GRACE@example.COM' }, at(2))).rejects.toThrow(
        DuplicateEmailError,
      );
      const elsewhere = await store.createContact(other.organizationId, { email: 'GRACE@example.com' }, at(3));
      expect(elsewhere.email).toBe('GRACE@example.com');
      expect(await store.countContacts(org.organizationId)).toBe(1);
    });

    it('pages contacts oldest first with a cursor, breaking ties by contact id', async () => {
      const org = await freshOrganization();
      const created: ContactRecord[] = [];
      for (const [i, offset] of [10, 0, 0, 0, 20].entries()) {
        created.push(await store.createContact(org.organizationId, { email: `p${i}@example.com` }, at(offset)));
      }
      const expected = [...created].sort(byCreatedThenId((c) => c.contactId));
      const seen: ContactRecord[] = [];
      const pages: boolean[] = [];
      let after: { createdAt: Date; contactId: string } | undefined;
      for (;;) {
        const page = await store.listContacts(org.organizationId, { limit: 2, after });
        seen.push(...page.items);
        pages.push(page.hasMore);
        const last = page.items.at(-1);
        if (!page.hasMore || last === undefined) {
          break;
        }
        after = { createdAt: last.createdAt, contactId: last.contactId };
      }
      expect(seen).toEqual(expected);
      expect(pages).toEqual([true, true, false]);
      expect(await store.listContacts(org.organizationId, { limit: 5 })).toEqual({ items: expected, hasMore: false });
      expect(await store.countContacts(org.organizationId)).toBe(5);
    });

    it('refuses a limit below one', async () => {
      const org = await freshOrganization();
      await expect(store.listContacts(org.organizationId, { limit: 0 })).rejects.toThrow(RangeError);
    });

    it('applies only the fields present in a patch and stamps updatedAt', async () => {
      const org = await freshOrganization();
      const contact = await store.createContact(
        org.organizationId,
        { email: 'linus@example.com', firstName: 'Linus', lastName: 'T', subscribed: true },
        at(1),
      );
      const patched = await store.updateContact(
        org.organizationId,
        contact.contactId,
        { lastName: null, subscribed: false },
        at(2),
      );
      expect(patched).toEqual({ ...contact, lastName: null, subscribed: false, updatedAt: at(2) });
      const renamed = await store.updateContact(
        org.organizationId,
        contact.contactId,
        { email: 'LINUS@example.com', firstName: 'L' },
        at(3),
      );
      expect(renamed).toEqual({ ...patched, email: 'LINUS@example.com', firstName: 'L', updatedAt: at(3) });
    });

    it('rejects a patch to an email another contact has, and returns null for a missing contact', async () => {
      const org = await freshOrganization();
      const other = await freshOrganization();
      await store.createContact(org.organizationId, { email: 'taken@example.com' }, at(1));
      const contact = await store.createContact(org.organizationId, { email: 'free@example.com' }, at(2));
      await expect(
        store.updateContact(org.organizationId, contact.contactId, { email: 'Taken@Example.com' }, at(3)),
      ).rejects.toThrow(DuplicateEmailError);
      expect(await store.updateContact(other.organizationId, contact.contactId, { firstName: 'x' }, at(3))).toBeNull();
      expect(await store.getContact(org.organizationId, contact.contactId)).toEqual(contact);
    });

    it('deletes a contact once and only within its organization', async () => {
      const org = await freshOrganization();
      const other = await freshOrganization();
      const contact = await store.createContact(org.organizationId, { email: 'bye@example.com' }, at(1));
      expect(await store.deleteContact(other.organizationId, contact.contactId)).toBe(false);
      expect(await store.deleteContact(org.organizationId, contact.contactId)).toBe(true);
      expect(await store.deleteContact(org.organizationId, contact.contactId)).toBe(false);
      expect(await store.getContact(org.organizationId, contact.contactId)).toBeNull();
    });
  });

  describe('the request log', () => {
    it('gives back every field of a batch exactly as recorded, whatever characters its text holds', async () => {
      const organization = await freshOrganization();
      const at = new Date('2026-11-20T10:00:00.123Z');
      const base = {
        organizationId: organization.organizationId,
        at,
        keyId: 'key_0000000000000001',
        userId: null,
        environment: 'production' as const,
        operationId: 'listContacts',
        method: 'GET',
        path: '/v1/contacts',
        status: 200,
        durationMs: 0.125,
        address: '::ffff:127.0.0.1',
        requestId: 'req-1',
      };
      // What COPY's text format and an array literal escape: backslashes, tabs, quotes, braces, commas, `\N`.
      const odd = {
        ...base,
        keyId: null,
        userId: 'usr_0000000000000001',
        environment: null,
        operationId: null,
        path: null,
        method: 'PATCH',
        status: 429,
        durationMs: 12,
        userAgent: 'odd\\agent\t"quoted" {braces}, \\N',
        requestId: 'req-2',
        queryNames: ['a"b', 'back\\slash', '{x,y}', '', 'NULL', '\\N'],
      };
      await store.insertRequestLogs([{ ...base, userAgent: null, queryNames: [] }, odd]);
      const { items } = await store.listRequestLogs(organization.organizationId, {
        from: new Date(at.getTime() - 1000),
        to: new Date(at.getTime() + 1000),
        limit: 10,
      });
      const byId = Object.fromEntries(items.map(({ logId: _logId, ...record }) => [record.requestId, record]));
      expect(byId).toEqual({ 'req-1': { ...base, userAgent: null, queryNames: [] }, 'req-2': odd });
    });
  });

  describe('health and notifications', () => {
    it('answers a ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('delivers key changes to subscribers until they unsubscribe', async () => {
      const received: string[] = [];
      const unsubscribe = await store.onKeyChange((publicId) => received.push(publicId));
      const first = randomString(8, LOWER_ALNUM);
      await store.notifyKeyChange(first);
      await waitFor(() => received.includes(first));
      await unsubscribe();
      const second = randomString(8, LOWER_ALNUM);
      await store.notifyKeyChange(second);
      await sleep(200);
      expect(received).not.toContain(second);
    });
  });
});

describe('PGlite specifics', () => {
  it('keeps data after closing and reopening a data directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mailroom-reopen-'));
    try {
      const first = await openStore({ kind: 'pglite', dataDir: join(dir, 'nested', 'db') });
      const org = await first.ensureOrganization('persistent', 'pro');
      const contact = await first.createContact(org.organizationId, { email: 'kept@example.com' }, at(1));
      await first.close();
      await first.close();
      const second = await openStore({ kind: 'pglite', dataDir: join(dir, 'nested', 'db') });
      try {
        expect(await second.getOrganization(org.organizationId)).toEqual(org);
        expect(await second.getContact(org.organizationId, contact.contactId)).toEqual(contact);
      } finally {
        await second.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('applies migrations once when run twice', async () => {
    const db = await openPgliteDb();
    try {
      const versions = (await loadMigrations()).map((m) => m.version);
      expect(versions.length).toBeGreaterThan(0);
      expect(await migrate(db)).toEqual(versions);
      expect(await migrate(db)).toEqual([]);
      const { rows } = await db.query<{ version: string }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.map((r) => r.version)).toEqual(versions);
    } finally {
      await db.close();
    }
  });

  it('reports a closed store as unavailable', async () => {
    const store = createSqlStore(await openPgliteDb());
    await store.close();
    await expect(store.ping()).rejects.toThrow(StoreUnavailableError);
  });
});

describe('PostgreSQL specifics', () => {
  const versionsPromise = loadMigrations().then((all) => all.map((m) => m.version));

  it('applies migrations once when run twice', async () => {
    const schema = testSchema('twice');
    const db = await openPostgresDb({ url: PG_URL, schema });
    try {
      expect(await migrate(db)).toEqual(await versionsPromise);
      expect(await migrate(db)).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it('lets several processes open and migrate a fresh schema at once', async () => {
    const schema = testSchema('race');
    const stores = await Promise.all([1, 2, 3, 4].map(() => openPostgresStore({ url: PG_URL, schema })));
    try {
      await Promise.all(stores.map((s) => s.ping()));
      const count = await withAdmin(
        async (admin) => (await admin.query(`SELECT count(*)::int AS n FROM "${schema}".schema_migrations`)).rows[0].n,
      );
      expect(count).toBe((await versionsPromise).length);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('runs concurrent migrate() calls without failing, applying each version once', async () => {
    const schema = testSchema('migrate');
    const dbs = await Promise.all([1, 2].map(() => openPostgresDb({ url: PG_URL, schema })));
    try {
      const applied = await Promise.all(dbs.map((db) => migrate(db)));
      expect(applied.flat().sort()).toEqual(await versionsPromise);
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
    }
  });

  it('fails fast with StoreUnavailableError when the server refuses connections', async () => {
    const opening = await elapsedMs(openPostgresStore({ url: DEAD_URL, schema: testSchema('dead') }));
    expect(opening.error).toBeInstanceOf(StoreUnavailableError);
    expect(opening.ms).toBeLessThan(2500);

    const store = createSqlStore(await openPostgresDb({ url: DEAD_URL }));
    try {
      const ping = await elapsedMs(store.ping());
      expect(ping.error).toBeInstanceOf(StoreUnavailableError);
      expect(ping.ms).toBeLessThan(2500);
    } finally {
      await store.close();
    }
  });

  it('gives up with StoreUnavailableError when the server never answers', async () => {
    // Accepts TCP connections and never speaks: the shape of a hung server or a black-holed network.
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const store = createSqlStore(
      await openPostgresDb({ url: `postgres://postgres@127.0.0.1:${port}/test`, connectTimeoutMs: 300 }),
    );
    try {
      const ping = await elapsedMs(store.ping());
      expect(ping.error).toBeInstanceOf(StoreUnavailableError);
      expect(ping.ms).toBeGreaterThanOrEqual(250);
      expect(ping.ms).toBeLessThan(1500);
    } finally {
      await store.close();
      for (const socket of sockets) {
        socket.destroy();
      }
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('cancels a statement that outlives the query timeout and keeps serving', async () => {
    const db = await openPostgresDb({ url: PG_URL, schema: testSchema('slow'), queryTimeoutMs: 300, poolSize: 1 });
    try {
      const slow = await elapsedMs(db.query('SELECT pg_sleep(5)'));
      expect(slow.error).toBeInstanceOf(StoreUnavailableError);
      expect(slow.ms).toBeLessThan(1500);
      await expect(db.query('SELECT 1 AS one')).resolves.toMatchObject({ rows: [{ one: 1 }] });
    } finally {
      await db.close();
    }
  });

  it('gives up with StoreUnavailableError when every pooled connection stays busy', async () => {
    const db = await openPostgresDb({ url: PG_URL, poolSize: 1, queryTimeoutMs: 2000, connectTimeoutMs: 200 });
    try {
      const busy = db.query('SELECT pg_sleep(0.8)');
      const waiting = await elapsedMs(db.query('SELECT 1'));
      expect(waiting.error).toBeInstanceOf(StoreUnavailableError);
      expect(waiting.ms).toBeLessThan(700);
      await expect(busy).resolves.toBeDefined();
      await expect(db.query('SELECT 1')).resolves.toBeDefined();
    } finally {
      await db.close();
    }
  });

  it('recovers by itself after the server drops its pooled connections', async () => {
    const applicationName = `mailroom_t_${RUN}_pool`;
    const errors: Error[] = [];
    const store = await openPostgresStore({
      url: PG_URL,
      schema: testSchema('pool'),
      applicationName,
      onError: (err) => errors.push(err),
    });
    try {
      await store.ping();
      const killed = await withAdmin(
        async (admin) =>
          (
            await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [
              applicationName,
            ])
          ).rowCount,
      );
      expect(killed).toBeGreaterThan(0);
      await waitFor(() => errors.length > 0);
      await expect(store.ping()).resolves.toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it('re-listens after losing its LISTEN connection and asks subscribers to drop everything', async () => {
    const applicationName = `mailroom_t_${RUN}_listen`;
    const schema = testSchema('listen');
    const store = await openPostgresStore({ url: PG_URL, schema, applicationName });
    const other = await openPostgresStore({ url: PG_URL, schema });
    const received: string[] = [];
    const unsubscribe = await store.onKeyChange((publicId) => received.push(publicId));
    try {
      const before = randomString(8, LOWER_ALNUM);
      await other.notifyKeyChange(before);
      await waitFor(() => received.includes(before));
      expect(received).not.toContain('*');

      const killed = await withAdmin(
        async (admin) =>
          (
            await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [
              `${applicationName}:listen`,
            ])
          ).rowCount,
      );
      expect(killed).toBe(1);
      await waitFor(() => received.includes('*'));

      const after = randomString(8, LOWER_ALNUM);
      await other.notifyKeyChange(after);
      await waitFor(() => received.includes(after));
    } finally {
      await unsubscribe();
      await store.close();
      await other.close();
    }
  });

  it('reports a closed store as unavailable', async () => {
    const store = await openPostgresStore({ url: PG_URL, schema: testSchema('closed') });
    await store.close();
    await store.close();
    await expect(store.ping()).rejects.toThrow(StoreUnavailableError);
  });
});
