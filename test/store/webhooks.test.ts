import { afterAll, describe, expect, it } from 'vitest';
import { generateApiKey, hashApiKey } from '../../src/keys/api-key.ts';
import { LOWER_ALNUM, newId, randomString } from '../../src/lib/ids.ts';
import { ALL_PERMISSIONS } from '../../src/lib/permissions.ts';
import { openPgliteStore } from '../../src/store/pglite.ts';
import { openPostgresStore } from '../../src/store/postgres.ts';
import { type ApiKeyRecord, DuplicateApiKeyError, type NewApiKey, type Store } from '../../src/store/types.ts';
import { keyEvent } from '../../src/webhooks/events.ts';
import { PG_URL, withAdmin } from '../helpers/postgres.ts';

// The outbox is written in the same transaction as the key change that causes its event: a change that fails writes
// no event, an event that can't be written undoes its change. Claims of due deliveries never overlap, on PGlite and
// on the shared PostgreSQL (FOR UPDATE SKIP LOCKED).

const RUN = randomString(8, LOWER_ALNUM);
const schemas: string[] = [];
afterAll(async () => {
  await withAdmin(async (admin) => {
    for (const schema of schemas) {
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });
});

const backends = [
  { name: 'PGlite', open: () => openPgliteStore() },
  {
    name: 'PostgreSQL',
    open: () => {
      const schema = `mailroom_test_${RUN}_webhooks_${schemas.length}`;
      schemas.push(schema);
      return openPostgresStore({ url: PG_URL, schema });
    },
  },
];

function newKey(organizationId: string): NewApiKey {
  const { plaintext, publicId } = generateApiKey();
  return {
    keyId: newId('key'),
    organizationId,
    name: 'outbox',
    publicId,
    keyHash: hashApiKey(plaintext, 'secret'),
    permissions: [...ALL_PERMISSIONS],
    environment: 'production',
    rateLimit: null,
    createdAt: new Date(),
    expiresAt: null,
  };
}

async function countEvents(store: Store, organizationId: string): Promise<number> {
  // Through the delivery log of an endpoint subscribed to everything: one delivery per event.
  const [endpoint] = await store.listWebhookEndpoints(organizationId);
  return (await store.listWebhookDeliveries(organizationId, endpoint?.endpointId ?? '', 1000))?.length ?? -1;
}

async function organizationWithEndpoint(store: Store): Promise<string> {
  const { organizationId } = await store.ensureOrganization(`org-${randomString(8, LOWER_ALNUM)}`, 'free');
  await store.insertWebhookEndpoint({
    endpointId: newId('we'),
    organizationId,
    url: 'https://hooks.example.com/in',
    description: null,
    enabledEvents: ['*'],
    disabled: false,
    secretSealed: new Uint8Array([1, 2, 3]),
    createdAt: new Date(),
  });
  return organizationId;
}

describe.each(backends)('the outbox on $name', ({ open }) => {
  it('writes a key change and its event together, and neither when the change fails', async () => {
    const store = await open();
    try {
      const organizationId = await organizationWithEndpoint(store);
      const key = newKey(organizationId);
      const events = (created: ApiKeyRecord) => [keyEvent('api_key.created', created, new Date())];
      await store.insertApiKey(key, { events });
      expect(await countEvents(store, organizationId)).toBe(1);
      // The same ids again: the insert fails, and so no event is written.
      await expect(store.insertApiKey(key, { events })).rejects.toBeInstanceOf(DuplicateApiKeyError);
      expect(await countEvents(store, organizationId)).toBe(1);
      // A revoke of a key that is not there writes nothing either.
      expect(await store.revokeApiKey(organizationId, 'key_0000000000000000', new Date(), () => [])).toBeNull();
      expect(await countEvents(store, organizationId)).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('undoes the change when its event cannot be written', async () => {
    const store = await open();
    try {
      const organizationId = await organizationWithEndpoint(store);
      const key = newKey(organizationId);
      const broken = () => [
        { organizationId: 'org_does_not_exist', type: 'api_key.created' as const, at: new Date(), data: {} },
      ];
      await expect(store.insertApiKey(key, { events: broken })).rejects.toThrow();
      expect(await store.getApiKey(organizationId, key.keyId)).toBeNull();
      const kept = newKey(organizationId);
      await store.insertApiKey(kept);
      await expect(store.revokeApiKey(organizationId, kept.keyId, new Date(), broken)).rejects.toThrow();
      expect((await store.getApiKey(organizationId, kept.keyId))?.revokedAt).toBeNull();
      expect(await countEvents(store, organizationId)).toBe(0);
    } finally {
      await store.close();
    }
  });

  it('hands each due delivery to one claimant, even when two claim at once', async () => {
    const first = await open();
    try {
      const organizationId = await organizationWithEndpoint(first);
      const at = new Date();
      await first.enqueueWebhookEvents(
        Array.from({ length: 30 }, () => ({ organizationId, type: 'ping' as const, at, data: {} })),
      );
      // Two claimants over separate connections (the same store's pool on PostgreSQL holds several).
      const later = new Date(at.getTime() + 1000);
      const [a, b] = await Promise.all([
        first.claimWebhookDeliveries(later, 60_000, 20),
        first.claimWebhookDeliveries(later, 60_000, 20),
      ]);
      const ids = [...a, ...b].map((d) => d.deliveryId);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.length).toBe(30);
      // Claimed rows are leased: nothing is due again until the lease runs out.
      expect(await first.claimWebhookDeliveries(later, 60_000, 50)).toEqual([]);
      expect(await first.claimWebhookDeliveries(new Date(later.getTime() + 61_000), 60_000, 50)).toHaveLength(30);
    } finally {
      await first.close();
    }
  });
});
