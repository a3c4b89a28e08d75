import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Request } from 'express';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiError } from '../../src/server/errors.ts';
import { readSelection } from '../../src/server/scenario-selection.ts';
import { startPrism } from '../helpers/prism.ts';
import { scannerHeaders } from '../helpers/secret-scanner.ts';
import { fromNewAddress, logIn, newEmail, newSession, type Session, signUp as signUpAs } from './helpers/accounts.ts';
import { validBodyOf } from './helpers/bodies.ts';
import { type CallOptions, expectError, type Reply } from './helpers/call.ts';
import { startTestServer, type TestKey, type TestServer } from './helpers/server.ts';
import { type Body, ERROR_STATUSES, SPEC_OPERATIONS, type SpecOperation } from './helpers/spec.ts';
import { newEndpoint, startWalk } from './helpers/walk.ts';

// Sandbox scenarios (`mailroom serve --scenarios`): every documented (operation, status, example) is forced through
// `Prefer` and through `?__code=&__example=`, and each answer is checked against the bundled spec, read here
// independently of the server: the status, the envelope code of that status, every header the response requires,
// and the example's cause. Then what the walk must not do: change stored data.

interface SpecResponse {
  headers?: Record<string, unknown>;
  content?: { 'application/json'?: { examples?: Record<string, { value?: unknown }> } };
  $ref?: string;
}

const BUNDLED = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../generated/openapi.json', import.meta.url)), 'utf8'),
) as {
  paths: Record<string, Record<string, { responses?: Record<string, SpecResponse> }>>;
  components: {
    responses: Record<string, SpecResponse>;
    headers: Record<string, { required?: boolean }>;
    examples: Record<string, { value?: unknown }>;
  };
};

/** An example's value, `$ref` to components/examples followed. */
function exampleValue(example: { value?: unknown; $ref?: string }): unknown {
  const ref = example.$ref?.replace('#/components/examples/', '');
  return ref ? BUNDLED.components.examples[ref]?.value : example.value;
}

/** The headers a response requires (`required: true`, `$ref`s followed); optional ones may be absent. */
function requiredHeaders(response: SpecResponse): string[] {
  return Object.entries(response.headers ?? {})
    .filter(([, header]) => {
      const ref = (header as { $ref?: string }).$ref?.replace('#/components/headers/', '');
      const resolved = ref ? BUNDLED.components.headers[ref] : (header as { required?: boolean });
      return resolved?.required === true;
    })
    .map(([name]) => name);
}

/** The response the spec documents for an operation and status, `$ref` followed. */
function specResponse(op: SpecOperation, status: number): SpecResponse {
  const response = BUNDLED.paths[op.path]?.[op.method.toLowerCase()]?.responses?.[String(status)] ?? {};
  const ref = response.$ref?.replace('#/components/responses/', '');
  return ref ? (BUNDLED.components.responses[ref] ?? {}) : response;
}

/** Every named example of every documented response, as (operation, status, example, value). */
const FORCEABLE = SPEC_OPERATIONS.flatMap((op) =>
  op.statuses.flatMap((status) =>
    Object.entries(specResponse(op, status).content?.['application/json']?.examples ?? {}).map(([example, e]) => ({
      op,
      status,
      example,
      value: exampleValue(e) as { error?: { code: string; message: string } } | undefined,
    })),
  ),
);

/** A 403 naming the one permission the operation needs, in the message and in `details.permissions`. */
function expectMissingPermission(r: Reply<Record<string, unknown>>): void {
  expect(message(r)).toMatch(
    /^This API key lacks the [a-z_]+:(read|write) permission, which [a-zA-Z]+ \((GET|POST|PATCH|DELETE) \/v1\/\S+\) needs$/,
  );
  expect(errorOf(r).details?.permissions).toHaveLength(1);
}

