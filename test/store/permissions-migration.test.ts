import { describe, expect, it } from 'vitest';
import { loadMigrations, migrate } from '../../src/store/migrate.ts';
import { openPgliteDb } from '../../src/store/pglite.ts';

// Keys made before permissions existed had only `access`. Migration 005 gives each exactly what its access allowed,
// and a production environment, so no existing key behaves differently.

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
        permissions: ['api_keys:read', 'api_keys:write', 'contacts:read', 'contacts:write'],
        environment: 'production',
      });
      expect(readOnly).toMatchObject({ permissions: ['api_keys:read', 'contacts:read'], environment: 'production' });
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
