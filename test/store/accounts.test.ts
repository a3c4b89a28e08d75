import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOWER_ALNUM, newId, randomString } from '../../src/lib/ids.ts';
import { openStore } from '../../src/store/index.ts';
import { loadMigrations, migrate } from '../../src/store/migrate.ts';
import { openPgliteDb, openPgliteStore } from '../../src/store/pglite.ts';
import { createSqlStore } from '../../src/store/sql-store.ts';
import {
  DuplicateMemberError,
  DuplicateUserError,
  LastOwnerError,
  type Store,
  type UserRecord,
} from '../../src/store/types.ts';
import { PG_URL, withAdmin } from '../helpers/postgres.ts';

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

// Millisecond timestamps far from "now", so tests never depend on the clock.
const T0 = Date.parse('2031-05-06T07:08:09.123Z');
const at = (offsetMs: number) => new Date(T0 + offsetMs);

/** A syntactically valid stored password hash (the store only checks its shape). */
function passwordHash(): string {
  const b64 = (n: number) => randomBytes(n).toString('base64').replace(/=+$/, '');
  return `$scrypt$ln=10,r=8,p=1$${b64(16)}$${b64(32)}`;
}

function newUser(
  overrides: Partial<Omit<UserRecord, 'createdAt' | 'passwordChangedAt'>> = {},
): Omit<UserRecord, 'createdAt' | 'passwordChangedAt'> {
  return {
    userId: newId('usr'),
    email: `${randomString(10, LOWER_ALNUM)}@example.com`,
    name: 'Ada Lovelace',
    passwordHash: passwordHash(),
    ...overrides,
  };
}

const backends = [
  { name: 'PGlite', open: () => openPgliteStore() },
  {
    name: 'PostgreSQL',
    open: () => {
      const schema = `mailroom_test_${RUN}_accounts`;
      schemas.push(schema);
      return openStore({ kind: 'postgres', url: PG_URL, schema });
    },
  },
];