/** How each example's cause shows in the sandbox's answer (the spec names the cause; the server must say it). */
const CAUSES: Record<string, (reply: Reply<Record<string, unknown>>) => void> = {
  missingCredentials: (r) => expect(message(r)).toMatch(/^Missing API key/),
  malformedKey: (r) => expect(message(r)).toMatch(/^Malformed API key/),
  revokedKey: (r) => expect(message(r)).toBe('The API key has been revoked'),
  expiredKey: (r) => expect(message(r)).toMatch(/^The API key expired at \d{4}-\d\d-\d\dT[\d:.]+Z$/),
  conflictingCredentials: (r) => expect(message(r)).toMatch(/^Conflicting credentials/),
  malformedJson: (r) => expect(message(r)).toBe('The request body is not valid JSON'),
  readOnlyKey: (r) => expectMissingPermission(r),
  missingPermission: (r) => expectMissingPermission(r),
  permissionNotHeld: (r) => {
    expect(message(r)).toMatch(/^An API key cannot grant or manage permissions it lacks itself; this one lacks /);
    expect(errorOf(r).details?.permissions?.length).toBeGreaterThan(0);
  },
  notFound: (r) => expect(message(r)).toMatch(/^No (API key key|contact ct)_[a-z0-9]{16} in this organization$/),
  methodNotAllowed: (r) => expect(message(r)).toMatch(/^[A-Z]+ is not allowed on \/\S+; allowed: /),
  duplicateEmail: (r) => expect(message(r)).toMatch(/^A contact with email \S+@example\.com already exists$/),
  payloadTooLarge: (r) => expect(message(r)).toBe('The request body exceeds the 100 KiB limit'),
  keyLimitReached: (r) =>
    expect(message(r)).toBe(
      'This organization already has 100 active API keys, the most it may hold: revoke one first',
    ),
  headersTooLarge: (r) => expect(message(r)).toMatch(/^The request line and headers are larger than 16 KiB/),
  idempotencyKeyInUse: (r) => {
    expect(message(r)).toMatch(/^A request with this Idempotency-Key is still being processed/);
    expect(r.headers.get('retry-after')).toBe('1');
  },
  idempotencyKeyReused: (r) => expect(message(r)).toMatch(/^This Idempotency-Key was used for a different request/),
  keyAlreadyRotated: (r) =>
    expect(message(r)).toMatch(/^API key key_[a-z0-9]{16} was already rotated; its replacement is /),
  keyExpired: (r) => expect(message(r)).toMatch(/^API key key_[a-z0-9]{16} expired at \S+Z and cannot be rotated/),
  unsupportedMediaType: (r) => expect(message(r)).toMatch(/^Unsupported media type/),
  validationError: (r) => expect(Object.keys(errorOf(r).details ?? {}).length).toBeGreaterThan(0),
  fromAfterTo: (r) => expect(errorOf(r).details).toEqual({ 'query.from': ['must not be after to'] }),
  overRetention: (r) =>
    expect(errorOf(r).details).toEqual({
      'query.from': ['the period from from to to must be at most 30 days (the retention period)'],
    }),
  rateLimited: (r) => {
    // Sign-up and log-in name what they count (requests from the address).
    expect(message(r)).toMatch(
      /^Too many requests( from this address)?: the \w+ window of \d+ is exhausted\. Retry after \d+ seconds?\.$/,
    );
    expect(r.rate?.retryAfter, 'Retry-After is the exhausted binding window’s reset').toBe(r.rate?.reset);
  },
  serverError: (r) =>
    expect(message(r)).toBe(`An unexpected error occurred. Quote request id ${r.requestId} if you contact support.`),
  serviceUnavailable: (r) => expect(message(r)).toBe('The database is unavailable. Retry with exponential backoff.'),
  rateLimitStoreDown: (r) => {
    expect(message(r)).toBe('The rate-limit store is unavailable. Retry with exponential backoff.');
    expect(r.rate?.remaining, 'the outage decision shows every window exhausted').toBe(0);
  },
  malformedRequest: (r) => expect(message(r)).toBe('The chunked request body is malformed'),
  userTokenNotAccepted: (r) =>
    expect(message(r)).toMatch(/^This endpoint takes an API key \(mr_\.\.\.\), not a user token/),
  missingToken: (r) => {
    expect(message(r)).toMatch(/^Missing user token/);
    expect(r.headers.get('www-authenticate')).toBe('Bearer realm="mailroom"');
  },
  apiKeyNotAccepted: (r) => expect(message(r)).toMatch(/^This endpoint takes a user token \(mru_\.\.\.\)/),
  malformedToken: (r) => expect(message(r)).toMatch(/^Malformed user token: expected mru_/),
  // Both log-out's success and the 401 of a token logged out.
  loggedOut: (r) =>
    r.status === 200
      ? expect(r.body.data).toEqual({ revoked: true })
      : expect(message(r)).toBe('The user token has been revoked (logged out): log in again'),
  expiredToken: (r) => expect(message(r)).toMatch(/^The user token expired at \d{4}-\d\d-\d\dT[\d:.]+Z: log in again$/),
  invalidCredentials: (r) => {
    expect(message(r)).toBe('Invalid email or password');
    expect(r.headers.get('www-authenticate')).toBe('Bearer realm="mailroom"');
  },
  tooManyLogIns: (r) => {
    expect(message(r)).toMatch(
      /^Too many failed log-ins for this account: the account window of \d+ is exhausted\. Retry after \d+ seconds?\.$/,
    );
    expect(r.rate?.binding.name).toBe('account');
  },
  tooManyLogInsFromAddress: (r) => {
    expect(message(r)).toMatch(
      /^Too many failed log-ins for this account from this address: the account-address window of \d+ is exhausted\. Retry after \d+ seconds?\.$/,
    );
    expect(r.rate?.binding.name).toBe('account-address');
  },
  commonPassword: (r) =>
    expect(Object.values(errorOf(r).details ?? {})).toEqual([
      ['is too common: it is on the list of passwords attackers try first; choose another'],
    ]),
  wrongCurrentPassword: (r) =>
    expect(errorOf(r).details).toEqual({ currentPassword: ['is not your current password'] }),
  samePassword: (r) => expect(errorOf(r).details).toEqual({ newPassword: ['must differ from your current password'] }),
  sessionNotFound: (r) => expect(message(r)).toMatch(/^No session tok_[a-z0-9]{16} among yours$/),
  duplicateAccount: (r) => expect(message(r)).toBe('An account with this email already exists'),
  alreadyMember: (r) => expect(message(r)).toMatch(/^\S+@example\.com is already a member of this organization$/),
  lastOwner: (r) =>
    expect(message(r)).toBe('An organization must keep at least one owner: make another member owner first'),
  organizationNotFound: (r) => expect(message(r)).toMatch(/^No organization org_[a-z0-9]{16} among yours$/),
  apiKeyNotFound: (r) => expect(message(r)).toMatch(/^No API key key_[a-z0-9]{16} in this organization$/),
  webhookEndpointNotFound: (r) =>
    expect(message(r)).toMatch(/^No webhook endpoint we_[a-z0-9]{16} in this organization$/),
  memberNotFound: (r) => expect(message(r)).toMatch(/^No member usr_[a-z0-9]{16} in this organization$/),
  noSuchAccount: (r) =>
    expect(message(r)).toMatch(/^No account with email \S+@example\.com: ask them to sign up first$/),
  ownerOnly: (r) => expect(message(r)).toBe('Only an owner of this organization can do this; your role is member'),
  othersMembership: (r) => expect(message(r)).toBe('Only an owner can remove another member; you may remove yourself'),
  healthy: (r) => expect(r.body.data).toMatchObject({ status: 'ok', scenarios: true }),
  degraded: (r) =>
    expect(r.body.data).toMatchObject({ status: 'degraded', stores: { rateLimiter: { status: 'degraded' } } }),
};

