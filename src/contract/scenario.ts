// The scenario half of a contract run: what an integrator does (every operation's success path, pages,
// nulls, renames, revocations), what goes wrong (403, 404, 409, 413, 415, 422, 429), the edge values the
// spec allows and refuses, and caller-supplied request ids. Each step is a case; every response also goes
// through Prism and the semantic checks (the observer), which is where most drift shows.
import type { CaseBook, CaseContext } from './cases.ts';
import { type EdgeValue, edgeValues, emailOfLength, exampleBody } from './edge-values.ts';
import { type Created, createKey, exhaustCappedKey, type Fixtures, type RunUser, signUp } from './fixtures.ts';
import type { Json, SpecOperation } from './spec.ts';

/** What the scenario plays with. */
export interface ScenarioOptions {
  book: CaseBook;
  fixtures: Fixtures;
  created: Created;
  operations: SpecOperation[];
  /** Whether the target honours `Prefer: code=…` (sandbox scenarios). */
  scenarios: boolean;
  /** Unique per run, for emails and names. */
  runId: string;
}

/** The longest X-Request-Id the spec's words allow (1–128 characters of A–Z a–z 0–9 . _ : -). */
export const LONGEST_REQUEST_ID_LENGTH = 128;

/** Plays the whole scenario; failures are recorded in the book, never thrown. */
export async function playScenario(options: ScenarioOptions): Promise<void> {
  // Edge values first: they are quick, and a spec narrowed below the server shows there.
  await playEdgeValues(options);
  await playFlows(options);
  await playAccountFlows(options);
  await playRequestIds(options);
  await playUsageRefusals(options);
  await playScenarioOnly(options);
}

/**
 * Each 422 of the usage reads and the request log, with `error.details` naming the parameter: from after to, a period
 * over the retention, a granularity and a groupBy outside their enums, a limit of 0, another list's cursor.
 */
async function playUsageRefusals({ book, fixtures, operations }: ScenarioOptions): Promise<void> {
  const has = (path: string) => operations.some((op) => op.path === path);
  if (!has('/v1/usage') || !has('/v1/request-logs') || !has('/v1/api-keys/{keyId}/usage')) {
    return;
  }
  const key = fixtures.admin;
  const refused = (name: string, path: string, invalid: boolean) =>
    book.run('scenario', `422 ${name}`, async (ctx) => {
      const sent = await ctx.send({ path, key, intent: invalid ? 'invalid' : undefined, expect: 422 });
      const details = sent.json?.error?.details;
      if (!details || typeof details !== 'object' || Object.keys(details).length === 0) {
        throw new Error(
          `GET ${path} answered 422 without error.details naming what was wrong: ${sent.text.slice(0, 200)}`,
        );
      }
    });
  await refused('usage from after to', '/v1/usage?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', false);
  await refused('usage over the retention', '/v1/usage?from=1990-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', false);
  await refused('usage grouped by what is not a group', '/v1/usage?groupBy=weather', true);
  await refused(
    "a key's usage at a granularity that does not exist",
    `/v1/api-keys/${fixtures.readOnly.keyId}/usage?granularity=fortnight`,
    true,
  );
  await refused('the request log with limit=0', '/v1/request-logs?limit=0', true);
  await book.run('scenario', "422 the request log with another list's cursor", async (ctx) => {
    const page = await ctx.send({ path: '/v1/contacts?limit=1', key, expect: 200 });
    const cursor = page.json?.meta?.nextCursor;
    if (typeof cursor !== 'string') {
      throw new Error(`GET /v1/contacts?limit=1 gave no nextCursor: ${page.text.slice(0, 200)}`);
    }
    const sent = await ctx.send({ path: `/v1/request-logs?cursor=${encodeURIComponent(cursor)}`, key, expect: 422 });
    if (!sent.json?.error?.details) {
      throw new Error(`the foreign cursor's 422 has no error.details: ${sent.text.slice(0, 200)}`);
    }
  });
}

/** What the flows share: the step runner, the admin key, emails unique to the run. */
interface Flow {
  step: <T>(name: string, fn: (ctx: CaseContext) => Promise<T>) => Promise<T | undefined>;
  key: string;
  email: (name: string) => string;
  options: ScenarioOptions;
}

