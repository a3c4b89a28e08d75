// What the run needs on the target, made through the public API with the caller's key only: a read_only
// key (403s, conflicting credentials), a key capped at one request a minute (429s), a revoked key (its
// 401), a well-formed key the target never issued (unknown-key 401). Everything the run creates is
// remembered and removed at the end.
import { generateApiKey } from '../keys/api-key.ts';
import type { CaseBook, CaseContext } from './cases.ts';
import type { Json } from './spec.ts';

/** The keys the cases use, all made through the API. */
export interface Fixtures {
  /** The caller's key: full access; every case without a reason to use another key uses it. */
  admin: string;
  organizationId: string;
  readOnly: { key: string; keyId: string };
  /** `rateLimit: 1`: its one request a minute is spent before each 429 case. */
  capped: { key: string; keyId: string };
  revoked: { key: string; keyId: string };
  /** Well-formed with a valid checksum, never issued. */
  unknown: string;
}

/** Keys and contacts the run created, removed in `cleanUp`. */
export class Created {
  readonly keys = new Set<string>();
  readonly contacts = new Set<string>();

  /** Remembers whatever a 2xx body says was created (a key or a contact). */
  note(body: Json): void {
    const data = body?.data;
    if (typeof data?.keyId === 'string' && typeof data?.apiKey === 'string') {
      this.keys.add(data.keyId);
    }
    if (typeof data?.contactId === 'string') {
      this.contacts.add(data.contactId);
    }
  }
}

/** Creates a key through the API and remembers it. */
export async function createKey(ctx: CaseContext, created: Created, key: string, body: Json): Promise<Json> {
  const sent = await ctx.send({ method: 'POST', path: '/v1/api-keys', key, body, expect: 201 });
  created.note(sent.json);
  return sent.json?.data;
}

/** Checks the caller's key and makes the fixtures; undefined when setup failed (the book says why). */
export async function arrangeFixtures(book: CaseBook, admin: string, created: Created): Promise<Fixtures | undefined> {
  const caller = await book.run('setup', "the caller's key is valid and has full access", async (ctx) => {
    const sent = await ctx.send({ path: '/v1/api-keys/validate', key: admin, expect: 200 });
    if (sent.json?.data?.access !== 'full') {
      throw new Error(
        `the key passed with --api-key has access "${sent.json?.data?.access}": the run needs a full-access key`,
      );
    }
    return { organizationId: String(sent.json.data.organizationId) };
  });
  if (!caller) {
    return undefined;
  }
  const readOnly = await book.run('setup', 'create a read_only key', async (ctx) => {
    const data = await createKey(ctx, created, admin, { name: 'Contract run: read-only', access: 'read_only' });
    return { key: String(data.apiKey), keyId: String(data.keyId) };
  });
  const capped = await book.run('setup', 'create a key capped at 1 request a minute', async (ctx) => {
    const data = await createKey(ctx, created, admin, { name: 'Contract run: capped', rateLimit: 1 });
    return { key: String(data.apiKey), keyId: String(data.keyId) };
  });
  const revoked = await book.run('setup', 'create a key and revoke it', async (ctx) => {
    const data = await createKey(ctx, created, admin, { name: 'Contract run: revoked' });
    await ctx.send({ method: 'DELETE', path: `/v1/api-keys/${data.keyId}`, key: admin, expect: 200 });
    created.keys.delete(String(data.keyId));
    return { key: String(data.apiKey), keyId: String(data.keyId) };
  });
  if (!readOnly || !capped || !revoked) {
    return undefined;
  }
  return {
    admin,
    organizationId: caller.organizationId,
    readOnly,
    capped,
    revoked,
    unknown: generateApiKey().plaintext,
  };
}

/** Spends the capped key's window, so its next request is refused with 429. */
export async function exhaustCappedKey(ctx: CaseContext, capped: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const sent = await ctx.sendUnchecked({ path: '/v1/api-keys/validate', key: capped });
    if (sent.status === 429) {
      return;
    }
  }
  throw new Error('the key capped at 1 request a minute was never refused with 429');
}

/** Revokes every key and deletes every contact the run created (already gone is fine). */
export async function cleanUp(book: CaseBook, admin: string, created: Created): Promise<void> {
  await book.run(
    'clean-up',
    `revoke ${created.keys.size} keys and delete ${created.contacts.size} contacts`,
    async (ctx) => {
      for (const keyId of created.keys) {
        await ctx.send({ method: 'DELETE', path: `/v1/api-keys/${keyId}`, key: admin, expect: [200, 404] });
      }
      for (const contactId of created.contacts) {
        await ctx.send({ method: 'DELETE', path: `/v1/contacts/${contactId}`, key: admin, expect: [200, 404] });
      }
    },
    { always: true },
  );
}
