// What the run needs on the target, made through the public API with the caller's key only: a read_only
// key (403s, conflicting credentials), a key capped at one request a minute (429s), a revoked key (its
// 401), a well-formed key the target never issued (unknown-key 401). Everything the run creates is
// remembered and removed at the end. On a spec with accounts (user tokens from POST /auth/signup), throwaway users
// signed up for this run only: two owners of one organization, a member of it, an outsider (whose token is
// logged out at once) and a user whose own windows the 429 cases spend.
import { randomBytes } from 'node:crypto';
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
  /** Throwaway users of this run, when the spec has accounts (`POST /auth/signup`). */
  users?: Users;
}

/** A user signed up by the run: its token, its id and its own first organization. */
export interface RunUser {
  token: string;
  /** The session of that token (the sign-up's), on a target whose sign-up answer names it. */
  sessionId?: string;
  userId: string;
  email: string;
  password: string;
  /** The organization its sign-up made (it is that organization's only owner unless the run added others). */
  organizationId: string;
}

/** The users of a run on a spec with accounts. */
export interface Users {
  /** Owns `owner.organizationId`, the organization the cases use. */
  owner: RunUser;
  /** A second owner of the owner's organization (the owner's token and this one take turns); sole owner of its own. */
  coOwner: RunUser;
  /** A plain member of the owner's organization (403 for an owner's action); its own organization is "another". */
  member: RunUser;
  /** Not in the owner's organization (added and removed by the member cases); its sign-up token is logged out. */
  outsider: RunUser;
  /** A token that was logged out. */
  loggedOut: string;
  /**
   * A user whose own window the 429 cases spend (its organization is filled to the key cap by the 409 case; the
   * co-owner is a member of it).
   */
  limited: RunUser;
}

const hasOperation = (operations: Array<{ operationId: string }>, id: string) =>
  operations.some((op) => op.operationId === id);

/** Signs up one throwaway user. */
export async function signUp(ctx: CaseContext, runId: string, role: string): Promise<RunUser> {
  const email = `contract.${runId}.${role}@example.com`;
  const password = `pw ${randomBytes(9).toString('base64url')}`;
  const sent = await ctx.send({
    method: 'POST',
    path: '/auth/signup',
    body: { email, password, name: `Contract ${role}` },
    expect: 201,
  });
  const data = sent.json?.data;
  return {
    token: String(data?.token),
    sessionId: typeof data?.sessionId === 'string' ? data.sessionId : undefined,
    userId: String(data?.user?.userId),
    email,
    password,
    organizationId: String(data?.organizations?.[0]?.organizationId),
  };
}

/** The run's users: five sign-ups, two members added, one log-out. */
async function arrangeUsers(book: CaseBook, runId: string): Promise<Users | undefined> {
  return book.run(
    'setup',
    'sign up throwaway users: two owners of one organization, a member, an outsider',
    async (ctx) => {
      const owner = await signUp(ctx, runId, 'owner');
      const coOwner = await signUp(ctx, runId, 'co-owner');
      const member = await signUp(ctx, runId, 'member');
      const outsider = await signUp(ctx, runId, 'outsider');
      const limited = await signUp(ctx, runId, 'limited');
      // `by` (an owner of its first organization) adds `who` to that organization.
      const addMember = (by: typeof owner, who: typeof owner, role: 'owner' | 'member') =>
        ctx.send({
          method: 'POST',
          path: `/organizations/${by.organizationId}/members`,
          key: by.token,
          bearer: true,
          body: { email: who.email, role },
          expect: 201,
        });
      await addMember(owner, coOwner, 'owner');
      await addMember(owner, member, 'member');
      // The co-owner is a member of the limited user's organization too: it creates a key there once the 409 case
      // filled it (the limited user's own window is spent by the 429 cases).
      await addMember(limited, coOwner, 'member');
      await ctx.send({ method: 'POST', path: '/auth/logout', key: outsider.token, bearer: true, expect: 200 });
      return { owner, coOwner, member, outsider, loggedOut: outsider.token, limited };
    },
  );
}

/** Keys and contacts the run created, removed in `cleanUp`. */
export class Created {
  readonly keys = new Set<string>();
  readonly contacts = new Set<string>();
  readonly endpoints = new Set<string>();

  /** Remembers whatever a 2xx body says was created (a key or a contact). */
  note(body: Json): void {
    const data = body?.data;
    if (typeof data?.keyId === 'string' && typeof data?.apiKey === 'string') {
      this.keys.add(data.keyId);
    }
    if (typeof data?.contactId === 'string') {
      this.contacts.add(data.contactId);
    }
    if (typeof data?.endpointId === 'string' && typeof data?.secret === 'string') {
      this.endpoints.add(data.endpointId);
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
export async function arrangeFixtures(
  book: CaseBook,
  admin: string,
  created: Created,
  { runId, operations }: { runId: string; operations: Array<{ operationId: string }> },
): Promise<Fixtures | undefined> {
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
  let users: Users | undefined;
  if (hasOperation(operations, 'signUp') && hasOperation(operations, 'addMember')) {
    users = await arrangeUsers(book, runId);
    if (!users) {
      return undefined;
    }
  }
  return {
    admin,
    organizationId: caller.organizationId,
    readOnly,
    capped,
    revoked,
    unknown: generateApiKey().plaintext,
    users,
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
    `revoke ${created.keys.size} keys, delete ${created.contacts.size} contacts and ${created.endpoints.size} webhook endpoints`,
    async (ctx) => {
      for (const keyId of created.keys) {
        await ctx.send({ method: 'DELETE', path: `/v1/api-keys/${keyId}`, key: admin, expect: [200, 404] });
      }
      for (const contactId of created.contacts) {
        await ctx.send({ method: 'DELETE', path: `/v1/contacts/${contactId}`, key: admin, expect: [200, 404] });
      }
      for (const endpointId of created.endpoints) {
        const path = `/v1/webhook-endpoints/${endpointId}`;
        await ctx.send({ method: 'DELETE', path, key: admin, expect: [200, 404] });
      }
    },
    { always: true },
  );
}