/** The scenario's flows, in order: keys, contacts, a revocation, then what goes wrong (403, 413, 415, 422, 401, 405, 429). */
async function playFlows(options: ScenarioOptions): Promise<void> {
  const flow: Flow = {
    step: (name, fn) => options.book.run('scenario', name, fn),
    key: options.fixtures.admin,
    email: (name) => `${name}.${options.runId}@example.com`,
    options,
  };
  const newKey = await playKeyFlow(flow);
  const ada = await playContactFlow(flow);
  await playRevocation(flow, newKey);
  await playForbidden(flow);
  await playInvalid(flow, ada);
  await playRefusals(flow);
}

/** Success paths of every key operation; the key it made (revoked later). */
async function playKeyFlow({ step, key, options }: Flow) {
  const { fixtures, created, runId } = options;
  // --- Success paths: every operation. -----------------------------------------------------------
  await step('liveness', (ctx) => ctx.send({ path: '/livez', expect: 200 }));
  await step('health', (ctx) => ctx.send({ path: '/v1/health', key, bearer: true, expect: 200 }));
  await step('validate the key', (ctx) => ctx.send({ path: '/v1/api-keys/validate', key, expect: 200 }));
  await step('rate-limit status (not counted)', (ctx) => ctx.send({ path: '/v1/rate-limit', key, expect: 200 }));
  const newKey = await step('create a key that expires', async (ctx) =>
    createKey(ctx, created, key, { name: `Scenario key ${runId}`, expirationDays: 30, rateLimit: 500 }),
  );
  await step('list keys', (ctx) => ctx.send({ path: '/v1/api-keys', key, bearer: true, expect: 200 }));
  if (newKey) {
    await step('get a key', (ctx) => ctx.send({ path: `/v1/api-keys/${newKey.keyId}`, key, expect: 200 }));
    await step('rename a key', (ctx) =>
      ctx.send({
        method: 'PATCH',
        path: `/v1/api-keys/${newKey.keyId}`,
        key,
        body: { name: 'Scenario key, renamed' },
        expect: 200,
      }),
    );
    await step('the new key works', (ctx) =>
      ctx.send({ path: '/v1/api-keys/validate', key: newKey.apiKey, bearer: true, expect: 200 }),
    );
  }
  await step('a read_only key reads', (ctx) =>
    ctx.send({ path: '/v1/api-keys', key: fixtures.readOnly.key, expect: 200 }),
  );

  return newKey;
}

/** Contacts made, paged, read, updated, deleted; the 404 and 409 of real ones. The first contact, for later steps. */
async function playContactFlow(flow: Flow): Promise<Json | undefined> {
  const { step, key, email, options } = flow;
  const { created } = options;
  const contact = async (name: string, body: Json, bearer = false) =>
    step(name, async (ctx) => {
      const sent = await ctx.send({ method: 'POST', path: '/v1/contacts', key, bearer, body, expect: 201 });
      created.note(sent.json);
      return sent.json?.data as Json;
    });
  const ada = await contact('create a contact', { email: email('ada'), firstName: 'Ada', lastName: 'Lovelace' });
  const grace = await contact('create a contact with null names, unsubscribed', {
    email: email('grace'),
    firstName: null,
    lastName: null,
    subscribed: false,
  });
  const alan = await contact('create a contact with an email only', { email: email('alan') }, true);
  await step('page through contacts with a real cursor', async (ctx) => {
    const first = await ctx.send({ path: '/v1/contacts?limit=2', key, expect: 200 });
    const cursor = first.json?.meta?.nextCursor;
    if (typeof cursor !== 'string') {
      throw new Error(
        `GET /v1/contacts?limit=2 gave no nextCursor after creating 3 contacts: ${first.text.slice(0, 200)}`,
      );
    }
    await ctx.send({ path: `/v1/contacts?limit=2&cursor=${encodeURIComponent(cursor)}`, key, expect: 200 });
  });
  await step('list contacts, default page', (ctx) =>
    ctx.send({ path: '/v1/contacts', key, bearer: true, expect: 200 }),
  );
  if (ada && grace && alan) {
    await playContactEdits(flow, { ada, grace, alan });
  }
  return ada;
}