function errorOf(reply: Reply<unknown>): { code: string; message: string; details?: Record<string, string[]> } {
  return (reply.body as { error: { code: string; message: string; details?: Record<string, string[]> } }).error;
}

function message(reply: Reply<unknown>): string {
  return errorOf(reply).message;
}

let server: TestServer;
let full: TestKey;
let readOnly: TestKey;
let keyToRead: TestKey;
let contactToRead: Body<'createContact', 201>['data'];
/** Owns `organizationId`; `member` belongs to it as a member; `orgKeyId` is one of its keys. */
let owner: Session;
let member: Session;
let organizationId: string;
let orgKeyId: string;
/** A webhook endpoint of `full`'s organization and one of its deliveries. */
let endpointId: string;
let deliveryId: string;
/** The same of the owner's organization. */
let orgEndpointId: string;
let orgDeliveryId: string;

/** Signs a user up from an address of its own. */
const signUp = () => signUpAs(server, { tag: 'scenario-user', fromNewAddress: true });

/** Adds a newly signed-up user to the owner's organization as a member; returns their user id. */
async function newMember(): Promise<string> {
  const joining = await signUp();
  await server.call('POST', `/organizations/${organizationId}/members`, {
    key: owner.token,
    body: { email: joining.user.email },
  });
  return joining.user.userId;
}

/** A key of the owner's organization, made through the account API. */
async function newOrganizationKey(name = 'spare'): Promise<string> {
  const created = await server.call<Body<'createOrganizationApiKey', 201>>(
    'POST',
    `/organizations/${organizationId}/api-keys`,
    { key: owner.token, body: { name } },
  );
  return created.body.data.keyId;
}

const takesUserToken = (op: SpecOperation) => op.schemes.includes('userToken');

beforeAll(async () => {
  ({
    server,
    full,
    readOnly,
    keyToRead,
    contactToRead,
    owner,
    member,
    organizationId,
    orgKeyId,
    endpointId,
    deliveryId,
    orgEndpointId,
    orgDeliveryId,
  } = await startWalk({
    server: { scenarios: true },
    tag: 'scenario-user',
    orgKeyName: 'read by scenarios',
    contact: { firstName: 'Ada', lastName: 'Lovelace' },
  }));
});
afterAll(async () => {
  await server?.close();
});

/** A valid body for each operation that takes one. */
const validBody = (op: SpecOperation): unknown =>
  validBodyOf(op.operationId, 'scenario', { owner: owner.user.email, member: member.user.email });

interface Ids {
  keyId?: string;
  contactId?: string;
  userId?: string;
  sessionId?: string;
  endpointId?: string;
}

/** The scheme of the secret-scanning report: a signature checked over the body, not a key. */
const takesScannerSignature = (op: SpecOperation) => op.schemes.includes('githubSecretScanning');

/** The credential an operation takes: the full key, the owner's user token, or none (public). */
function credentialsFor(op: SpecOperation): CallOptions {
  if (op.schemes.length === 0) {
    return {};
  }
  return { key: takesUserToken(op) ? owner.token : full.plaintext };
}

