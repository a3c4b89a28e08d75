import { createPasswordHasher } from '../../../src/accounts/password.ts';
import { generateApiKey } from '../../../src/keys/api-key.ts';
import { issueApiKey, issueUserToken } from '../../../src/keys/issue.ts';
import { newId } from '../../../src/lib/ids.ts';
import { type AccessShorthand, permissionsOfAccess } from '../../../src/lib/permissions.ts';
import { openPgliteDb, openPgliteStore, type Store } from '../../../src/store/index.ts';
import { sealSecret } from '../../../src/webhooks/seal.ts';
import { generateWebhookSecret } from '../../../src/webhooks/signature.ts';
import type { RowKind } from './spec.ts';

/** One organization of the run with its keys, its owner (a user with a token) and the rows seeded for cases. */
export interface Pod {
  organizationId: string;
  full: string;
  fullKeyId: string;
  readOnly: string;
  /** A key of the organization holding only `contacts:read`. */
  contactsReader: string;
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
  /** Session ids of the owner (tokens the owner's cases never call with), each reserved for one case (ending it). */
  sessions: string[];
  /** Accounts with the seeded password and a token, each reserved for one case that calls as it (password change). */
  accounts: { email: string; userId: string; token: string }[];
  /** Webhook endpoint ids of `organizationId`, each reserved for one case. */
  endpoints: string[];
  /** Deliveries (of one endpoint of `organizationId`), each reserved for one case (a retry). */
  deliveries: { endpointId: string; deliveryId: string }[];
  /** Organizations of their own with a full key, each reserved for one case (an endpoint create). */
  hookOrganizations: { organizationId: string; key: string }[];
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

/** Every stored row, by `table:id`, as JSON without the last use (`last_used_*`, which every use updates). */
export type Snapshot = Map<string, string>;

const DAY_MS = 86_400_000;
/** The scrypt cost of the seeded accounts' hash (the hash says its cost, so the server verifies it as stored). */
const SEED_PASSWORD_COST = { logN: 10, r: 8, p: 1 };

/** What seeding writes with: the store, the server's secret, one `now`, and the one password hash of every account. */
interface Seeder {
  store: Store;
  serverSecret: string;
  now: Date;
  passwordHash: string;
  plan: string;
}

/** A sign-up, as the handler does it (`createUser`): the user and the organization they own. */
async function signUp(seeder: Seeder, email: string, name: string) {
  const { user, membership } = await seeder.store.createUser({
    user: { userId: newId('usr'), email, name, passwordHash: seeder.passwordHash },
    organizationName: `${name}'s organization`,
    at: seeder.now,
  });
  return { userId: user.userId, organizationId: membership.organizationId };
}

/** A new user token of `userId`: its plaintext and id. */
async function tokenOf(seeder: Seeder, userId: string) {
  const { plaintext, record } = await issueUserToken(seeder.store, seeder.serverSecret, {
    userId,
    now: seeder.now,
    origin: { address: '127.0.0.1', userAgent: 'mailroom fuzz seeder' },
  });
  return { token: plaintext, tokenId: record.tokenId };
}

/** A new API key of the organization. */
function issueKey(seeder: Seeder, organizationId: string, name: string, access: AccessShorthand = 'full') {
  const permissions = permissionsOfAccess(access);
  return issueApiKey(seeder.store, seeder.serverSecret, { organizationId, name, permissions, now: seeder.now });
}

/** Pod `p`: its organization on `plan`, a full, a read_only and a contacts:read key, an owner with a token, someone to add. */
async function seedPod(seeder: Seeder, p: number, options: { plan: string; prefix: string }): Promise<Pod> {
  const org = await seeder.store.ensureOrganization(`${options.prefix}-pod-${p}`, options.plan);
  const full = await issueKey(seeder, org.organizationId, 'fuzz full');
  const readOnly = await issueKey(seeder, org.organizationId, 'fuzz read-only', 'read_only');
  const contactsReader = await issueApiKey(seeder.store, seeder.serverSecret, {
    organizationId: org.organizationId,
    name: 'fuzz contacts reader',
    permissions: ['contacts:read'],
    now: seeder.now,
  });
  const domain = `pod-${p}.fuzz.example`;
  const owner = await signUp(seeder, `owner@${domain}`, `Owner ${p}`);
  await seeder.store.addMember(org.organizationId, `owner@${domain}`, 'owner', seeder.now);
  await signUp(seeder, `addable@${domain}`, `Addable ${p}`);
  return {
    organizationId: org.organizationId,
    full: full.plaintext,
    fullKeyId: full.record.keyId,
    readOnly: readOnly.plaintext,
    contactsReader: contactsReader.plaintext,
    user: { userId: owner.userId, email: `owner@${domain}`, token: (await tokenOf(seeder, owner.userId)).token },
    addable: `addable@${domain}`,
    contacts: [],
    keys: [],
    organizations: [],
    members: [],
    tokens: [],
    logins: [],
    sessions: [],
    accounts: [],
    endpoints: [],
    deliveries: [],
    hookOrganizations: [],
  };
}

/** A webhook endpoint of `organizationId`, as the create handler stores it (public address, every event). */
function insertEndpoint(seeder: Seeder, organizationId: string, i: number) {
  return seeder.store.insertWebhookEndpoint({
    endpointId: newId('we'),
    organizationId,
    url: `https://93.184.215.14/fuzz-row-${i}`,
    description: null,
    enabledEvents: ['*'],
    disabled: false,
    secretSealed: sealSecret(generateWebhookSecret(), seeder.serverSecret),
    createdAt: seeder.now,
  });
}

/** The rows of each kind the pod holds for its cases (`rows` of each). */
async function seedPodRows(seeder: Seeder, pod: Pod, p: number, rows: RowCounts): Promise<void> {
  const { store, now } = seeder;
  const domain = `pod-${p}.fuzz.example`;
  for (let i = 0; i < rows.contact; i++) {
    const contact = await store.createContact(
      pod.organizationId,
      { email: `row-${i}@${domain}`, firstName: 'Seeded', lastName: `Row ${i}` },
      now,
    );
    pod.contacts.push(contact.contactId);
  }
  for (let i = 0; i < rows.key; i++) {
    pod.keys.push((await issueKey(seeder, pod.organizationId, `seeded row ${i}`)).record.keyId);
  }
  for (let i = 0; i < rows.organization; i++) {
    pod.organizations.push((await store.createOrganization(pod.user.userId, `Seeded row ${i}`, now)).organizationId);
  }
  for (let i = 0; i < rows.member; i++) {
    const email = `member-${i}@${domain}`;
    const member = await signUp(seeder, email, `Member ${i}`);
    await store.addMember(pod.organizationId, email, 'member', now);
    pod.members.push(member.userId);
  }
  for (let i = 0; i < rows.token; i++) {
    pod.tokens.push(await tokenOf(seeder, pod.user.userId));
  }
  for (let i = 0; i < rows.login; i++) {
    const email = `login-${i}@${domain}`;
    pod.logins.push({ email, userId: (await signUp(seeder, email, `Login ${i}`)).userId });
  }
  for (let i = 0; i < rows.session; i++) {
    pod.sessions.push((await tokenOf(seeder, pod.user.userId)).tokenId);
  }
  for (let i = 0; i < rows.account; i++) {
    const email = `account-${i}@${domain}`;
    const { userId } = await signUp(seeder, email, `Account ${i}`);
    pod.accounts.push({ email, userId, token: (await tokenOf(seeder, userId)).token });
  }
  for (let i = 0; i < rows.endpoint; i++) {
    pod.endpoints.push((await insertEndpoint(seeder, pod.organizationId, i)).endpointId);
  }
  if (rows.delivery > 0) {
    const { endpointId } = await insertEndpoint(seeder, pod.organizationId, rows.endpoint);
    for (let i = 0; i < rows.delivery; i++) {
      const [delivery] = await store.enqueueWebhookEvents([
        { organizationId: pod.organizationId, type: 'ping', at: now, endpointId, data: { endpointId } },
      ]);
      pod.deliveries.push({ endpointId, deliveryId: delivery?.deliveryId ?? '' });
    }
  }
  for (let i = 0; i < rows.hookOrganization; i++) {
    const org = await store.ensureOrganization(`${domain}-hooks-${i}`, seeder.plan);
    pod.hookOrganizations.push({
      organizationId: org.organizationId,
      key: (await issueKey(seeder, org.organizationId, 'fuzz hooks')).plaintext,
    });
  }
}

/** Credentials that must fail, made in the first pod: a revoked and an expired key, a logged-out token. */
async function seedDeadCredentials(seeder: Seeder, first: Pod) {
  const { store, serverSecret, now } = seeder;
  const revoked = await issueKey(seeder, first.organizationId, 'fuzz revoked');
  await store.revokeApiKey(first.organizationId, revoked.record.keyId, now);
  const expired = await issueApiKey(store, serverSecret, {
    organizationId: first.organizationId,
    name: 'fuzz expired',
    expiresInDays: 1,
    now: new Date(now.getTime() - 2 * DAY_MS),
  });
  const loggedOut = await tokenOf(seeder, first.user.userId);
  await store.revokeUserToken(loggedOut.tokenId, now);
  return { revoked: revoked.plaintext, expired: expired.plaintext, loggedOut: loggedOut.token };
}

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
    const password = `${options.prefix}-password`;
    // One hash for every seeded account: the salt is in it, so it verifies for each.
    const passwordHash = await createPasswordHasher(SEED_PASSWORD_COST).hash(password);
    const seeder: Seeder = { store, serverSecret, now: new Date(), passwordHash, plan: options.plan };
    const pods: Pod[] = [];
    for (let p = 0; p < options.pods; p++) {
      const pod = await seedPod(seeder, p, options);
      await seedPodRows(seeder, pod, p, options.rows);
      pods.push(pod);
    }
    const first = pods[0];
    if (!first) {
      throw new Error('seedStore needs at least one pod');
    }
    const dead = await seedDeadCredentials(seeder, first);
    return { pods, ...dead, unknown: generateApiKey().plaintext, password };
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
      // Deliveries are left out: every key change writes new ones (the outbox), which no answer names.
      ['webhook_endpoints', ['endpoint_id']],
    ] as const) {
      const { rows } = await db.query<Record<string, unknown>>(`SELECT * FROM ${table} ORDER BY ${id.join(', ')}`);
      for (const row of rows) {
        const { last_used_at: _at, last_used_address: _address, last_used_user_agent: _agent, ...rest } = row;
        snapshot.set(`${table}:${id.map((column) => String(row[column])).join('/')}`, JSON.stringify(rest));
      }
    }
    return snapshot;
  } finally {
    await db.close();
  }
}