/** A contact read, updated (a name cleared, an email changed) and deleted; the 404 and 409 of real contacts. */
async function playContactEdits(
  { step, key, email }: Flow,
  { ada, grace, alan }: Record<'ada' | 'grace' | 'alan', Json>,
): Promise<void> {
  await step('get a contact', (ctx) => ctx.send({ path: `/v1/contacts/${ada.contactId}`, key, expect: 200 }));
  await step('update a contact, clearing a name', (ctx) =>
    ctx.send({
      method: 'PATCH',
      path: `/v1/contacts/${ada.contactId}`,
      key,
      body: { subscribed: false, lastName: null },
      expect: 200,
    }),
  );
  await step("change a contact's email", (ctx) =>
    ctx.send({
      method: 'PATCH',
      path: `/v1/contacts/${grace.contactId}`,
      key,
      bearer: true,
      body: { email: email('grace.hopper') },
      expect: 200,
    }),
  );
  await step('delete a contact', (ctx) =>
    ctx.send({ method: 'DELETE', path: `/v1/contacts/${alan.contactId}`, key, expect: 200 }),
  );
  // --- 404 and 409 on real resources. ------------------------------------------------------------
  await step('404 update a deleted contact', (ctx) =>
    ctx.send({
      method: 'PATCH',
      path: `/v1/contacts/${alan.contactId}`,
      key,
      body: { subscribed: true },
      expect: 404,
    }),
  );
  await step('404 delete a deleted contact', (ctx) =>
    ctx.send({ method: 'DELETE', path: `/v1/contacts/${alan.contactId}`, key, expect: 404 }),
  );
  await step('409 create a duplicate email, in other case', (ctx) =>
    ctx.send({ method: 'POST', path: '/v1/contacts', key, body: { email: email('ada').toUpperCase() }, expect: 409 }),
  );
  await step("409 change an email to another contact's", (ctx) =>
    ctx.send({
      method: 'PATCH',
      path: `/v1/contacts/${grace.contactId}`,
      key,
      body: { email: email('ada') },
      expect: 409,
    }),
  );
}

/** The key of the key flow revoked, and what a revoked key's id answers; an unknown contact id. */
async function playRevocation({ step, key }: Flow, newKey: { keyId: string } | undefined): Promise<void> {
  if (newKey) {
    await step('revoke a key', (ctx) =>
      ctx.send({ method: 'DELETE', path: `/v1/api-keys/${newKey.keyId}`, key, expect: 200 }),
    );
    await step('404 a revoked key is gone', (ctx) =>
      ctx.send({ path: `/v1/api-keys/${newKey.keyId}`, key, bearer: true, expect: 404 }),
    );
    await step('404 rename a revoked key', (ctx) =>
      ctx.send({
        method: 'PATCH',
        path: `/v1/api-keys/${newKey.keyId}`,
        key,
        body: { name: 'Too late' },
        expect: 404,
      }),
    );
  }
  await step('404 an unknown contact id', (ctx) =>
    ctx.send({ path: '/v1/contacts/ct_0000000000000000', key, expect: 404 }),
  );
}

/** 403: a read_only key writing. */
async function playForbidden({ step, email, options }: Flow): Promise<void> {
  const { fixtures } = options;
  await step('403 a read_only key creates a contact', (ctx) =>
    ctx.send({
      method: 'POST',
      path: '/v1/contacts',
      key: fixtures.readOnly.key,
      body: { email: email('blocked') },
      expect: 403,
    }),
  );
  await step('403 a read_only key revokes itself', (ctx) =>
    ctx.send({
      method: 'DELETE',
      path: `/v1/api-keys/${fixtures.readOnly.keyId}`,
      key: fixtures.readOnly.key,
      bearer: true,
      expect: 403,
    }),
  );
}

/** Invalid on purpose: 413, 415, 422. */
async function playInvalid({ step, key, email }: Flow, ada: Json | undefined): Promise<void> {
  const invalid = { intent: 'invalid' as const, key };
  await step('413 a body over 100 KiB', (ctx) =>
    ctx.send({
      ...invalid,
      method: 'POST',
      path: '/v1/contacts',
      body: { email: email('big'), firstName: 'x'.repeat(120 * 1024) },
      expect: 413,
    }),
  );
  await step('415 a text/plain body', (ctx) =>
    ctx.send({
      ...invalid,
      method: 'POST',
      path: '/v1/api-keys',
      raw: 'name=Production API',
      contentType: 'text/plain',
      expect: 415,
    }),
  );
  await step('422 an unknown field', (ctx) =>
    ctx.send({
      ...invalid,
      method: 'POST',
      path: '/v1/api-keys',
      body: { name: 'Extra', scopes: ['all'] },
      expect: 422,
    }),
  );
  await step('422 a bad email', (ctx) =>
    ctx.send({ ...invalid, method: 'POST', path: '/v1/contacts', body: { email: 'not-an-email' }, expect: 422 }),
  );
  await step('422 an empty contact patch', (ctx) =>
    ctx.send({
      ...invalid,
      method: 'PATCH',
      path: `/v1/contacts/${ada?.contactId ?? 'ct_0000000000000000'}`,
      body: {},
      expect: 422,
    }),
  );
  await step('422 an unknown query parameter', (ctx) =>
    ctx.send({ ...invalid, path: '/v1/api-keys?verbose=1', expect: 422 }),
  );
  await step('422 a cursor the server never issued', (ctx) =>
    ctx.send({ path: '/v1/contacts?cursor=bm90LWEtY3Vyc29y', key, expect: 422 }),
  );
}

