import type { PasswordHasher } from '../../accounts/password.ts';
import { generateApiKey, hashApiKey, parseApiKey } from '../../keys/api-key.ts';
import { MAX_ACTIVE_KEYS } from '../../keys/issue.ts';
import { newId } from '../../lib/ids.ts';
import { ALL_PERMISSIONS, DEFAULT_ENVIRONMENT, orderPermissions, permissionsOfAccess } from '../../lib/permissions.ts';
import type { Store } from '../../store/types.ts';
import type { Seed, SeedKey } from './seed-file.ts';

// Writes a checked fixture (seed-file.ts) into an empty store through the store's own statements, as the API would
// have made each record: passwords hashed like any sign-up's, keys stored only as their keyed hash.

/** A key the fixture made, for the start-up banner: the plaintext only when it was drawn here (not a fixed one). */
export interface SeededKey {
  organization: string;
  name: string;
  keyId: string;
  /** The new key's text, shown once; undefined for a key whose text the fixture fixes. */
  generated?: string;
}

/** What a fixture put into the store. */
export interface SeedOutcome {
  counts: { organizations: number; users: number; apiKeys: number; contacts: number };
  keys: SeededKey[];
}

/** What seeding needs of the server. */
export interface SeedDeps {
  serverSecret: string;
  passwords: PasswordHasher;
  now: Date;
}

const DAY_MS = 86_400_000;

/** Writes `seed` into `store` (which should hold no data: names and emails of the fixture must be free). */
export async function seedStore(store: Store, seed: Seed, deps: SeedDeps): Promise<SeedOutcome> {
  // A millisecond each, in the file's order: lists (oldest first) show the records as the fixture lists them.
  let made = 0;
  const next = () => new Date(deps.now.getTime() + made++);
  // The hashes run on the thread pool, several at once: scrypt is what a fixture's start-up spends most on.
  const hashes = await Promise.all((seed.users ?? []).map((user) => deps.passwords.hash(user.password)));
  for (const [index, user] of (seed.users ?? []).entries()) {
    await store.insertUser(
      { userId: newId('usr'), email: user.email, name: user.name ?? null, passwordHash: hashes[index] as string },
      next(),
    );
  }
  const outcome: SeedOutcome = {
    counts: { organizations: 0, users: seed.users?.length ?? 0, apiKeys: 0, contacts: 0 },
    keys: [],
  };
  for (const organization of seed.organizations ?? []) {
    const { organizationId } = await store.ensureOrganization(organization.name, organization.plan);
    outcome.counts.organizations++;
    for (const member of organization.members ?? []) {
      await store.addMember(organizationId, member.email, member.role ?? 'member', next());
    }
    for (const key of organization.keys ?? []) {
      outcome.keys.push(await seedKey(store, organizationId, organization.name, key, { ...deps, now: next() }));
      outcome.counts.apiKeys++;
    }
    for (const contact of organization.contacts ?? []) {
      await store.createContact(organizationId, contact, next());
      outcome.counts.contacts++;
    }
  }
  return outcome;
}

/** Stores one key of the fixture: its fixed text's hash (checked by seed-file.ts), or a new key's. */
async function seedKey(
  store: Store,
  organizationId: string,
  organization: string,
  key: SeedKey,
  { serverSecret, now }: SeedDeps,
): Promise<SeededKey> {
  const fixed = key.apiKey === undefined ? undefined : parseApiKey(key.apiKey);
  if (fixed !== undefined && !fixed.ok) {
    throw new Error(`the fixed key of ${key.name} was not checked before seeding`);
  }
  const made = fixed ? { plaintext: fixed.plaintext, publicId: fixed.publicId } : generateApiKey();
  const permissions = key.permissions ?? (key.access ? permissionsOfAccess(key.access) : ALL_PERMISSIONS);
  const expiresAt =
    key.expiresAt !== undefined
      ? new Date(key.expiresAt)
      : key.expirationDays !== undefined
        ? new Date(now.getTime() + key.expirationDays * DAY_MS)
        : null;
  const record = await store.insertApiKey(
    {
      keyId: newId('key'),
      organizationId,
      name: key.name,
      publicId: made.publicId,
      keyHash: hashApiKey(made.plaintext, serverSecret),
      permissions: orderPermissions(permissions),
      environment: key.environment ?? DEFAULT_ENVIRONMENT,
      rateLimit: key.rateLimit ?? null,
      createdAt: now,
      expiresAt,
    },
    { maxActiveKeys: MAX_ACTIVE_KEYS },
  );
  return { organization, name: key.name, keyId: record.keyId, ...(fixed ? {} : { generated: made.plaintext }) };
}
