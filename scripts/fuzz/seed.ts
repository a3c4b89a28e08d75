import { createPasswordHasher } from '../../src/accounts/password.ts';
import { generateApiKey } from '../../src/keys/api-key.ts';
import { issueApiKey, issueUserToken } from '../../src/keys/issue.ts';
import { newId } from '../../src/lib/ids.ts';
import { openPgliteDb, openPgliteStore } from '../../src/store/index.ts';
import type { RowKind } from './spec.ts';

/** One organization of the run with its keys, its owner (a user with a token) and the rows seeded for cases. */
export interface Pod {
  organizationId: string;
  full: string;
  fullKeyId: string;
  readOnly: string;
  /** The owner of `organizationId` and of `organizations`: what every user-token case of the pod calls as. */
  user: { userId: string; email: string; token: string };
  /** Someone with an account who belongs to none of the pod's organizations (the one `addMember` adds). */
  addable: string;
  /** Contact ids, each reserved for one case. */
  contacts: string[];
  /** Key ids (of `organizationId`), each reserved for one case. */
  keys: string[];
  /** Organizations the user owns, each reserved for one case. */
  organizations: string[];
  /** User ids of members of `organizationId`, each reserved for one case. */
  members: string[];
  /** Tokens of the user (plaintext and id), each reserved for one case (log-out revokes it). */
  tokens: { token: string; tokenId: string }[];
  /** Accounts with the password {@link Seeded.password} (email and user id), each reserved for one case (log-in). */
  logins: { email: string; userId: string }[];
}

/** How many rows of each kind a pod holds for its cases. */
export type RowCounts = Record<RowKind, number>;

/** What the run seeded. */
export interface Seeded {
  pods: Pod[];
  revoked: string;
  expired: string;
  /** Well-formed with a valid checksum, never stored. */
  unknown: string;
  /** A user token that was logged out. */
  loggedOut: string;
  /** The password of every seeded account. */
  password: string;
}

/** Every stored row, by `table:id`, as JSON without `last_used_at` (which the server updates on every use). */
export type Snapshot = Map<string, string>;

const DAY_MS = 86_400_000;
/** The scrypt cost of the seeded accounts' hash (the hash says its cost, so the server verifies it as stored). */
const SEED_PASSWORD_COST = { logN: 10, r: 8, p: 1 };

/**
 * Seeds `pods` organizations on `plan` into the embedded database at `dataDir` (created and migrated if needed),
 * each with a full and a read_only key, an owner with a token, someone to add as a member, and `rows` rows of each
 * kind for cases to aim at, plus a revoked and an expired key and a logged-out token. Uses the store and key code
 * the server uses, so rows are exactly what it would write (a sign-up is `createUser`, as the handler calls it).
 */