/** 401 and 405 once each, and a key's own window spent (429). */
async function playRefusals({ step, key, email, options }: Flow): Promise<void> {
  const { fixtures } = options;
  // --- 401 and 405 once each here (Dredd has every 401 cause; failed attempts are limited per address). ---
  await step('401 no credentials', (ctx) => ctx.send({ path: '/v1/contacts', intent: 'invalid', expect: 401 }));
  await step('405 a method the path does not have', (ctx) =>
    ctx.send({ method: 'PUT', path: '/v1/api-keys', key, body: { name: 'x' }, intent: 'invalid', expect: 405 }),
  );

  // --- 429: a key's own window, spent. ---------------------------------------------------------------
  await step("429 a key's own window is spent", async (ctx) => {
    await exhaustCappedKey(ctx, fixtures.capped.key);
    await ctx.send({
      method: 'POST',
      path: '/v1/contacts',
      key: fixtures.capped.key,
      body: { email: email('late') },
      expect: 429,
    });
  });
  await step('rate-limit status with a spent key (not counted, 200)', (ctx) =>
    ctx.send({ path: '/v1/rate-limit', key: fixtures.capped.key, bearer: true, expect: 200 }),
  );
}

/** The ids the edge values' paths take. */
interface EdgeIds {
  keyId: string;
  contactId: string;
  organizationId?: string;
  organizationKeyId?: string;
  userId?: string;
}

/**
 * What a person does with a user token (the co-owner's: the owner's turns are Dredd's): who am I, a new
 * organization renamed, a key of it made, read, renamed and revoked, its members listed. Nothing here signs up
 * or logs in (those count against this address's small window; Dredd and the fixtures do them).
 */
async function playAccountFlows({ book, fixtures, runId }: ScenarioOptions): Promise<void> {
  const users = fixtures.users;
  if (!users) {
    return;
  }
  const token = { key: users.coOwner.token, bearer: true };
  const step = <T>(name: string, fn: (ctx: CaseContext) => Promise<T>) => book.run('scenario', name, fn);
  await step('who am I (user token)', (ctx) => ctx.send({ path: '/auth/me', ...token, expect: 200 }));
  await step('list my organizations', (ctx) => ctx.send({ path: '/organizations', ...token, expect: 200 }));
  const organization = await step('create an organization and rename it', async (ctx) => {
    const created = await ctx.send({
      method: 'POST',
      path: '/organizations',
      ...token,
      body: { name: `Scenario organization ${runId}` },
      expect: 201,
    });
    const organizationId = String(created.json?.data?.organizationId);
    await ctx.send({
      method: 'PATCH',
      path: `/organizations/${organizationId}`,
      ...token,
      body: { name: 'Scenario organization, renamed' },
      expect: 200,
    });
    return organizationId;
  });
  if (!organization) {
    return;
  }
  const keys = `/organizations/${organization}/api-keys`;
  await step("an organization's key: create, read, rename, revoke", async (ctx) => {
    const created = await ctx.send({
      method: 'POST',
      path: keys,
      ...token,
      body: { name: 'Scenario organization key', expirationDays: 30 },
      expect: 201,
    });
    const keyId = String(created.json?.data?.keyId);
    await ctx.send({ path: keys, ...token, expect: 200 });
    await ctx.send({ path: `${keys}/${keyId}`, ...token, expect: 200 });
    await ctx.send({ method: 'PATCH', path: `${keys}/${keyId}`, ...token, body: { name: 'Renamed' }, expect: 200 });
    await ctx.send({ method: 'DELETE', path: `${keys}/${keyId}`, ...token, expect: 200 });
    await ctx.send({ path: `${keys}/${keyId}`, ...token, expect: 404 });
  });
  await step("list an organization's members", (ctx) =>
    ctx.send({ path: `/organizations/${organization}/members`, ...token, expect: 200 }),
  );
  await step("404 another person's organization", (ctx) =>
    ctx.send({ path: `/organizations/${users.member.organizationId}`, ...token, expect: 404 }),
  );
}

