import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { StoreConfig } from '../store/index.ts';

/** Where the CLI keeps data, from flags or environment variables. */
export interface StoreSettings {
  dataDir: string;
  memory: boolean;
  databaseUrl?: string | undefined;
}

/** Thrown for a setting a user must fix; printed as one line. */
export class SettingsError extends Error {
  override name = 'SettingsError';
}

/** The store a command should open. */
export function storeConfig(settings: StoreSettings): StoreConfig {
  if (settings.databaseUrl) {
    if (!/^postgres(ql)?:\/\//.test(settings.databaseUrl)) {
      throw new SettingsError('DATABASE_URL must be a postgres:// or postgresql:// URL');
    }
    return { kind: 'postgres', url: settings.databaseUrl };
  }
  return settings.memory ? { kind: 'pglite' } : { kind: 'pglite', dataDir: resolve(settings.dataDir) };
}

/** A human description of the store, for start-up output. */
export function describeStore(settings: StoreSettings): string {
  if (settings.databaseUrl) {
    const url = new URL(settings.databaseUrl);
    url.password = url.password ? '****' : '';
    return `PostgreSQL at ${url.host}${url.pathname}`;
  }
  return settings.memory ? 'PGlite in memory (data is lost on exit)' : `PGlite in ${resolve(settings.dataDir)}`;
}

/**
 * The HMAC secret keys are hashed under. From MAILROOM_SERVER_SECRET when set; for the embedded
 * store a random one is created once and kept in the data directory; several PostgreSQL-backed
 * instances must share one, so it is required there.
 */
export async function resolveServerSecret(settings: StoreSettings, fromEnv: string | undefined): Promise<string> {
  if (fromEnv) {
    if (fromEnv.length < 16) {
      throw new SettingsError('MAILROOM_SERVER_SECRET must be at least 16 characters');
    }
    return fromEnv;
  }
  if (settings.databaseUrl) {
    throw new SettingsError(
      'MAILROOM_SERVER_SECRET is required with DATABASE_URL: every instance must hash keys with the same secret',
    );
  }
  if (settings.memory) {
    return randomBytes(32).toString('base64url');
  }
  const file = join(resolve(settings.dataDir), 'server-secret');
  const existing = await readFile(file, 'utf8').catch(() => '');
  if (existing.trim()) {
    return existing.trim();
  }
  const secret = randomBytes(32).toString('base64url');
  await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' }).catch(async () => {
    // Another process created it first: use theirs.
  });
  return (await readFile(file, 'utf8')).trim();
}