/** Calls `op` as a well-behaved client would, by default on the resources the walk must leave alone. */
function callOperation(op: SpecOperation, options: CallOptions, ids: Ids = {}) {
  const path = op.path
    .replace('{keyId}', ids.keyId ?? (takesUserToken(op) ? orgKeyId : keyToRead.keyId))
    .replace('{contactId}', ids.contactId ?? contactToRead.contactId)
    .replace('{organizationId}', organizationId)
    .replace('{userId}', ids.userId ?? member.user.userId)
    .replace('{sessionId}', ids.sessionId ?? owner.sessionId)
    .replace('{endpointId}', ids.endpointId ?? (takesUserToken(op) ? orgEndpointId : endpointId))
    .replace('{deliveryId}', takesUserToken(op) ? orgDeliveryId : deliveryId);
  const body = validBody(op);
  if (takesScannerSignature(op)) {
    // A report is signed over its exact bytes.
    const raw = JSON.stringify(body);
    return server.call<Record<string, unknown>>(op.method, path, {
      raw,
      ...options,
      headers: { ...scannerHeaders(raw), ...options.headers },
    });
  }
  return server.call<Record<string, unknown>>(op.method, path, {
    ...credentialsFor(op),
    ...(body === undefined ? {} : { body }),
    ...options,
  });
}

/** What a forced success of `op` needs of its own, when it uses something up or changes it. */
async function arrangeSuccess(op: SpecOperation): Promise<{ ids: Ids; options: CallOptions }> {
  const ids: Ids = {};
  if (op.method !== 'GET' && op.path.includes('{keyId}')) {
    ids.keyId = takesUserToken(op)
      ? await newOrganizationKey()
      : (await server.newKey({ organization: full.organization })).keyId;
  }
  if (op.method !== 'GET' && op.path.includes('{contactId}')) {
    ids.contactId = await newContact();
  }
  if (op.method !== 'GET' && op.path.includes('{userId}')) {
    ids.userId = await newMember();
  }
  switch (op.operationId) {
    case 'logOut':
      return { ids, options: { key: await logIn(server, owner.user.email) } };
    case 'endSession':
      return { ids: { ...ids, sessionId: (await newSession(server, owner.user.email)).sessionId }, options: {} };
    case 'changePassword':
    case 'endOtherSessions':
      return { ids, options: { key: (await signUp()).token } };
    case 'addMember':
      return { ids, options: { body: { email: (await signUp()).user.email } } };
    case 'deleteWebhookEndpoint': {
      const endpointId = await newEndpoint(server, '/v1/webhook-endpoints', full.plaintext, 'http://127.0.0.1:9/spare');
      return { ids: { ...ids, endpointId }, options: {} };
    }
    case 'deleteOrganizationWebhookEndpoint': {
      const path = `/organizations/${organizationId}/webhook-endpoints`;
      const endpointId = await newEndpoint(server, path, owner.token, 'http://127.0.0.1:9/spare');
      return { ids: { ...ids, endpointId }, options: {} };
    }
    default:
      return { ids, options: {} };
  }
}

async function newContact(): Promise<string> {
  const spare = await server.call<Body<'createContact', 201>>('POST', '/v1/contacts', {
    key: full.plaintext,
    body: { email: newEmail('spare') },
  });
  return spare.body.data.contactId;
}

/** What a forced answer must show: the status, its code, the declared headers and the example's cause. */
function expectForced(reply: Reply<Record<string, unknown>>, forced: (typeof FORCEABLE)[number]): void {
  const { op, status, example, value } = forced;
  const what = `${op.operationId} ${status} ${example}: ${reply.text.slice(0, 300)}`;
  expect(reply.status, what).toBe(status);
  for (const header of requiredHeaders(specResponse(op, status))) {
    expect(reply.headers.get(header), `${what}: required header ${header}`).not.toBeNull();
  }
  if (status >= 400) {
    const code = errorOf(reply).code;
    expect(ERROR_STATUSES[code], `${what}: the status of ${code}`).toBe(status);
    expect(code, what).toBe(value?.error?.code);
  }
  CAUSES[example]?.(reply);
}