/** Makes the resources the edge values of a path with an id are sent to. */
async function edgeTargets(
  book: CaseBook,
  fixtures: Fixtures,
  created: Created,
  runId: string,
): Promise<EdgeIds | undefined> {
  return book.run('edge-values', 'create a key and a contact to edit', async (ctx) => {
    const keyData = await createKey(ctx, created, fixtures.admin, { name: `Edge key ${runId}` });
    const contact = await ctx.send({
      method: 'POST',
      path: '/v1/contacts',
      key: fixtures.admin,
      body: { email: `edge.${runId}@example.com` },
      expect: 201,
    });
    created.note(contact.json);
    const ids: EdgeIds = { keyId: String(keyData.keyId), contactId: String(contact.json?.data?.contactId) };
    const users = fixtures.users;
    if (users) {
      ids.organizationId = users.owner.organizationId;
      ids.userId = users.member.userId;
      ids.organizationKeyId = await createOrganizationKey(ctx, users, `Edge organization key ${runId}`);
    }
    return ids;
  });
}

/** A key of the owners' organization, made by the co-owner (the owner's turns are Dredd's); returns its id. */
async function createOrganizationKey(
  ctx: Parameters<Parameters<CaseBook['run']>[2]>[0],
  users: NonNullable<Fixtures['users']>,
  name: string,
): Promise<string> {
  const orgKey = await ctx.send({
    method: 'POST',
    path: `/organizations/${users.owner.organizationId}/api-keys`,
    key: users.coOwner.token,
    bearer: true,
    body: { name },
    expect: 201,
  });
  return String(orgKey.json?.data?.keyId);
}

function edgeRequest(edge: EdgeValue, ids: EdgeIds, unique: () => string) {
  const template = edge.operation.path;
  const path = template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value =
      name === 'keyId' && template.includes('{organizationId}')
        ? ids.organizationKeyId
        : (ids as unknown as Record<string, string | undefined>)[name];
    return encodeURIComponent(value ?? `unknown-${name}`);
  });
  if (edge.where === 'query') {
    return { method: edge.operation.method, path: `${path}?${edge.field}=${String(edge.value)}`, body: undefined };
  }
  const body = exampleBody(edge.operation);
  const properties = edge.operation.requestBody?.content?.['application/json']?.schema?.properties ?? {};
  // Every other email gets a fresh value, so an accepted edge never collides with an existing contact.
  for (const [name, schema] of Object.entries<Json>(properties)) {
    if (name !== edge.field && name in body && schema?.format === 'email') {
      body[name] = emailOfLength(40, unique());
    }
  }
  body[edge.field] = edge.value;
  return { method: edge.operation.method, path, body };
}

/** The security schemes an operation accepts. */
const schemesOf = (operation: SpecOperation) => operation.security.flatMap((requirement) => Object.keys(requirement));

/**
 * What an accepted edge may answer besides 2xx: the statuses about state the edge value cannot arrange, never
 * about input (a log-in's 401 for an email no account has, an added member's 404 for an email no one signed up
 * with). Refusing the value itself is 422, and 400, 413 and 415 are other input errors.
 */
function acceptedStatuses(operation: SpecOperation): number[] {
  const documented = Object.keys(operation.responses).map(Number);
  const stateful = schemesOf(operation).length === 0 ? [401, 404] : [404];
  return [200, 201, ...stateful.filter((status) => documented.includes(status))];
}

