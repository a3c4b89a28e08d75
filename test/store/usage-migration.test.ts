import { describe, expect, it } from 'vitest';
import { ALL_PERMISSIONS, accessOf, READ_PERMISSIONS } from '../../src/lib/permissions.ts';
import { loadMigrations, migrate } from '../../src/store/migrate.ts';
import { openPgliteDb } from '../../src/store/pglite.ts';
import { createSqlStore } from '../../src/store/sql-store.ts';

// Migration 007 adds the usage:read permission. A key made before it keeps behaving as it did: a full key still holds
// every permission and a read_only key every :read one (so both show the same `access`), and a restricted key keeps
// exactly its set.

describe('migrating keys made before usage:read', () => {
  it('gives full and read_only keys usage:read and leaves restricted keys as they were', async () => {
    const db = await openPgliteDb();
    try {
      const all = await loadMigrations();
      await migrate(
        db,
        all.filter((m) => m.version < '007'),
      );
      await db.query(
        "INSERT INTO organizations (organization_id, name, plan, created_at) VALUES ('org_0000000000000001', 'default', 'pro', now())",
      );
      const keys: [string, string, string[]][] = [
        ['key_0000000000000001', 'aaaaaaa1', ['api_keys:read', 'api_keys:write', 'contacts:read', 'contacts:write']],
        ['key_0000000000000002', 'aaaaaaa2', ['api_keys:read', 'contacts:read']],
        ['key_0000000000000003', 'aaaaaaa3', ['contacts:read']],
        ['key_0000000000000004', 'aaaaaaa4', ['api_keys:read', 'contacts:read', 'contacts:write']],
      ];
      for (const [keyId, publicId, permissions] of keys) {
        await db.query(
          `INSERT INTO api_keys (key_id, organization_id, name, public_id, key_hash, permissions, created_at)
           VALUES ($1, 'org_0000000000000001', 'Old key', $2, $3, $4, now())`,
          [keyId, publicId, 'a'.repeat(64), permissions],
        );
      }
      expect(await migrate(db, all)).toContain('007_usage');

      const store = createSqlStore(db);
      const found = await Promise.all(keys.map(([, publicId]) => store.findApiKeyByPublicId(publicId)));
      expect(found.map((key) => key?.permissions)).toEqual([
        ['api_keys:read', 'api_keys:write', 'contacts:read', 'contacts:write', 'usage:read'],
        ['api_keys:read', 'contacts:read', 'usage:read'],
        ['contacts:read'],
        ['api_keys:read', 'contacts:read', 'contacts:write'],
      ]);
      // As the spec's permissions stand in this branch: full and read_only mean what they meant before.
      expect(found[0]?.permissions).toEqual(ALL_PERMISSIONS);
      expect(found[1]?.permissions).toEqual(READ_PERMISSIONS);
      expect(found.map((key) => accessOf(key?.permissions ?? []))).toEqual([
        'full',
        'read_only',
        'restricted',
        'restricted',
      ]);
      expect(found.every((key) => key?.lastUsedFrom === null)).toBe(true);
    } finally {
      await db.close();
    }
  });
});
