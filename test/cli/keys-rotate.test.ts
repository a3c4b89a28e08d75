import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freshDataDir } from '../helpers/data-dir.ts';
import { runMailroom } from './helpers/cli.ts';

const TIMEOUT_MS = 60_000;

let dataDir: string;

/** Runs `mailroom ...args` on this file's data directory. */
const mailroom = (...args: string[]) => runMailroom(dataDir, ...args);

beforeAll(async () => {
  dataDir = await freshDataDir();
});
afterAll(async () => {
  if (dataDir) {
    await rm(dataDir, { recursive: true, force: true });
  }
});

describe('mailroom keys rotate', () => {
  test(
    'prints the new key once and the old key’s new expiry; the replacement inherits the settings',
    async () => {
      const created = await mailroom('keys', 'create', '--name', 'Deploy bot', '--rate-limit', '30', '--json');
      expect(created.code, created.stderr).toBe(0);
      const old = JSON.parse(created.stdout) as { keyId: string; apiKey: string };

      const started = Date.now();
      const rotated = await mailroom('keys', 'rotate', old.keyId, '--grace-minutes', '30', '--json');
      expect(rotated.code, rotated.stderr).toBe(0);
      const data = JSON.parse(rotated.stdout) as {
        keyId: string;
        apiKey: string;
        name: string;
        rateLimit: number;
        createdAt: string;
        previousKey: { keyId: string; expirationTs: string };
      };
      expect(data).toMatchObject({ name: 'Deploy bot', rateLimit: 30, previousKey: { keyId: old.keyId } });
      expect(data.apiKey).toMatch(/^mr_[a-z0-9]{8}_[A-Za-z0-9]{38}$/);
      expect(Date.parse(data.previousKey.expirationTs) - Date.parse(data.createdAt)).toBe(30 * 60_000);
      expect(Date.parse(data.createdAt)).toBeGreaterThanOrEqual(started - 1000);

      const listed = await mailroom('keys', 'list', '--json');
      const keys = JSON.parse(listed.stdout) as { keyId: string; expirationTs: string | null }[];
      expect(keys.find((k) => k.keyId === old.keyId)?.expirationTs).toBe(data.previousKey.expirationTs);
      expect(keys.find((k) => k.keyId === data.keyId)?.expirationTs).toBeNull();

      const text = await mailroom('keys', 'rotate', data.keyId);
      expect(text.code, text.stderr).toBe(0);
      const lines = text.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(
        new RegExp(`^Rotated ${data.keyId} "Deploy bot": its replacement is key_[a-z0-9]{16}\\.$`),
      );
      expect(lines[1]).toMatch(new RegExp(`^${data.keyId} keeps working until \\d{4}-\\d{2}-\\d{2}T`));
      expect(lines[2]).toBe('New API key (shown once: store it now):');
      expect(lines[3]).toMatch(/^mr_[a-z0-9]{8}_[A-Za-z0-9]{38}$/);
    },
    4 * TIMEOUT_MS,
  );

  test(
    'refuses a second rotation, an unknown key and an out-of-range grace period with one line and exit 1',
    async () => {
      const created = await mailroom('keys', 'create', '--name', 'Once', '--json');
      const { keyId } = JSON.parse(created.stdout) as { keyId: string };
      expect((await mailroom('keys', 'rotate', keyId, '--grace-minutes', '0')).code).toBe(0);

      for (const [args, message] of [
        [
          [keyId],
          new RegExp(`^mailroom: ${keyId} was already rotated; its replacement is key_[a-z0-9]{16}: rotate that one$`),
        ],
        [['key_0000000000000000'], /^mailroom: no active API key key_0000000000000000$/],
        [[keyId, '--grace-minutes', '10081'], /--grace-minutes must be a whole number from 0 to 10080\./],
      ] as const) {
        const refused = await mailroom('keys', 'rotate', ...args);
        expect(refused.code, refused.stdout).toBe(1);
        expect(refused.stdout).toBe('');
        expect(refused.stderr.trimEnd().split('\n')[0]).toMatch(message);
      }
    },
    4 * TIMEOUT_MS,
  );
});