async function playEdgeValues({ book, fixtures, created, operations, runId }: ScenarioOptions): Promise<void> {
  let n = 0;
  const unique = () => `${runId}.${++n}`;
  // Not the x-sandbox-only operations: they exist only on a sandbox, and the clock's upper bound would move its time a
  // year on mid-run (every user token expired). Their bounds are the server tests' and Dredd's 422.
  const edges = edgeValues(
    operations.filter((op) => !op.sandboxOnly),
    unique,
  );
  const ids = await edgeTargets(book, fixtures, created, runId);
  if (!ids) {
    return;
  }
  const passwords: PasswordEdges = { book, runId, unique };
  for (const edge of edges) {
    if (edge.operation.operationId === 'changePassword') {
      await playPasswordEdge(passwords, edge);
      continue;
    }
    // A POST to an existing key changes it for good (a rotation): each accepted edge gets a fresh key, an
    // organization's own under /organizations.
    const inOrganization = edge.operation.path.startsWith('/organizations/{organizationId}/api-keys/{keyId}');
    const users = fixtures.users;
    const fresh =
      edge.accepted &&
      edge.operation.method === 'POST' &&
      (edge.operation.path.startsWith('/v1/api-keys/{keyId}') || (inOrganization && users))
        ? await book.run('edge-values', `${edge.operation.operationId}: create a key for ${edge.why}`, async (ctx) =>
            inOrganization && users
              ? { organizationKeyId: await createOrganizationKey(ctx, users, `Edge organization key ${unique()}`) }
              : {
                  keyId: String(
                    (await createKey(ctx, created, fixtures.admin, { name: `Edge key ${unique()}` })).keyId,
                  ),
                },
          )
        : undefined;
    const { method, path, body } = edgeRequest(edge, { ...ids, ...fresh }, unique);
    const schemes = schemesOf(edge.operation);
    // The co-owner's token where the operation takes a user token (the owner's turns are Dredd's), no
    // credentials where it takes none, else the caller's key.
    const userToken = schemes.includes('userToken') ? fixtures.users?.coOwner.token : undefined;
    const credential =
      schemes.length === 0 ? {} : userToken ? { key: userToken, bearer: true } : { key: fixtures.admin };
    await book.run('edge-values', `${edge.operation.operationId}: ${edge.why}`, async (ctx) => {
      const sent = await ctx.send({
        method,
        path,
        ...credential,
        body,
        intent: edge.accepted ? undefined : 'invalid',
        expect: edge.accepted ? acceptedStatuses(edge.operation) : 422,
      });
      created.note(sent.json);
    });
  }
}

/** The password change's edge values: a user of their own, whose current password is always the right one. */
interface PasswordEdges {
  book: CaseBook;
  runId: string;
  unique: () => string;
  user?: RunUser;
}

/**
 * One edge of the password change. A wrong current password counts as a failed log-in, so none is ever sent: the
 * current password is the user's own (an accepted current password at a bound is made the password first, when a
 * new password may be that long), and a refused one is refused by its shape before any password is tried.
 */
async function playPasswordEdge(state: PasswordEdges, edge: EdgeValue): Promise<void> {
  const { book, unique } = state;
  const name = `${edge.operation.operationId}: ${edge.why}`;
  state.user ??= await book.run('edge-values', 'sign up a user whose password the edge values change', (ctx) =>
    signUp(ctx, state.runId, 'password-edges'),
  );
  const user = state.user;
  if (!user) {
    return;
  }
  const change = (ctx: CaseContext, currentPassword: unknown, newPassword: unknown, expect: number) =>
    ctx.send({
      method: 'POST',
      path: edge.operation.path,
      key: user.token,
      bearer: true,
      body: { currentPassword, newPassword },
      intent: expect === 422 ? 'invalid' : undefined,
      expect,
    });
  const value = String(edge.value);
  const newMinimum =
    edge.operation.requestBody?.content?.['application/json']?.schema?.properties?.newPassword?.minLength;
  if (edge.field === 'currentPassword' && edge.accepted) {
    if (typeof newMinimum === 'number' && value.length < newMinimum) {
      book.skipped(
        'edge-values',
        name,
        `no password can be ${value.length} character${value.length === 1 ? '' : 's'} long (a new one needs ${newMinimum}), so a right current password of that length can't be arranged, and a wrong one would count as a failed log-in`,
      );
      return;
    }
    await book.run('edge-values', name, async (ctx) => {
      await change(ctx, user.password, value, 200);
      user.password = value;
      const next = `pw ${unique()} next`;
      await change(ctx, value, next, 200);
      user.password = next;
    });
    return;
  }
  await book.run('edge-values', name, async (ctx) => {
    if (edge.field === 'newPassword') {
      await change(ctx, user.password, edge.value, edge.accepted ? 200 : 422);
      if (edge.accepted) {
        user.password = value;
      }
    } else {
      await change(ctx, edge.value, `pw ${unique()} next`, 422); // refused by its shape, before it is tried
    }
  });
}