describe.each(backends)('accounts on $name', ({ open }) => {
  let store: Store;

  beforeAll(async () => {
    store = await open();
  });
  afterAll(async () => {
    await store?.close();
  });

  /** Signs a user up, with their first organization. */
  const signUp = (overrides: Partial<Omit<UserRecord, 'createdAt'>> = {}, offset = 0) =>
    store.createUser({ user: newUser(overrides), organizationName: 'First organization', at: at(offset) });

  describe('users', () => {
    it('signs a user up with a first organization they own, dates intact to the millisecond', async () => {
      const input = newUser();
      const { user, membership } = await store.createUser({ user: input, organizationName: 'Ada’s org', at: at(5) });
      expect(user).toEqual({ ...input, createdAt: at(5), passwordChangedAt: null });
      expect(membership).toMatchObject({ name: 'Ada’s org', plan: 'free', role: 'owner', createdAt: at(5) });
      expect(membership.organizationId).toMatch(/^org_[a-z0-9]{16}$/);
      expect(await store.listMemberships(user.userId)).toEqual([membership]);
      expect(await store.getUser(user.userId)).toEqual(user);
    });

    it('finds a user by email without regard to case', async () => {
      const { user } = await signUp({ email: `Grace.${randomString(6, LOWER_ALNUM)}@Example.com` });
      expect(await store.findUserByEmail(user.email.toLowerCase())).toEqual(user);
      expect(await store.findUserByEmail(user.email.toUpperCase())).toEqual(user);
      expect(await store.findUserByEmail(`nobody-${user.email}`)).toBeNull();
    });

    it('refuses a second sign-up with the same email in another case, and stores nothing of it', async () => {
      const { user } = await signUp();
      const again = newUser({ email: user.email.toUpperCase() });
      await expect(store.createUser({ user: again, organizationName: 'Dup', at: at(1) })).rejects.toThrow(
        DuplicateUserError,
      );
      expect(await store.getUser(again.userId)).toBeNull();
    });

    it('refuses a password hash that is not a scrypt string', async () => {
      await expect(signUp({ passwordHash: 'correct horse battery staple' })).rejects.toThrow();
    });
  });

  describe('user tokens', () => {
    it('stores a token, finds it by public id and revokes it once', async () => {
      const { user } = await signUp();
      const input = {
        tokenId: newId('tok'),
        userId: user.userId,
        publicId: randomString(8, LOWER_ALNUM),
        tokenHash: randomBytes(32).toString('hex'),
        createdAt: at(0),
        expiresAt: at(30 * 86_400_000),
        createdFrom: { address: '203.0.113.42', userAgent: 'curl/8.5.0' },
      };
      const stored = await store.insertUserToken(input);
      const unused = { address: null, userAgent: null };
      expect(stored).toEqual({ ...input, revokedAt: null, lastUsedAt: null, lastUsedFrom: unused });
      expect(await store.findUserTokenByPublicId(input.publicId)).toEqual(stored);
      expect(await store.revokeUserToken(input.tokenId, at(9))).toEqual({ ...stored, revokedAt: at(9) });
      expect(await store.revokeUserToken(input.tokenId, at(10))).toBeNull();
      expect((await store.findUserTokenByPublicId(input.publicId))?.revokedAt).toEqual(at(9));
    });

    it('refuses a token hash that is not 64 hex characters', async () => {
      const { user } = await signUp();
      await expect(
        store.insertUserToken({
          tokenId: newId('tok'),
          userId: user.userId,
          publicId: randomString(8, LOWER_ALNUM),
          tokenHash: 'mru_not_a_hash',
          createdAt: at(0),
          expiresAt: at(1),
          createdFrom: { address: null, userAgent: null },
        }),
      ).rejects.toThrow();
    });
  });

  describe('sessions', () => {
    /** A token of `userId` made at `offset`, from `address`. */
    const session = (userId: string, offset: number, address: string | null = '203.0.113.42') =>
      store.insertUserToken({
        tokenId: newId('tok'),
        userId,
        publicId: randomString(8, LOWER_ALNUM),
        tokenHash: randomBytes(32).toString('hex'),
        createdAt: at(offset),
        expiresAt: at(offset + 30 * 86_400_000),
        createdFrom: { address, userAgent: address === null ? null : 'Firefox' },
      });

    it('lists a user’s working sessions newest first: not another user’s, not ended or expired ones', async () => {
      const { user } = await signUp();
      const { user: other } = await signUp();
      const old = await session(user.userId, -40 * 86_400_000);
      const first = await session(user.userId, 1);
      const second = await session(user.userId, 2);
      const ended = await session(user.userId, 3);
      await session(other.userId, 4);
      await store.revokeUserToken(ended.tokenId, at(5));
      const listed = await store.listUserSessions(user.userId, at(10));
      expect(listed.map((t) => t.tokenId)).toEqual([second.tokenId, first.tokenId]);
      expect(listed.map((t) => t.tokenId)).not.toContain(old.tokenId);
    });

    it('ends one session of its user only, once', async () => {
      const { user } = await signUp();
      const { user: other } = await signUp();
      const mine = await session(user.userId, 1);
      expect(await store.endUserSession(other.userId, mine.tokenId, at(2))).toBeNull();
      expect(await store.endUserSession(user.userId, mine.tokenId, at(3))).toMatchObject({ revokedAt: at(3) });
      expect(await store.endUserSession(user.userId, mine.tokenId, at(4))).toBeNull();
      expect(await store.endUserSession(user.userId, 'tok_0000000000000000', at(4))).toBeNull();
    });

    it('ends every other session, or those beyond the newest n', async () => {
      const { user } = await signUp();
      const tokens = [];
      for (let i = 0; i < 4; i++) {
        tokens.push(await session(user.userId, i));
      }
      const surplus = await store.endSurplusUserSessions(user.userId, 3, at(10));
      expect(surplus.map((t) => t.tokenId)).toEqual([tokens[0]?.tokenId]);
      const others = await store.endOtherUserSessions(user.userId, tokens[2]?.tokenId ?? '', at(11));
      expect(others.map((t) => t.tokenId).sort()).toEqual([tokens[1]?.tokenId, tokens[3]?.tokenId].sort());
      expect((await store.listUserSessions(user.userId, at(12))).map((t) => t.tokenId)).toEqual([tokens[2]?.tokenId]);
    });

    it('records the newest use of each session from a batch, and never an older one', async () => {
      const { user } = await signUp();
      const token = await session(user.userId, 1);
      const use = (offset: number, address: string) => ({
        tokenId: token.tokenId,
        at: at(offset),
        address,
        userAgent: 'curl/8',
      });
      await store.touchUserTokens([use(5, '198.51.100.5'), use(7, '198.51.100.7'), use(6, '198.51.100.6')]);
      await store.touchUserTokens([use(4, '198.51.100.4')]);
      const [stored] = await store.listUserSessions(user.userId, at(10));
      expect(stored).toMatchObject({
        lastUsedAt: at(7),
        lastUsedFrom: { address: '198.51.100.7', userAgent: 'curl/8' },
        createdFrom: { address: '203.0.113.42', userAgent: 'Firefox' },
      });
    });

    it('knows which addresses signed in lately, forgetting those of sessions ended by a password change', async () => {
      const { user } = await signUp();
      const home = await session(user.userId, 1, '203.0.113.1');
      await session(user.userId, 2, '203.0.113.2');
      expect(await store.hasRecentSignIn(user.userId, '203.0.113.1', at(0))).toBe(true);
      expect(await store.hasRecentSignIn(user.userId, '203.0.113.1', at(2))).toBe(false);
      expect(await store.hasRecentSignIn(user.userId, '203.0.113.9', at(0))).toBe(false);
      const changed = await store.changePassword(user.userId, passwordHash(), at(5), home.tokenId);
      expect(changed?.user.passwordChangedAt).toEqual(at(5));
      expect(changed?.ended.map((t) => t.publicId)).toHaveLength(1);
      expect(await store.hasRecentSignIn(user.userId, '203.0.113.1', at(0)), 'the kept session still vouches').toBe(
        true,
      );
      expect(await store.hasRecentSignIn(user.userId, '203.0.113.2', at(0)), 'an ended one no longer').toBe(false);
      expect(await store.changePassword('usr_0000000000000000', passwordHash(), at(6), home.tokenId)).toBeNull();
    });
  });

  describe('organizations and members', () => {
    it('lets two users give their organizations the same name', async () => {
      const a = await signUp();
      const b = await signUp();
      const first = await store.createOrganization(a.user.userId, 'Acme', at(1));
      const second = await store.createOrganization(b.user.userId, 'Acme', at(1));
      expect(first.organizationId).not.toBe(second.organizationId);
      // An organization made by name (CLI, server handle) is still found by that name, apart from users' ones.
      const named = await store.ensureOrganization('Acme');
      expect(named.organizationId).not.toBe(first.organizationId);
      expect(await store.ensureOrganization('Acme')).toEqual(named);
    });

    it('lists a user’s organizations oldest membership first, and only theirs', async () => {
      const { user, membership } = await signUp({}, 0);
      const later = await store.createOrganization(user.userId, 'Second', at(10));
      await signUp({}, 5);
      expect((await store.listMemberships(user.userId)).map((m) => m.organizationId)).toEqual([
        membership.organizationId,
        later.organizationId,
      ]);
      expect(await store.getMembership(user.userId, later.organizationId)).toEqual(later);
    });

    it('answers null for the membership of an organization the user does not belong to, or that does not exist', async () => {
      const a = await signUp();
      const b = await signUp();
      expect(await store.getMembership(a.user.userId, b.membership.organizationId)).toBeNull();
      expect(await store.getMembership(a.user.userId, newId('org'))).toBeNull();
    });

    it('renames an organization', async () => {
      const { membership } = await signUp();
      const renamed = await store.renameOrganization(membership.organizationId, 'Renamed');
      expect(renamed).toEqual({
        organizationId: membership.organizationId,
        name: 'Renamed',
        plan: 'free',
        createdAt: membership.createdAt,
      });
      expect(await store.renameOrganization(newId('org'), 'Nobody')).toBeNull();
    });

    it('adds a member by email in any case, once', async () => {
      const owner = await signUp();
      const other = await signUp();
      const orgId = owner.membership.organizationId;
      const added = await store.addMember(orgId, other.user.email.toUpperCase(), 'member', at(3));
      expect(added).toEqual({
        userId: other.user.userId,
        email: other.user.email,
        name: other.user.name,
        role: 'member',
        joinedAt: at(3),
      });
      await expect(store.addMember(orgId, other.user.email, 'owner', at(4))).rejects.toThrow(DuplicateMemberError);
      expect(await store.addMember(orgId, `nobody-${randomString(6, LOWER_ALNUM)}@example.com`, 'member', at(4))).toBe(
        null,
      );
      expect((await store.listMembers(orgId)).map((m) => [m.userId, m.role])).toEqual([
        [owner.user.userId, 'owner'],
        [other.user.userId, 'member'],
      ]);
      expect((await store.getMembership(other.user.userId, orgId))?.role).toBe('member');
    });

    it('never leaves an organization without an owner', async () => {
      const owner = await signUp();
      const other = await signUp();
      const orgId = owner.membership.organizationId;
      await store.addMember(orgId, other.user.email, 'member', at(3));

      await expect(store.setMemberRole(orgId, owner.user.userId, 'member')).rejects.toThrow(LastOwnerError);
      await expect(store.removeMember(orgId, owner.user.userId)).rejects.toThrow(LastOwnerError);
      // A member staying a member is no change, even while the owner is the only one.
      expect((await store.setMemberRole(orgId, other.user.userId, 'member'))?.role).toBe('member');

      expect((await store.setMemberRole(orgId, other.user.userId, 'owner'))?.role).toBe('owner');
      expect((await store.setMemberRole(orgId, owner.user.userId, 'member'))?.role).toBe('member');
      expect(await store.removeMember(orgId, owner.user.userId)).toBe(true);
      expect(await store.removeMember(orgId, owner.user.userId)).toBe(false);
      expect(await store.setMemberRole(orgId, owner.user.userId, 'owner')).toBeNull();
      expect((await store.listMembers(orgId)).map((m) => m.role)).toEqual(['owner']);
    });

    it('keeps one owner when two owners demote each other at the same moment', async () => {
      const a = await signUp();
      const b = await signUp();
      const orgId = a.membership.organizationId;
      await store.addMember(orgId, b.user.email, 'owner', at(1));
      const outcomes = await Promise.allSettled([
        store.setMemberRole(orgId, a.user.userId, 'member'),
        store.setMemberRole(orgId, b.user.userId, 'member'),
      ]);
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      const refused = outcomes.find((o) => o.status === 'rejected');
      expect(refused?.status === 'rejected' && refused.reason).toBeInstanceOf(LastOwnerError);
      expect((await store.listMembers(orgId)).filter((m) => m.role === 'owner')).toHaveLength(1);
    });
  });
});

describe('migrating a store made before accounts', () => {
  it('keeps organizations, keys and their unique names when 002_accounts runs on a version-1 database', async () => {
    const db = await openPgliteDb();
    try {
      const all = await loadMigrations();
      const v1 = all.filter((m) => m.version === '001_init');
      expect(await migrate(db, v1)).toEqual(['001_init']);
      await db.query(
        "INSERT INTO organizations (organization_id, name, plan, created_at) VALUES ('org_0000000000000001', 'default', 'pro', now())",
      );
      expect(await migrate(db, all)).toEqual(all.map((m) => m.version).filter((v) => v !== '001_init'));
      const store = createSqlStore(db);
      const kept = await store.ensureOrganization('default');
      expect(kept).toMatchObject({ organizationId: 'org_0000000000000001', plan: 'pro' });
    } finally {
      await db.close();
    }
  });
});
