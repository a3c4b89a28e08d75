import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { READ_PERMISSIONS } from '../../src/lib/permissions.ts';
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

describe('mailroom keys create with permissions and an environment', () => {
  test(
    'gives the key exactly the permissions named, in the spec’s order, and its environment',
    async () => {
      const created = await mailroom(
        'keys',
        'create',
        '--name',
        'Staging sync',
        '--permission',
        'contacts:write',
        '--permission',
        'contacts:read',
        '--environment',
        'staging',
        '--json',
      );
      expect(created.code, created.stderr).toBe(0);
      expect(JSON.parse(created.stdout)).toMatchObject({
        permissions: ['contacts:read', 'contacts:write'],
        environment: 'staging',
        access: 'restricted',
      });
      const readOnly = await mailroom('keys', 'create', '--name', 'Reader', '--read-only');
      expect(readOnly.code, readOnly.stderr).toBe(0);
      expect(readOnly.stdout).toContain(
        `Environment production; permissions ${READ_PERMISSIONS.join(', ')} (read_only).`,
      );
    },
    TIMEOUT_MS,
  );

  test(
    'refuses an unknown permission, one given twice, an unknown environment and a --read-only that disagrees',
    async () => {
      for (const [args, message] of [
        [['--permission', 'contacts:delete'], /unknown permission; permissions: api_keys:read, /],
        [['--permission', 'contacts:read', '--permission', 'contacts:read'], /contacts:read is given twice/],
        [['--environment', 'qa'], /Allowed choices are development, staging, production/],
        [['--read-only', '--permission', 'contacts:write'], /--read-only stands for api_keys:read, contacts:read/],
      ] as const) {
        const refused = await mailroom('keys', 'create', '--name', 'Bad', ...args);
        expect(refused.code, args.join(' ')).toBe(1);
        expect(refused.stderr).toMatch(message);
        // The error and commander's "(run with --help for usage)"; a stale build's warning is no part of the answer.
        const lines = refused.stderr
          .trim()
          .split('\n')
          .filter((line) => !line.includes('src/ changed since the last build'));
        expect(lines.length, refused.stderr).toBeLessThanOrEqual(2);
      }
      const list = await mailroom('keys', 'list', '--json');
      expect((JSON.parse(list.stdout) as { name: string }[]).map((key) => key.name)).not.toContain('Bad');
    },
    TIMEOUT_MS,
  );
});