async function playRequestIds({ book, fixtures, runId }: ScenarioOptions): Promise<void> {
  const longest = `mrc-${runId}.longest:`.padEnd(LONGEST_REQUEST_ID_LENGTH, 'Az09._:-');
  await book.run(
    'scenario',
    `a caller-supplied X-Request-Id of ${LONGEST_REQUEST_ID_LENGTH} characters is kept`,
    (ctx) =>
      ctx.send({ path: '/v1/contacts?cursor=bm90LWEtY3Vyc29y', key: fixtures.admin, requestId: longest, expect: 422 }),
  );
  await book.run('scenario', 'a caller-supplied X-Request-Id of 129 characters is replaced', (ctx) =>
    ctx.send({ path: '/v1/api-keys/validate', key: fixtures.admin, requestId: `${longest}x`, expect: 200 }),
  );
  await book.run('scenario', 'a caller-supplied X-Request-Id with a space is replaced', (ctx) =>
    ctx.send({ path: '/v1/health', key: fixtures.admin, requestId: `mrc-${runId} spaced`, expect: 200 }),
  );
}

/** One outcome only a cooperative server produces, and why a plain one can't be made to. */
interface ScenarioOnly {
  name: string;
  why: string;
  /** The operation that documents it (the step is left out on a spec without it). */
  operationId: string;
  /** The request, forced with `Prefer: code=…, example=…` on a target that honours it. */
  request: (
    fixtures: Fixtures,
    runId: string,
  ) => { method?: string; path: string; key?: string; bearer?: boolean; body?: Json; headers?: Record<string, string> };
  status: number;
  example: string;
}

/**
 * What a plain deployment can't be held to in a contract run: each needs time to pass or a request caught in
 * flight. Every documented 500 and 503 is in the same position (the Dredd transactions say so themselves).
 */
const SCENARIO_ONLY: ScenarioOnly[] = [
  {
    name: '401 an expired key',
    why: 'a key only expires with time',
    operationId: 'validateApiKey',
    request: (f) => ({ path: '/v1/api-keys/validate', key: f.admin }),
    status: 401,
    example: 'expiredKey',
  },
  {
    name: '401 an expired user token',
    why: 'a user token only expires with time (30 days)',
    operationId: 'getMe',
    request: (f) => ({ path: '/auth/me', key: f.users?.coOwner.token, bearer: true }),
    status: 401,
    example: 'expiredToken',
  },
  {
    name: '409 KEY_EXPIRED rotating an expired key',
    why: 'a key only expires with time (a day at the least)',
    operationId: 'rotateApiKey',
    request: (f) => ({
      method: 'POST',
      path: `/v1/api-keys/${f.readOnly.keyId}/rotate`,
      key: f.admin,
      body: { gracePeriodMinutes: 0 },
    }),
    status: 409,
    example: 'keyExpired',
  },
  {
    name: '409 IDEMPOTENCY_KEY_IN_USE retrying while the first request runs',
    why: 'a create takes milliseconds: no retry can be made to land while the first request is still running',
    operationId: 'createContact',
    request: (f, runId) => ({
      method: 'POST',
      path: '/v1/contacts',
      key: f.admin,
      body: { email: `in-flight.${runId}@example.com` },
      headers: { 'Idempotency-Key': `mrc-${runId}.in-flight` },
    }),
    status: 409,
    example: 'idempotencyKeyInUse',
  },
];

/** Outcomes only a cooperative server produces: forced through `Prefer` on a target that honours it. */
async function playScenarioOnly({ book, fixtures, scenarios, operations, runId }: ScenarioOptions): Promise<void> {
  for (const only of SCENARIO_ONLY) {
    if (!operations.some((op) => op.operationId === only.operationId && op.responses[String(only.status)])) {
      continue;
    }
    const prefer = `code=${only.status}, example=${only.example}`;
    if (!scenarios) {
      book.needsScenarios(
        'scenario',
        only.name,
        `${only.why}; forced with Prefer: ${prefer} on a target that honours it`,
      );
      continue;
    }
    const request = only.request(fixtures, runId);
    await book.run('scenario', only.name, (ctx) =>
      ctx.send({ ...request, headers: { ...request.headers, Prefer: prefer }, expect: only.status }),
    );
  }
}