describe('every documented response can be forced on the sandbox', () => {
  const snapshot: { keys?: unknown; contact?: unknown; members?: unknown; orgKey?: unknown } = {};

  beforeAll(async () => {
    snapshot.keys = await listKeys();
    snapshot.members = await listMembers();
    snapshot.orgKey = await readOrganizationKey();
    snapshot.contact = (
      await server.call('GET', `/v1/contacts/${contactToRead.contactId}`, { key: full.plaintext })
    ).body.data;
  });

  test.each(SPEC_OPERATIONS.map((op) => [op.operationId, op] as const))(
    '%s answers each of its documented statuses and examples through Prefer and __code',
    async (_id, op) => {
      for (const forced of FORCEABLE.filter((f) => f.op === op)) {
        const { status, example } = forced;
        // A success runs the operation: one that changes or uses up a resource gets a resource of its own.
        const { ids, options } = status < 400 ? await arrangeSuccess(op) : { ids: {}, options: {} };
        const viaHeader = await callOperation(
          op,
          { ...options, headers: { Prefer: `code=${status}, example=${example}` } },
          ids,
        );
        expectForced(viaHeader, forced);
        if (status >= 400) {
          const viaQuery = await callOperation(
            { ...op, path: `${op.path}?__code=${status}&__example=${encodeURIComponent(example)}` },
            {},
          );
          expectForced(viaQuery, forced);
        }
      }
    },
  );

  test('every example of an error response has its cause checked by this file', () => {
    const unchecked = FORCEABLE.filter((f) => CAUSES[f.example] === undefined && f.status >= 400);
    expect(unchecked.map((f) => `${f.op.operationId} ${f.status} ${f.example}`)).toEqual([]);
  });

  test('the forced errors changed no stored data', async () => {
    expect(await listKeys()).toEqual(snapshot.keys);
    expect(await listMembers(), 'the owner and the member keep their roles').toEqual(snapshot.members);
    expect(await readOrganizationKey(), 'the organization key every forced revoke and rename aimed at').toEqual(
      snapshot.orgKey,
    );
    const contact = await server.call('GET', `/v1/contacts/${contactToRead.contactId}`, { key: full.plaintext });
    expect(contact.body.data).toEqual(snapshot.contact);
    // The key every forced revoke and rename was aimed at still works under its own name.
    const read = await server.call<Body<'getApiKey', 200>>('GET', `/v1/api-keys/${keyToRead.keyId}`, {
      key: keyToRead.plaintext,
    });
    expect(read.body.data.name).toBe('test key');
  });

  /** The owner's and the member's memberships (successes add and change members of their own). */
  async function listMembers() {
    const list = await server.call<Body<'listMembers', 200>>('GET', `/organizations/${organizationId}/members`, {
      key: owner.token,
    });
    return list.body.data
      .filter((m) => [owner.user.userId, member.user.userId].includes(m.userId))
      .map((m) => ({ userId: m.userId, role: m.role }));
  }

  async function readOrganizationKey() {
    const read = await server.call<Body<'getOrganizationApiKey', 200>>(
      'GET',
      `/organizations/${organizationId}/api-keys/${orgKeyId}`,
      { key: owner.token },
    );
    const { lastUsed: _, ...key } = read.body.data;
    return key;
  }

  /** The keys the walk must leave alone (the ones successes create or revoke are their own), without `lastUsed`. */
  async function listKeys() {
    const list = await server.call<Body<'listApiKeys', 200>>('GET', '/v1/api-keys', { key: full.plaintext });
    return list.body.data
      .filter((k) => [full.keyId, readOnly.keyId, keyToRead.keyId].includes(k.keyId))
      .map(({ lastUsed: _, ...key }) => key);
  }
});

