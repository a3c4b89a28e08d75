import { generateApiKey } from '../../src/keys/api-key.ts';
import { issueApiKey } from '../../src/keys/issue.ts';
import { openPgliteDb, openPgliteStore } from '../../src/store/index.ts';

/** One organization of the run with its keys and the rows seeded for cases to aim at. */
export interface Pod {
  organizationId: string;
  full: string;
  fullKeyId: string;
  readOnly: string;
  /** Contact ids, each reserved for one case. */
  contacts: string[];
  /** Key ids, each reserved for one case. */
  keys: string[];
}

/** What the run seeded. */
export interface Seeded {
  pods: Pod[];
  revoked: string;
  expired: string;
  /** Well-formed with a valid checksum, never stored. */
  unknown: string;
}

/** Every stored row, by `table:id`, as JSON without `last_used_at` (which the server updates on every use). */
export type Snapshot = Map<string, string>;

const DAY_MS = 86_400_000;

/**
 * Seeds `pods` organizations on `plan` into the embedded database at `dataDir` (created and migrated if needed),
 * each with a full and a read_only key and `contactsPerPod` contacts and `keysPerPod` keys for cases to aim at, plus a
 * revoked and an expired key. Uses the store and key code the server uses, so rows are exactly what it would write.
 */
export async function seedStore(
  dataDir: string,
  serverSecret: string,
  options: { pods: number; contactsPerPod: number; keysPerPod: number; plan: string; prefix: string },
): Promise<Seeded> {
  const store = await openPgliteStore({ dataDir });
  try {
    const now = new Date();
    const pods: Pod[] = [];
    for (let p = 0; p < options.pods; p++) {
      const org = await store.ensureOrganization(`${options.prefix}-pod-${p}`, options.plan);
      const issue = (name: string, access: 'full' | 'read_only' = 'full') =>
        issueApiKey(store, serverSecret, { organizationId: org.organizationId, name, access, now });
      const full = await issue('fuzz full');
      const readOnly = await issue('fuzz read-only', 'read_only');
      const pod: Pod = {
        organizationId: org.organizationId,
        full: full.plaintext,
        fullKeyId: full.record.keyId,
        readOnly: readOnly.plaintext,
        contacts: [],
        keys: [],
      };
      for (let i = 0; i < options.contactsPerPod; i++) {
        const contact = await store.createContact(
          org.organizationId,
          { email: `row-${i}@pod-${p}.fuzz.example`, firstName: 'Seeded', lastName: `Row ${i}` },
          now,
        );
        pod.contacts.push(contact.contactId);
      }
      for (let i = 0; i < options.keysPerPod; i++) {
        pod.keys.push((await issue(`seeded row ${i}`)).record.keyId);
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
    return { pods, revoked: revoked.plaintext, expired: expired.plaintext, unknown: generateApiKey().plaintext };
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
      ['organizations', 'organization_id'],
      ['api_keys', 'key_id'],
      ['contacts', 'contact_id'],
    ] as const) {
      const { rows } = await db.query<Record<string, unknown>>(`SELECT * FROM ${table} ORDER BY ${id}`);
      for (const row of rows) {
        const { last_used_at: _lastUsed, ...rest } = row;
        snapshot.set(`${table}:${String(row[id])}`, JSON.stringify(rest));
      }
    }
    return snapshot;
  } finally {
    await db.close();
  }
}
