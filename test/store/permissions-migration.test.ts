import { describe, expect, it } from 'vitest';
import { ALL_PERMISSIONS, accessOf, READ_PERMISSIONS } from '../../src/lib/permissions.ts';
import { loadMigrations, migrate } from '../../src/store/migrate.ts';
import { openPgliteDb } from '../../src/store/pglite.ts';
import { createSqlStore } from '../../src/store/sql-store.ts';

// Keys made before permissions existed had only `access`. Migration 005 gives each exactly what its access allowed,
// and a production environment, so no existing key behaves differently; migration 008 keeps each key's shorthand when
// the webhook permissions arrive (a full key gets both, a read_only key webhooks:read, a restricted one nothing).

describe('migrating keys made before permissions and environments', () => {
  it('gives a full key every permission and a read_only key every :read one, both in production', async () => {
    const db = await openPgliteDb();
    try {
      const all = await loadMigrations();
      const before = all.filter((m) => m.version < '005');
      expect(before.map((m) => m.version)).toContain('004_idempotency_without_organization');
      await migrate(db, before);
      await db.query(
        "INSERT INTO organizations (organization_id, name, plan, created_at) VALUES ('org_0000000000000001', 'default', 'pro', now())",
      );
      for (const [keyId, publicId, access] of [
        ['key_0000000000000001', 'aaaaaaa1', 'full'],
        ['key_0000000000000002', 'aaaaaaa2', 'read_only'],
      ]) {
        await db.query(
          `INSERT INTO api_keys (key_id, organization_id, name, public_id, key_hash, access, created_at)
           VALUES ($1, 'org_0000000000000001', 'Old key', $2, $3, $4, now())`,
          [keyId, publicId, 'a'.repeat(64), access],
        );
      }
      // Up to 005 only: what 005 did, before 007 adds usage:read (usage-migration.test.ts).
      expect(
        await migrate(
          db,
          all.filter((m) => m.version < '007'),
        ),
      ).toContain('005_permissions_and_environments');

      const keyOf = async (publicId: string) =>
        (
          await db.query<{ permissions: string[]; environment: string }>(
            'SELECT permissions, environment FROM api_keys WHERE public_id = $1',
            [publicId],
          )
        ).rows[0];
      const full = await keyOf('aaaaaaa1');
      const readOnly = await keyOf('aaaaaaa2');
      expect(full).toMatchObject({
        permissions: [
          'api_keys:read',
          'api_keys:write',
          'contacts:read',
          'contacts:write',
          'webhooks:read',
          'webhooks:write',
        ],
        environment: 'production',
      });
      expect(readOnly).toMatchObject({
        permissions: ['api_keys:read', 'contacts:read', 'webhooks:read'],
        environment: 'production',
      });
    } finally {
      await db.close();
    }
  });

  it('keeps every key’s shorthand when the webhook permissions arrive (008)', async () => {
    const db = await openPgliteDb();
    try {
      const all = await loadMigrations();
      await migrate(
        db,
        all.filter((m) => m.version < '008'),
      );
      await db.query(
        "INSERT INTO organizations (organization_id, name, plan, created_at) VALUES ('org_0000000000000001', 'default', 'pro', now())",
      );
      const before: [string, string[]][] = [
        ['aaaaaaa1', ['api_keys:read', 'api_keys:write', 'contacts:read', 'contacts:write']],
        ['aaaaaaa2', ['api_keys:read', 'contacts:read']],
        ['aaaaaaa3', ['api_keys:read', 'contacts:write']],
        ['aaaaaaa4', ['contacts:read']],
      ];
      for (const [index, [publicId, permissions]] of before.entries()) {
        await db.query(
          `INSERT INTO api_keys (key_id, organization_id, name, public_id, key_hash, permissions, created_at)
           VALUES ($1, 'org_0000000000000001', 'Old key', $2, $3, $4::text[], now())`,
          [`key_000000000000000${index + 1}`, publicId, 'a'.repeat(64), permissions],
        );
      }
      expect(await migrate(db, all)).toContain('008_webhooks');
      const store = createSqlStore(db);
      const migrated = async (publicId: string) => {
        const key = await store.findApiKeyByPublicId(publicId);
        return { permissions: key?.permissions, access: accessOf(key?.permissions ?? []) };
      };
      expect(await migrated('aaaaaaa1')).toEqual({ permissions: [...ALL_PERMISSIONS], access: 'full' });
      expect(await migrated('aaaaaaa2')).toEqual({ permissions: [...READ_PERMISSIONS], access: 'read_only' });
      expect(await migrated('aaaaaaa3')).toEqual({
        permissions: ['api_keys:read', 'contacts:write'],
        access: 'restricted',
      });
      expect(await migrated('aaaaaaa4')).toEqual({ permissions: ['contacts:read'], access: 'restricted' });
    } finally {
      await db.close();
    }
  });

  it('refuses a key without any permission or with an unknown environment at the database too', async () => {
    const db = await openPgliteDb();
    try {
      await migrate(db, await loadMigrations());
      await db.query(
        "INSERT INTO organizations (organization_id, name, plan, created_at) VALUES ('org_0000000000000001', 'default', 'pro', now())",
      );
      const insert = (permissions: string, environment: string) =>
        db.query(
          `INSERT INTO api_keys (key_id, organization_id, name, public_id, key_hash, permissions, environment, created_at)
           VALUES ('key_0000000000000009', 'org_0000000000000001', 'k', 'bbbbbbb9', $1, ${permissions}, $2, now())`,
          ['b'.repeat(64), environment],
        );
      await expect(insert("'{}'::text[]", 'production')).rejects.toThrow(/api_keys_permissions_check/);
      await expect(insert("ARRAY['contacts:read']", 'qa')).rejects.toThrow(/check constraint/);
    } finally {
      await db.close();
    }
  });
});