describe('what a forced outcome goes through', () => {
  test('forcing is authenticated: without a valid credential the real 401 answers, and counts as a failure', async () => {
    const address = fromNewAddress();
    const missing = await server.call('GET', '/v1/health', { headers: { ...address, Prefer: 'code=503' } });
    expect(expectError(missing, 401, 'UNAUTHORIZED').message).toMatch(/^Missing API key/);
    const unknown = await server.call('GET', '/v1/health', {
      key: 'mr_aaaaaaaa_Xk3PqR7sT1uVwY9zA2bC4dE6fG8hJ0kL1mN3pQ',
      headers: { ...address, Prefer: 'code=401, example=revokedKey' },
    });
    expect(expectError(unknown, 401, 'UNAUTHORIZED').message).not.toBe('The API key has been revoked');
    expect(unknown.rate?.remaining).toBe((missing.rate?.remaining ?? 0) - 1);
  });

  test('a forced 401 with a valid key answers that cause with its challenge, and counts nothing', async () => {
    const address = fromNewAddress();
    const before = await server.call('GET', '/v1/rate-limit', { key: full.plaintext });
    for (const example of ['revokedKey', 'expiredKey', 'missingCredentials']) {
      const reply = await server.call('GET', '/v1/contacts', {
        key: full.plaintext,
        headers: { ...address, Prefer: `code=401, example=${example}` },
      });
      expectError(reply, 401, 'UNAUTHORIZED');
      expect(reply.rate?.binding.name).toBe('auth-failures');
      expect(reply.rate?.remaining, 'the address has not failed').toBe(reply.rate?.limit);
      const challenge = reply.headers.get('www-authenticate');
      if (example === 'missingCredentials') {
        expect(challenge).toBe('Bearer realm="mailroom"');
      } else {
        expect(challenge).toContain(`error="invalid_token", error_description="${message(reply)}"`);
      }
    }
    const after = await server.call('GET', '/v1/rate-limit', { key: full.plaintext });
    expect(after.rate?.remaining, 'the organization was not counted').toBe(before.rate?.remaining);
  });

  test('a forced 429 shows the caller’s own windows exhausted with their real reset, and spends nothing', async () => {
    const fresh = await server.newKey({ plan: 'steady' });
    const idle = await server.call('GET', '/v1/contacts', { key: fresh.plaintext, headers: { Prefer: 'code=429' } });
    expectError(idle, 429, 'RATE_LIMITED');
    // No request counted yet: the one window would start now, so its reset is the whole window.
    expect(idle.rate?.policy).toEqual([{ name: 'minute', q: 1000, w: 60 }]);
    expect(idle.rate).toMatchObject({ limit: 1000, remaining: 0, reset: 60, retryAfter: 60 });
    expect(message(idle)).toBe('Too many requests: the minute window of 1000 is exhausted. Retry after 60 seconds.');

    await server.call('GET', '/v1/contacts', { key: fresh.plaintext });
    const status = await server.call<Body<'getRateLimitStatus', 200>>('GET', '/v1/rate-limit', {
      key: fresh.plaintext,
    });
    for (let i = 0; i < 3; i++) {
      const forced = await server.call('GET', '/v1/contacts', {
        key: fresh.plaintext,
        headers: { Prefer: 'code=429' },
      });
      expect(forced.rate?.retryAfter).toBe(forced.rate?.reset);
      expect(forced.rate?.reset).toBeLessThanOrEqual(status.body.data.windows[0]?.resetSeconds ?? 0);
    }
    const after = await server.call<Body<'getRateLimitStatus', 200>>('GET', '/v1/rate-limit', {
      key: fresh.plaintext,
    });
    expect(after.body.data.windows[0]?.remaining, 'one real request counted, no forced one').toBe(999);
  });

  test('a forced error after the rate-limit stage counts like the real one', async () => {
    const fresh = await server.newKey({ plan: 'steady' });
    const first = await server.call('GET', `/v1/api-keys/${fresh.keyId}`, {
      key: fresh.plaintext,
      headers: { Prefer: 'code=404' },
    });
    expect(expectError(first, 404, 'RESOURCE_NOT_FOUND').message).toBe(
      `No API key ${fresh.keyId} in this organization`,
    );
    const second = await server.call('GET', '/v1/contacts', { key: fresh.plaintext, headers: { Prefer: 'code=500' } });
    expectError(second, 500, 'SERVER_ERROR');
    expect([first.rate?.remaining, second.rate?.remaining]).toEqual([999, 998]);
  });

  test('a forced 500 takes the unexpected-error path: logged with its stack, none of it sent', async () => {
    const reply = await server.call('POST', '/v1/api-keys?__code=500', { key: full.plaintext, body: { name: 'x' } });
    expect(expectError(reply, 500, 'SERVER_ERROR').message).toBe(
      `An unexpected error occurred. Quote request id ${reply.requestId} if you contact support.`,
    );
    expect(reply.text).not.toMatch(/ScenarioFault|stack|at /);
    const line = server
      .logs()
      .split('\n')
      .find((l) => l.includes(reply.requestId) && l.includes('unhandled error'));
    expect(line).toMatch(/"stack":"ScenarioFault: code=500 forced by a sandbox scenario/);
  });

  test('a forced rate-limit store outage is the fail-closed decision: every window exhausted and no Retry-After', async () => {
    const reply = await server.call('GET', '/v1/api-keys', {
      key: full.plaintext,
      headers: { Prefer: 'code=503, example=rateLimitStoreDown' },
    });
    expectError(reply, 503, 'SERVICE_UNAVAILABLE');
    expect(reply.rate).toMatchObject({ remaining: 0, retryAfter: undefined });
    expect(reply.rate?.policy.map((p) => p.name)).toEqual(['burst', 'minute']);
  });

  test('a forced 403 answers what the key would hear without the operation’s permission', async () => {
    const reply = await server.call('DELETE', `/v1/contacts/${contactToRead.contactId}`, {
      key: full.plaintext,
      headers: { Prefer: 'code=403' },
    });
    const error = expectError(reply, 403, 'FORBIDDEN');
    expect(error.message).toBe(
      'This API key lacks the contacts:write permission, which deleteContact (DELETE /v1/contacts/{contactId}) needs',
    );
    expect(error.details).toEqual({ permissions: ['contacts:write'] });
  });

  test('a real error earlier in the pipeline wins over the forced one, as in the mock', async () => {
    const invalid = await server.call('PATCH', `/v1/contacts/${contactToRead.contactId}`, {
      key: full.plaintext,
      body: { email: 'not an email' },
      headers: { Prefer: 'code=404' },
    });
    expect(expectError(invalid, 422, 'VALIDATION_ERROR').details).toHaveProperty('email');
    const denied = await server.call('POST', '/v1/contacts', {
      key: readOnly.plaintext,
      body: { email: newEmail() },
      headers: { Prefer: 'code=201' },
    });
    expectError(denied, 403, 'FORBIDDEN');
    const missing = await server.call('GET', '/v1/api-keys/key_0000000000000000', {
      key: full.plaintext,
      headers: { Prefer: 'code=200' },
    });
    expectError(missing, 404, 'RESOURCE_NOT_FOUND');
  });

  test('a forced success runs the operation', async () => {
    const email = newEmail('forced-success');
    const created = await server.call<Body<'createContact', 201>>('POST', '/v1/contacts?__code=201', {
      key: full.plaintext,
      body: { email },
    });
    expect(created.status).toBe(201);
    const read = await server.call<Body<'getContact', 200>>('GET', `/v1/contacts/${created.body.data.contactId}`, {
      key: full.plaintext,
    });
    expect(read.body.data.email).toBe(email);
  });

  test('/livez needs no key to force its 405, and ignores selectors it cannot honour, as it ignores its query', async () => {
    const forced = await server.call('GET', '/livez', { headers: { Prefer: 'code=405' } });
    expect(expectError(forced, 405, 'METHOD_NOT_ALLOWED').message).toBe(
      'POST is not allowed on /livez; allowed: GET, HEAD',
    );
    expect(forced.headers.get('allow')).toBe('GET, HEAD');
    for (const path of ['/livez?__code=503', '/livez?__code=abc', '/livez?__code=405&__example=nope']) {
      expect((await server.call('GET', path)).status, path).toBe(200);
    }
  });

  test('/v1/health reports that scenarios are on', async () => {
    const health = await server.call<Body<'getHealth', 200>>('GET', '/v1/health', { key: full.plaintext });
    expect(health.body.data.scenarios).toBe(true);
  });
});

describe('selectors the operation does not document', () => {
  test.each([
    ['Prefer: code=418', { Prefer: 'code=418' }, '', { 'headers.prefer': [notDocumented(418)] }],
    [
      'Prefer: code=201 (the operation answers 200)',
      { Prefer: 'code=201' },
      '',
      { 'headers.prefer': [notDocumented(201)] },
    ],
    ['?__code=418', {}, '?__code=418', { 'query.__code': [notDocumented(418)] }],
    [
      'an example of another status',
      { Prefer: 'code=401, example=degraded' },
      '',
      {
        'headers.prefer': [`degraded is not an example of the 401 response of getHealth; its examples: ${CAUSES_401}`],
      },
    ],
    [
      'an example without a code that the success response lacks',
      {},
      '?__example=revokedKey',
      {
        'query.__example': [
          'revokedKey is not an example of the 200 response of getHealth; its examples: healthy, degraded',
        ],
      },
    ],
    [
      'a code that is not three digits',
      { Prefer: 'code=0429' },
      '',
      { 'headers.prefer': ['code must be a three-digit HTTP status, not "0429"'] },
    ],
    ['a code given twice', {}, '?__code=429&__code=503', { 'query.__code': ['code must be given once'] }],
    ['a code without a value', { Prefer: 'code' }, '', { 'headers.prefer': ['code must have a value'] }],
  ])('%s is 422 VALIDATION_ERROR naming what getHealth documents', async (_name, headers, query, details) => {
    const reply = await server.call('GET', `/v1/health${query}`, { key: full.plaintext, headers });
    expect(expectError(reply, 422, 'VALIDATION_ERROR').details).toEqual(details);
  });
});

/** getHealth's 401 examples and statuses, as the bundled spec lists them. */
const GET_HEALTH = SPEC_OPERATIONS.find((op) => op.operationId === 'getHealth') as SpecOperation;
const CAUSES_401 = FORCEABLE.filter((f) => f.op === GET_HEALTH && f.status === 401)
  .map((f) => f.example)
  .join(', ');

function notDocumented(status: number): string {
  return `${status} is not a status getHealth documents; it documents ${GET_HEALTH.statuses.join(', ')}`;
}

describe('without --scenarios', () => {
  let plain: TestServer;
  let key: TestKey;
  beforeAll(async () => {
    plain = await startTestServer();
    key = await plain.newKey();
  });
  afterAll(async () => {
    await plain?.close();
  });

  test('Prefer is ignored and /v1/health reports scenarios: false', async () => {
    const reply = await plain.call<Body<'getHealth', 200>>('GET', '/v1/health', {
      key: key.plaintext,
      headers: { Prefer: 'code=503, example=serviceUnavailable' },
    });
    expect(reply.status).toBe(200);
    expect(reply.body.data.scenarios).toBe(false);
  });

  test('__code and __example are unknown query parameters: 422', async () => {
    const reply = await plain.call('GET', '/v1/contacts?__code=429&__example=rateLimited', { key: key.plaintext });
    expect(expectError(reply, 422, 'VALIDATION_ERROR').details).toMatchObject({
      'query.__code': ['is not an allowed query parameter'],
    });
  });
});

describe('selectors are read as Prism reads them', () => {
  /** A request as far as `readSelection` looks at one. */
  const request = (url: string, prefer?: string) =>
    ({ url, headers: prefer === undefined ? {} : { prefer } }) as unknown as Request;

  test.each([
    // given: url, Prefer → want: the selection (or the 422's details), and the URL the input check then sees
    ['/v1/health', 'code=429', { code: 429, source: 'headers.prefer' }, '/v1/health'],
    [
      '/v1/health',
      'code=401, example=revokedKey',
      { code: 401, example: 'revokedKey', source: 'headers.prefer' },
      '/v1/health',
    ],
    ['/v1/health', 'Code="429"', { code: 429, source: 'headers.prefer' }, '/v1/health'],
    ['/v1/health', 'code=429; example=foo', { code: 429, source: 'headers.prefer' }, '/v1/health'],
    ['/v1/health', 'example=degraded', { example: 'degraded', source: 'headers.prefer' }, '/v1/health'],
    ['/v1/health', 'code=200, dynamic=true, seed=7', { code: 200, source: 'headers.prefer' }, '/v1/health'],
    ['/v1/health?__code=503', 'return=minimal', undefined, '/v1/health'],
    ['/v1/health', 'return=minimal', undefined, '/v1/health'],
    [
      '/v1/contacts?limit=5&__code=503&__example=serviceUnavailable&cursor=a%2Fb',
      undefined,
      { code: 503, example: 'serviceUnavailable', source: 'query' },
      '/v1/contacts?limit=5&cursor=a%2Fb',
    ],
    ['/v1/contacts?%5F%5Fcode=429', undefined, { code: 429, source: 'query' }, '/v1/contacts'],
    ['/v1/contacts?__dynamic=true', undefined, undefined, '/v1/contacts'],
    ['/v1/contacts?__codex=1', undefined, undefined, '/v1/contacts?__codex=1'],
    [
      '/v1/health',
      'code=abc',
      { 'headers.prefer': ['code must be a three-digit HTTP status, not "abc"'] },
      '/v1/health',
    ],
    ['/v1/health', 'dynamic=maybe', { 'headers.prefer': ['dynamic must be true or false, not "maybe"'] }, '/v1/health'],
    [
      '/v1/health?__code=1&__example=a&__example=b',
      undefined,
      {
        'query.__code': ['code must be a three-digit HTTP status, not "1"'],
        'query.__example': ['example must be given once'],
      },
      '/v1/health',
    ],
  ])('%s with Prefer %s', (url, prefer, want, urlAfter) => {
    const req = request(url, prefer);
    const got = readSelection(req);
    if (got instanceof ApiError) {
      expect(got.code).toBe('VALIDATION_ERROR');
      expect(got.details).toEqual(want);
    } else {
      expect(got).toEqual(want);
    }
    expect(req.url).toBe(urlAfter);
  });
});

describe('the sandbox accepts what the mock accepts', () => {
  let prism: Awaited<ReturnType<typeof startPrism>>;
  beforeAll(async () => {
    prism = await startPrism();
  });
  afterAll(async () => {
    await prism?.stop();
  });

  // Where the mock answers with its own problem+json (a status or an example the operation does not document, a
  // malformed selector), the sandbox answers 422 VALIDATION_ERROR in the envelope.
  test.each([
    ['Prefer: code=429', '/v1/api-keys', { Prefer: 'code=429' }, 429],
    ['Prefer: code=401, example=revokedKey', '/v1/api-keys', { Prefer: 'code=401, example=revokedKey' }, 401],
    ['Prefer: example=degraded', '/v1/health', { Prefer: 'example=degraded' }, 200],
    ['?__code=503', '/v1/health?__code=503', {}, 503],
    ['?__code=429&__example=rateLimited', '/v1/contacts?__code=429&__example=rateLimited', {}, 429],
    ['Prefer: Code="429"; example=foo', '/v1/contacts', { Prefer: 'Code="429"; example=foo' }, 429],
    ['a Prefer header makes the query selectors inert', '/v1/health?__code=503', { Prefer: 'return=minimal' }, 200],
    ['a status the operation does not document', '/v1/contacts', { Prefer: 'code=404' }, 'not documented'],
    ['Prefer: code=418', '/v1/health', { Prefer: 'code=418' }, 'not documented'],
    ['an unknown example', '/v1/health', { Prefer: 'code=401, example=nope' }, 'not documented'],
    ['Prefer: code=abc', '/v1/health', { Prefer: 'code=abc' }, 'not documented'],
    ['?__code twice', '/v1/health?__code=429&__code=503', {}, 'not documented'],
  ])('%s', async (_name, path, headers, want) => {
    const key = 'mr_a1b2c3d4_Xk3PqR7sT1uVwY9zA2bC4dE6fG8hJ0kL1mN3pQ';
    const mock = await fetch(`${prism.url}${path}`, { headers: { 'X-API-Key': key, ...headers } });
    const sandbox = await server.call<Record<string, unknown>>('GET', path, { key: full.plaintext, headers });
    if (want === 'not documented') {
      expect(mock.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect([404, 422, 500]).toContain(mock.status);
      expectError(sandbox, 422, 'VALIDATION_ERROR');
    } else {
      expect(mock.status).toBe(want);
      expect(sandbox.status).toBe(want);
      const mockBody = (await mock.json()) as { error?: { code: string } };
      expect(errorOf(sandbox)?.code).toBe(mockBody.error?.code);
    }
  });

  test('without a credential both answer the real 401, whatever is forced', async () => {
    const mock = await fetch(`${prism.url}/v1/health`, { headers: { Prefer: 'code=503' } });
    const sandbox = await server.call('GET', '/v1/health', { headers: { ...fromNewAddress(), Prefer: 'code=503' } });
    expect([mock.status, sandbox.status]).toEqual([401, 401]);
  });
});