export async function seedStore(
  dataDir: string,
  serverSecret: string,
  options: { pods: number; rows: RowCounts; plan: string; prefix: string },
): Promise<Seeded> {
  const store = await openPgliteStore({ dataDir });
  try {
    const now = new Date();
    const password = `${options.prefix}-password`;
    // One hash for every seeded account: the salt is in it, so it verifies for each.
    const passwordHash = await createPasswordHasher(SEED_PASSWORD_COST).hash(password);
    const signUp = async (email: string, name: string) => {
      const { user, membership } = await store.createUser({
        user: { userId: newId('usr'), email, name, passwordHash },
        organizationName: `${name}'s organization`,
        at: now,
      });
      return { userId: user.userId, organizationId: membership.organizationId };
    };
    const tokenOf = async (userId: string) => {
      const { plaintext, record } = await issueUserToken(store, serverSecret, { userId, now });
      return { token: plaintext, tokenId: record.tokenId };
    };
    const pods: Pod[] = [];
    for (let p = 0; p < options.pods; p++) {
      const org = await store.ensureOrganization(`${options.prefix}-pod-${p}`, options.plan);
      const issue = (name: string, access: 'full' | 'read_only' = 'full') =>
        issueApiKey(store, serverSecret, { organizationId: org.organizationId, name, access, now });
      const full = await issue('fuzz full');
      const readOnly = await issue('fuzz read-only', 'read_only');
      const domain = `pod-${p}.fuzz.example`;
      const owner = await signUp(`owner@${domain}`, `Owner ${p}`);
      await store.addMember(org.organizationId, `owner@${domain}`, 'owner', now);
      await signUp(`addable@${domain}`, `Addable ${p}`);
      const pod: Pod = {
        organizationId: org.organizationId,
        full: full.plaintext,
        fullKeyId: full.record.keyId,
        readOnly: readOnly.plaintext,
        user: { userId: owner.userId, email: `owner@${domain}`, token: (await tokenOf(owner.userId)).token },
        addable: `addable@${domain}`,
        contacts: [],
        keys: [],
        organizations: [],
        members: [],
        tokens: [],
        logins: [],
      };
      for (let i = 0; i < options.rows.contact; i++) {
        const contact = await store.createContact(
          org.organizationId,
          { email: `row-${i}@${domain}`, firstName: 'Seeded', lastName: `Row ${i}` },
          now,
        );
        pod.contacts.push(contact.contactId);
      }
      for (let i = 0; i < options.rows.key; i++) {
        pod.keys.push((await issue(`seeded row ${i}`)).record.keyId);
      }
      for (let i = 0; i < options.rows.organization; i++) {
        pod.organizations.push((await store.createOrganization(owner.userId, `Seeded row ${i}`, now)).organizationId);
      }
      for (let i = 0; i < options.rows.member; i++) {
        const email = `member-${i}@${domain}`;
        const member = await signUp(email, `Member ${i}`);
        await store.addMember(org.organizationId, email, 'member', now);
        pod.members.push(member.userId);
      }
      for (let i = 0; i < options.rows.token; i++) {
        pod.tokens.push(await tokenOf(owner.userId));
      }
      for (let i = 0; i < options.rows.login; i++) {
        const email = `login-${i}@${domain}`;
        pod.logins.push({ email, userId: (await signUp(email, `Login ${i}`)).userId });
      }
      pods.push(pod);
    }
    const first = pods[0];
    if (!first) {
      throw new Error('seedStore needs at least one pod');
    }
    const revoked = await issueApiKey(store, serverSecret, {
      organizationId: first.organizationId,
      name: 'fuzz revoked',
      now,
    });
    await store.revokeApiKey(first.organizationId, revoked.record.keyId, now);
    const expired = await issueApiKey(store, serverSecret, {
      organizationId: first.organizationId,
      name: 'fuzz expired',
      expiresInDays: 1,
      now: new Date(now.getTime() - 2 * DAY_MS),
    });
    const loggedOut = await tokenOf(first.user.userId);
    await store.revokeUserToken(loggedOut.tokenId, now);
    return {
      pods,
      revoked: revoked.plaintext,
      expired: expired.plaintext,
      unknown: generateApiKey().plaintext,
      loggedOut: loggedOut.token,
      password,
    };
  } finally {
    await store.close();
  }
}

/** Reads every row of the database at `dataDir` (no server may have it open). */
export async function snapshotStore(dataDir: string): Promise<Snapshot> {
  const db = await openPgliteDb({ dataDir });
  try {
    const snapshot: Snapshot = new Map();
    for (const [table, id] of [
      ['organizations', ['organization_id']],
      ['api_keys', ['key_id']],
      ['contacts', ['contact_id']],
      ['users', ['user_id']],
      ['user_tokens', ['token_id']],
      ['memberships', ['organization_id', 'user_id']],
    ] as const) {
      const { rows } = await db.query<Record<string, unknown>>(`SELECT * FROM ${table} ORDER BY ${id.join(', ')}`);
      for (const row of rows) {
        const { last_used_at: _lastUsed, ...rest } = row;
        snapshot.set(`${table}:${id.map((column) => String(row[column])).join('/')}`, JSON.stringify(rest));
      }
    }
    return snapshot;
  } finally {
    await db.close();
  }
}
