import { randomUUID } from 'node:crypto';
import { createConnection } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ALL_PERMISSIONS, type Permission } from '../../src/lib/permissions.ts';
import { CHUNKED_BODY_MALFORMED } from '../../src/server/errors.ts';
import { IDEMPOTENCY_LEASE_MS, IDEMPOTENCY_RETENTION_MS, idempotencyScope } from '../../src/server/idempotency.ts';
import { scannerHeaders } from '../helpers/secret-scanner.ts';
import {
  fromNewAddress,
  logIn,
  newEmail,
  newSession,
  PASSWORD,
  type Session,
  signUp as signUpAs,
} from './helpers/accounts.ts';
import { validBodyOf } from './helpers/bodies.ts';
import { type CallOptions, coverageKey, exercisedResponses, expectError } from './helpers/call.ts';
import { LENIENT_ACCOUNT_WINDOWS, SERVER_SECRET, type TestKey, type TestServer } from './helpers/server.ts';
import { type Body, SPEC, SPEC_OPERATIONS, type SpecOperation } from './helpers/spec.ts';
import { newEndpoint, startWalk } from './helpers/walk.ts';

// The contract suite: every operation × every status the spec documents for it, each produced for real over HTTP.
// `call` (helpers/call.ts) records every checked response; the last test compares that record with the spec. Vitest runs
// each test file in its own process, so this file produces every pair itself rather than relying on the others.

const ONLY_A_BUG =
  'SERVER_ERROR is what a bug answers. The operations that take an API key reach it for real through an organization ' +
  "on a plan the server lacks, because they count against the organization's plan; this operation counts against the user or " +
  'address window, which no configuration can break, so only fault injection would produce it.';

/**
 * (operationId, status) pairs that cannot be produced without fault injection, with the reason. For the operations that
 * take an API key, 500 is reachable for real (an organization on a plan the server is not configured with), and 503 by
 * closing the store.
 */
const NOT_REACHABLE: Record<string, string> = Object.fromEntries(
  SPEC_OPERATIONS.filter((op) => !takesApiKey(op) && op.statuses.includes(500)).map((op) => [
    `${op.operationId} 500`,
    ONLY_A_BUG,
  ]),
);

function takesApiKey(op: SpecOperation): boolean {
  return op.schemes.includes('bearerAuth');
}

const MISSING_KEY_ID = 'key_0000000000000000';
const MISSING_CONTACT_ID = 'ct_0000000000000000';
const MISSING_ORGANIZATION_ID = 'org_0000000000000000';
const MISSING_USER_ID = 'usr_0000000000000000';
const MISSING_SESSION_ID = 'tok_0000000000000000';
const MISSING_ENDPOINT_ID = 'we_0000000000000000';
const MISSING_DELIVERY_ID = 'dlv_0000000000000000';
const ADDRESS_LIMIT = 30;

const takesUserToken = (op: SpecOperation) => op.schemes.includes('userToken');
/** The /v1 operations and the sandbox's reset: counted against the organization's plan. */
const API_KEY_OPERATIONS = SPEC_OPERATIONS.filter((op) => takesApiKey(op));
const isPublic = (op: SpecOperation) => op.schemes.length === 0;
const V1_OPERATIONS = SPEC_OPERATIONS.filter((op) => op.path.startsWith('/v1/'));
const SECURED_OPERATIONS = SPEC_OPERATIONS.filter((op) => !isPublic(op));
const ADDRESS_OPERATIONS = SPEC_OPERATIONS.filter((op) => isPublic(op) && op.rateLimited.includes(429));
const BODY_OPERATIONS = SPEC_OPERATIONS.filter((op) => op.takesBody);
/** The /v1 operations that name a permission (`contacts:write`) in their security requirement. */
const PERMISSION_OPERATIONS = V1_OPERATIONS.filter((op) => op.roles.length > 0);
const OWNER_OPERATIONS = SPEC_OPERATIONS.filter((op) => op.roles.includes('owner'));
const BY_ID_OPERATIONS = SPEC_OPERATIONS.filter((op) => op.path.includes('{'));
/** Operations that declare the Idempotency-Key header parameter (a `$ref` to the shared component). */
const IDEMPOTENT_OPERATIONS = SPEC_OPERATIONS.filter((op) =>
  JSON.stringify(
    (SPEC.paths[op.path]?.[op.method.toLowerCase()] as { parameters?: unknown })?.parameters ?? [],
  ).includes('#/components/parameters/IdempotencyKey'),
);

interface Ids {
  keyId?: string;
  contactId?: string;
  organizationId?: string;
  userId?: string;
  sessionId?: string;
  endpointId?: string;
  deliveryId?: string;
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
const signUp = () => signUpAs(server, { tag: 'coverage', fromNewAddress: true });

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
    server: {
      failedAuth: { name: 'auth-failures', limit: 20, windowSeconds: 60 },
      // The user window stays out of the way (this file makes well over 120 user-token requests a minute); the address
      // window is the one its 429s are produced with.
      accountWindows: {
        ...LENIENT_ACCOUNT_WINDOWS,
        address: { name: 'address', limit: ADDRESS_LIMIT, windowSeconds: 60 },
      },
    },
    tag: 'coverage',
    orgKeyName: 'read by coverage',
  }));
});
afterAll(async () => {
  await server?.close();
});

/** (method, spec path, status) of the answers read off raw sockets, which `call` cannot send or record. */
const exercisedRaw = new Set<string>();

/** One answer read off a raw socket: its status, lower-cased headers and body. */
interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends `request` as bytes on a new connection and reads the answer until the server closes the connection. */
function sendRaw(request: string): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port: server.handle.port });
    const received: Buffer[] = [];
    socket.on('data', (chunk) => received.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(received).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const [statusLine = '', ...lines] = text.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: text.slice(split + 4) });
    });
    socket.write(request);
  });
}

/** A valid body for each operation that takes one. */
const validBody = (op: SpecOperation): unknown =>
  validBodyOf(op.operationId, 'coverage', { owner: owner.user.email, member: member.user.email });

/** The operation's path with its parameters filled in (missing ids where `ids` has none). */
function pathOf(op: SpecOperation, ids: Ids = {}): string {
  return op.path
    .replace('{keyId}', ids.keyId ?? MISSING_KEY_ID)
    .replace('{contactId}', ids.contactId ?? MISSING_CONTACT_ID)
    .replace('{organizationId}', ids.organizationId ?? MISSING_ORGANIZATION_ID)
    .replace('{userId}', ids.userId ?? MISSING_USER_ID)
    .replace('{sessionId}', ids.sessionId ?? MISSING_SESSION_ID)
    .replace('{endpointId}', ids.endpointId ?? MISSING_ENDPOINT_ID)
    .replace('{deliveryId}', ids.deliveryId ?? MISSING_DELIVERY_ID);
}

/** Existing resources for the operation: the /v1 key's or the owner's organization's. */
function existingIds(op: SpecOperation): Ids {
  return takesUserToken(op)
    ? {
        organizationId,
        keyId: orgKeyId,
        userId: member.user.userId,
        sessionId: owner.sessionId,
        endpointId: orgEndpointId,
        deliveryId: orgDeliveryId,
      }
    : { keyId: keyToRead.keyId, contactId: contactToRead.contactId, endpointId, deliveryId };
}

/** The scheme of the secret-scanning report: a signature checked over the body, not a key. */
const takesScannerSignature = (op: SpecOperation) => op.schemes.includes('githubSecretScanning');

/**
 * The credential the operation takes: the full key, the owner's user token, none (public, from a new address), or a
 * scanner's signature headers (over an empty body: they pass authentication, and only a body they sign passes the
 * operation's own check; `callOperation` signs its body).
 */
function credentialsFor(op: SpecOperation): CallOptions {
  if (isPublic(op)) {
    return op.path === '/livez' ? {} : { headers: fromNewAddress() };
  }
  if (takesScannerSignature(op)) {
    return { headers: scannerHeaders('') };
  }
  return { key: takesUserToken(op) ? owner.token : full.plaintext };
}

/** Calls an operation with its credential and a valid body (unless `options` says otherwise) on existing resources. */
function callOperation(op: SpecOperation, options: CallOptions = {}, ids?: Ids) {
  const body = validBody(op);
  const credentials = credentialsFor(op);
  if (takesScannerSignature(op) && options.body === undefined && options.raw === undefined) {
    // A report is signed over its exact bytes; `key: undefined` asks for no credentials, so: unsigned.
    const raw = JSON.stringify(body);
    const unsigned = 'key' in options && options.key === undefined;
    return server.call(op.method, pathOf(op, ids ?? existingIds(op)), {
      raw,
      ...options,
      headers: { ...(unsigned ? {} : scannerHeaders(raw)), ...options.headers },
    });
  }
  return server.call(op.method, pathOf(op, ids ?? existingIds(op)), {
    ...(body === undefined ? {} : { body }),
    ...credentials,
    ...options,
  });
}

/** Ids and credentials an operation's success needs when it uses something up (a key revoked, a token logged out). */
async function arrangeSuccess(op: SpecOperation): Promise<{ ids: Ids; options: CallOptions }> {
  const ids = existingIds(op);
  switch (op.operationId) {
    case 'revokeApiKey':
    case 'rotateApiKey':
      return { ids: { ...ids, keyId: (await server.newKey({ organization: full.organization })).keyId }, options: {} };
    case 'deleteContact': {
      const spare = await server.call<Body<'createContact', 201>>('POST', '/v1/contacts', {
        key: full.plaintext,
        body: { email: newEmail('spare') },
      });
      return { ids: { ...ids, contactId: spare.body.data.contactId }, options: {} };
    }
    case 'revokeOrganizationApiKey':
    case 'rotateOrganizationApiKey':
      return { ids: { ...ids, keyId: await spareOrganizationKey() }, options: {} };
    case 'deleteWebhookEndpoint': {
      const endpointId = await newEndpoint(server, '/v1/webhook-endpoints', full.plaintext, 'http://127.0.0.1:9/spare');
      return { ids: { ...ids, endpointId }, options: {} };
    }
    case 'deleteOrganizationWebhookEndpoint': {
      const path = `/organizations/${organizationId}/webhook-endpoints`;
      const endpointId = await newEndpoint(server, path, owner.token, 'http://127.0.0.1:9/spare');
      return { ids: { ...ids, endpointId }, options: {} };
    }
    case 'logOut':
      return { ids, options: { key: await logIn(server, owner.user.email) } };
    case 'endSession':
      return { ids: { ...ids, sessionId: (await newSession(server, owner.user.email)).sessionId }, options: {} };
    case 'changePassword':
    case 'endOtherSessions':
      // The account's own: a password change and its sessions ended are another user's, not the walk's owner's.
      return { ids, options: { key: (await signUp()).token } };
    case 'addMember':
      return { ids, options: { body: { email: (await signUp()).user.email } } };
    case 'removeMember': {
      const leaving = await signUp();
      await server.call('POST', `/organizations/${organizationId}/members`, {
        key: owner.token,
        body: { email: leaving.user.email },
      });
      return { ids: { ...ids, userId: leaving.user.userId }, options: {} };
    }
    default:
      return { ids, options: {} };
  }
}

/** A new key of the owner's organization, for an operation that uses one up (revoke, rotate). */
async function spareOrganizationKey(body: { name: string; expirationDays?: number } = { name: 'spare' }) {
  const spare = await server.call<Body<'createOrganizationApiKey', 201>>(
    'POST',
    `/organizations/${organizationId}/api-keys`,
    { key: owner.token, body },
  );
  expect(spare.status, spare.text).toBe(201);
  return spare.body.data.keyId;
}

describe('every operation × every documented status', () => {
  test('every operation answers its success status', async () => {
    for (const op of SPEC_OPERATIONS) {
      const { ids, options } = await arrangeSuccess(op);
      const reply = await callOperation(op, options, ids);
      const success = op.statuses.filter((s) => s < 300);
      expect(success, op.operationId).toHaveLength(1);
      expect(reply.status, `${op.operationId}: ${reply.text}`).toBe(success[0]);
    }
  });

  test('every secured operation answers 401 without credentials, and log-in to a wrong password', async () => {
    for (const op of SECURED_OPERATIONS) {
      const reply = await callOperation(op, { key: undefined, headers: fromNewAddress() });
      expectError(reply, 401, 'UNAUTHORIZED');
    }
    const wrong = await server.call('POST', '/auth/login', {
      headers: fromNewAddress(),
      body: { email: owner.user.email, password: 'not the password' },
    });
    expectError(wrong, 401, 'UNAUTHORIZED');
  });

  test('every operation that checks its input answers 422 to an unknown query parameter', async () => {
    for (const op of SPEC_OPERATIONS.filter((o) => o.statuses.includes(422))) {
      const body = validBody(op);
      const reply = await server.call(op.method, `${pathOf(op, existingIds(op))}?unexpected=1`, {
        ...(body === undefined ? {} : { body }),
        ...credentialsFor(op),
      });
      expect(expectError(reply, 422, 'VALIDATION_ERROR').details, op.operationId).toEqual({
        'query.unexpected': ['is not an allowed query parameter'],
      });
    }
  });

  test('every operation that takes a body answers 400, 413 and 415', async () => {
    for (const op of BODY_OPERATIONS) {
      const path = pathOf(op, existingIds(op));
      const send = (options: CallOptions) => server.call(op.method, path, { ...credentialsFor(op), ...options });
      expectError(await send({ raw: '{"' }), 400, 'BAD_REQUEST');
      expectError(await send({ raw: `"${'x'.repeat(110 * 1024)}"` }), 413, 'PAYLOAD_TOO_LARGE');
      expectError(await send({ raw: 'name=x', contentType: 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    }
  });

  test('every operation answers 431 to request headers over 16 KiB', async () => {
    for (const op of SPEC_OPERATIONS) {
      const reply = await callOperation(op, { headers: { 'x-padding': 'x'.repeat(17 * 1024) } });
      expectError(reply, 431, 'HEADERS_TOO_LARGE');
    }
  });

  test('every operation answers 400 to a body that is not JSON or a malformed chunked body, those that take no body included', async () => {
    for (const op of SPEC_OPERATIONS) {
      const credentials = credentialsFor(op);
      const lines = [
        `${op.method} ${pathOf(op, existingIds(op))} HTTP/1.1`,
        'Host: 127.0.0.1',
        ...(credentials.key === undefined ? [] : [`Authorization: Bearer ${credentials.key}`]),
        ...Object.entries(credentials.headers ?? {}).map(([name, value]) => `${name}: ${value}`),
        'Content-Type: application/json',
        'Transfer-Encoding: chunked',
      ];
      // Its other example: a body (with a Content-Length) that is not JSON, which a GET or a DELETE may carry too.
      const notJson = await sendRaw(
        `${lines.filter((l) => !l.startsWith('Transfer-Encoding')).join('\r\n')}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{"`,
      );
      expect(notJson.status, `${op.operationId}: ${notJson.body}`).toBe(400);
      expect(JSON.parse(notJson.body).error, op.operationId).toEqual({
        code: 'BAD_REQUEST',
        message: 'The request body is not valid JSON',
      });
      // A chunk size that is not hexadecimal: the framing is broken before any byte of the body is read.
      const reply = await sendRaw(`${lines.join('\r\n')}\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`);
      const what = `${op.operationId}: ${reply.status} ${reply.body}`;
      expect(reply.status, what).toBe(400);
      expect(op.statuses, `400 is documented for ${op.operationId}`).toContain(400);
      expect(reply.headers['content-type'], what).toMatch(/^application\/json\b/);
      const body = JSON.parse(reply.body) as { success: boolean; error: { code: string; message: string } };
      expect(body, what).toEqual({
        success: false,
        error: { code: 'BAD_REQUEST', message: CHUNKED_BODY_MALFORMED },
        meta: { requestId: reply.headers['x-request-id'] },
      });
      // The rate-limit headers as the spec declares them for this operation's 400 (none on the probe).
      expect('x-ratelimit-limit' in reply.headers, what).toBe(op.rateLimited.includes(400));
      exercisedRaw.add(coverageKey(op.method, op.path, 400));
    }
    // One the spec documented no 400 for before the account operations were checked: a GET.
    expect(exercisedRaw.has(coverageKey('GET', '/v1/health', 400))).toBe(true);
  });

  test('creating a key past the organization’s 100 active keys answers 409', async () => {
    const crowded = await server.newKey();
    for (let i = 1; i < 100; i++) {
      await server.newKey({ organization: crowded.organization });
    }
    expectError(
      await server.call('POST', '/v1/api-keys', { key: crowded.plaintext, body: { name: 'one too many' } }),
      409,
      'KEY_LIMIT_REACHED',
    );
  });

  test('every operation that accepts an Idempotency-Key answers 422 to its reuse and 409 while it is in flight', async () => {
    expect(IDEMPOTENT_OPERATIONS.map((op) => op.operationId).sort()).toEqual([
      'createApiKey',
      'createContact',
      'createOrganization',
      'createOrganizationApiKey',
      'createOrganizationWebhookEndpoint',
      'createWebhookEndpoint',
      'rotateApiKey',
      'rotateOrganizationApiKey',
      'signUp',
    ]);
    for (const op of IDEMPOTENT_OPERATIONS) {
      const ids =
        op.operationId === 'rotateApiKey'
          ? { keyId: (await server.newKey({ organization: full.organization })).keyId }
          : op.operationId === 'rotateOrganizationApiKey'
            ? { ...existingIds(op), keyId: await spareOrganizationKey() }
            : existingIds(op);
      const path = pathOf(op, ids);
      const body = validBody(op);
      // Whose keys these are: the calling key in its organization; the user in the organization of the path, or in
      // none when creating one (the member, whose user window the other tests leave alone); no one for a sign-up.
      const caller = isPublic(op)
        ? { organizationId: '', principal: 'anonymous' }
        : takesUserToken(op)
          ? {
              organizationId: op.path.includes('{organizationId}') ? organizationId : '',
              principal: `user:${member.user.userId}`,
            }
          : { organizationId: full.organizationId, principal: `key:${full.keyId}` };
      const credentials = takesUserToken(op) ? { key: member.token } : credentialsFor(op);
      const send = (idempotencyKey: string, sent: unknown = body) =>
        server.call(op.method, path, {
          ...credentials,
          body: sent,
          headers: { ...credentials.headers, 'Idempotency-Key': idempotencyKey },
        });
      const used = randomUUID();
      const first = await send(used);
      expect(first.status, first.text).toBeLessThan(300);
      expect((await send(used)).headers.get('idempotent-replayed'), op.operationId).toBe('true');
      // A different valid body: every field of these bodies is a string or a number.
      const different = Object.fromEntries(
        Object.entries(body as Record<string, string | number>).map(([name, value]) => [
          name,
          typeof value === 'number' ? value + 1 : `x${value}`,
        ]),
      );
      expectError(await send(used, different), 422, 'IDEMPOTENCY_KEY_REUSED');

      // Another instance is running the same request under another key: read the request's fingerprint from the
      // entry the first one left, and claim the second key with it, as that instance would have.
      const now = server.now();
      const probe = await server.handle.store.claimIdempotencyKey({
        ...idempotencyScope(SERVER_SECRET, caller, used),
        fingerprint: '0'.repeat(64),
        owner: 'probe',
        at: now,
        leaseExpiresAt: now,
        expiresAt: now,
      });
      if (probe.claimed) {
        throw new Error(`${op.operationId}: the first request left no entry`);
      }
      const running = randomUUID();
      await server.handle.store.claimIdempotencyKey({
        ...idempotencyScope(SERVER_SECRET, caller, running),
        fingerprint: probe.existing.fingerprint,
        owner: 'another instance',
        at: now,
        leaseExpiresAt: new Date(now.getTime() + IDEMPOTENCY_LEASE_MS),
        expiresAt: new Date(now.getTime() + IDEMPOTENCY_RETENTION_MS),
      });
      const busy = await send(running);
      expectError(busy, 409, 'IDEMPOTENCY_KEY_IN_USE');
      expect(busy.headers.get('retry-after')).toBe('1');
    }
  });

  test('rotating a key that was rotated already or has expired answers 409', async () => {
    const rotated = await server.newKey({ organization: full.organization });
    const rotate = (keyId: string) =>
      server.call('POST', `/v1/api-keys/${keyId}/rotate`, { key: full.plaintext, body: { gracePeriodMinutes: 60 } });
    expect((await rotate(rotated.keyId)).status).toBe(201);
    expectError(await rotate(rotated.keyId), 409, 'KEY_ALREADY_ROTATED');
    const expiring = await server.newKey({ organization: full.organization, expiresInDays: 1 });
    // The same under a user token (rotateOrganizationApiKey).
    const rotateInOrganization = (keyId: string) =>
      server.call('POST', `/organizations/${organizationId}/api-keys/${keyId}/rotate`, { key: owner.token });
    const organizationKey = await spareOrganizationKey();
    const expiringInOrganization = await spareOrganizationKey({ name: 'expiring', expirationDays: 1 });
    expect((await rotateInOrganization(organizationKey)).status).toBe(201);
    expectError(await rotateInOrganization(organizationKey), 409, 'KEY_ALREADY_ROTATED');
    server.advanceClock(86_400_000);
    expectError(await rotate(expiring.keyId), 409, 'KEY_EXPIRED');
    expectError(await rotateInOrganization(expiringInOrganization), 409, 'KEY_EXPIRED');
  });

  test('every /v1 operation that names a permission answers 403 to a key with every other one', async () => {
    const lacking = new Map<string, TestKey>();
    for (const op of PERMISSION_OPERATIONS) {
      const needed = op.roles[0] as Permission;
      let key = lacking.get(needed);
      if (!key) {
        key = await server.newKey({
          organization: full.organization,
          permissions: ALL_PERMISSIONS.filter((permission) => permission !== needed),
        });
        lacking.set(needed, key);
      }
      const error = expectError(await callOperation(op, { key: key.plaintext }), 403, 'FORBIDDEN');
      expect(error.details, op.operationId).toEqual({ permissions: [needed] });
    }
    // A read_only key, the shorthand of every :read permission, is refused every write.
    for (const op of PERMISSION_OPERATIONS.filter((o) => o.roles[0]?.endsWith(':write'))) {
      expectError(await callOperation(op, { key: readOnly.plaintext }), 403, 'FORBIDDEN');
    }
  });

  test('every owner-only operation answers 403 to a member, and removing someone else too', async () => {
    for (const op of OWNER_OPERATIONS) {
      expectError(await callOperation(op, { key: member.token }), 403, 'FORBIDDEN');
    }
    const removeOwner = SPEC_OPERATIONS.find((op) => op.operationId === 'removeMember') as SpecOperation;
    const reply = await callOperation(
      removeOwner,
      { key: member.token },
      { organizationId, userId: owner.user.userId },
    );
    expectError(reply, 403, 'FORBIDDEN');
  });

  test('every operation on one resource answers 404 for an id that does not exist, or is not yours', async () => {
    for (const op of BY_ID_OPERATIONS) {
      expectError(await callOperation(op, {}, {}), 404, 'RESOURCE_NOT_FOUND');
    }
    // Organizations exist that the caller does not belong to: the same 404.
    const stranger = await signUp();
    for (const op of BY_ID_OPERATIONS.filter(takesUserToken)) {
      expectError(await callOperation(op, { key: stranger.token }), 404, 'RESOURCE_NOT_FOUND');
    }
  });

  test('every path answers 405 to a method it does not declare', async () => {
    for (const path of new Set(SPEC_OPERATIONS.map((op) => op.path))) {
      const op = SPEC_OPERATIONS.find((candidate) => candidate.path === path) as SpecOperation;
      const { key, headers } = credentialsFor(op);
      const reply = await server.call('PUT', pathOf(op, existingIds(op)), { key, headers });
      expectError(reply, 405, 'METHOD_NOT_ALLOWED');
    }
  });

  test('creating or updating a contact onto a taken email answers 409', async () => {
    const taken = contactToRead.email.toUpperCase();
    const other = await server.call<Body<'createContact', 201>>('POST', '/v1/contacts', {
      key: full.plaintext,
      body: { email: newEmail('other') },
    });
    expectError(
      await server.call('POST', '/v1/contacts', { key: full.plaintext, body: { email: taken } }),
      409,
      'DUPLICATE_RESOURCE',
    );
    expectError(
      await server.call('PATCH', `/v1/contacts/${other.body.data.contactId}`, {
        key: full.plaintext,
        body: { email: taken },
      }),
      409,
      'DUPLICATE_RESOURCE',
    );
  });

  test('signing up a taken email, adding a member twice and removing or demoting the last owner answer 409', async () => {
    expectError(
      await server.call('POST', '/auth/signup', {
        headers: fromNewAddress(),
        body: { email: owner.user.email.toUpperCase(), password: PASSWORD },
      }),
      409,
      'DUPLICATE_RESOURCE',
    );
    const addMember = SPEC_OPERATIONS.find((op) => op.operationId === 'addMember') as SpecOperation;
    expectError(await callOperation(addMember), 409, 'DUPLICATE_RESOURCE');
    const ownerIds = { organizationId, userId: owner.user.userId };
    for (const operationId of ['updateMember', 'removeMember']) {
      const op = SPEC_OPERATIONS.find((candidate) => candidate.operationId === operationId) as SpecOperation;
      expectError(await callOperation(op, {}, ownerIds), 409, 'LAST_OWNER');
    }
  });

  test('every counted /v1 operation answers 429 once the organization’s pool is exhausted', async () => {
    const tiny = await server.newKey({ plan: 'tiny' });
    for (let i = 0; i < 3; i++) {
      expect((await server.call('GET', '/v1/health', { key: tiny.plaintext })).status).toBe(200);
    }
    for (const op of V1_OPERATIONS) {
      const reply = await callOperation(op, { key: tiny.plaintext });
      if (op.operationId === 'getRateLimitStatus') {
        // Not counted, so never refused for the plan: it reports the exhausted window instead.
        expect(reply.status).toBe(200);
        expect(reply.rate?.remaining).toBe(0);
      } else {
        expectError(reply, 429, 'RATE_LIMITED');
      }
    }
  });

  test('every secured operation, GET /v1/rate-limit included, answers 429 to an address over its failed-auth budget', async () => {
    const address = fromNewAddress();
    for (let i = 0; i < 20; i++) {
      expect((await server.call('GET', '/v1/health', { key: 'wrong', headers: address })).status).toBe(401);
    }
    for (const op of SECURED_OPERATIONS) {
      const reply = await callOperation(op, { headers: address });
      expectError(reply, 429, 'RATE_LIMITED');
      expect(reply.rate?.binding.name).toBe('auth-failures');
    }
  });

  test('sign-up and log-in answer 429 once their address has used its window, whatever the requests were', async () => {
    const address = fromNewAddress();
    for (let i = 0; i < ADDRESS_LIMIT; i++) {
      // Invalid bodies count too: the window is spent before the input is checked.
      expect((await server.call('POST', '/auth/login', { headers: address, body: {} })).status).toBe(422);
    }
    for (const op of ADDRESS_OPERATIONS) {
      const reply = await callOperation(op, { headers: address });
      expectError(reply, 429, 'RATE_LIMITED');
      expect(reply.rate?.binding.name).toBe('address');
    }
  });

  test('every operation that takes an API key answers 500 when the organization’s plan is not configured on the server', async () => {
    // A real misconfiguration, not an injected fault: the organization row names a plan the plan table lacks.
    const ghost = await server.newKey({ plan: 'retired-plan' });
    for (const op of API_KEY_OPERATIONS) {
      const reply = await callOperation(op, { key: ghost.plaintext });
      const error = expectError(reply, 500, 'SERVER_ERROR');
      expect(error.message).toBe(
        `An unexpected error occurred. Quote request id ${reply.requestId} if you contact support.`,
      );
      expect(error.message).not.toMatch(/plan|stack|Error/);
    }
    expect(server.logs()).toMatch(/unknown rate-limit plan \\"retired-plan\\"/);
  });

  test('every operation but the probe answers 503 once the database is down, while /livez still answers 200', async () => {
    // Runs last but one: it closes this server's store for good.
    const cold = await server.newKey({ organization: full.organization });
    await server.handle.store.close();

    for (const op of SPEC_OPERATIONS.filter((o) => o.statuses.includes(503))) {
      const reply = await callOperation(op, takesUserToken(op) ? {} : isPublic(op) ? {} : { key: cold.plaintext });
      expect(expectError(reply, 503, 'SERVICE_UNAVAILABLE').message, op.operationId).toMatch(/database is unavailable/);
    }
    // A key verified before the outage passes authentication; what needs the database still answers 503.
    for (const [method, path, body] of [
      ['GET', '/v1/contacts', undefined],
      ['POST', '/v1/api-keys', { name: 'during the outage' }],
      ['GET', '/v1/health', undefined],
    ] as const) {
      const reply = await server.call(method, path, { key: full.plaintext, ...(body ? { body } : {}) });
      expectError(reply, 503, 'SERVICE_UNAVAILABLE');
      expect(reply.rate?.binding.name).toBe('burst');
    }
    expect((await server.call('GET', '/livez')).status).toBe(200);
  });

  test('every (operation, status) pair the spec documents was exercised', () => {
    const exercised = [...exercisedResponses()].map((entry) => {
      const [method, path, status] = entry.split(' ');
      return { method, path, status: Number(status) };
    });
    const missing: string[] = [];
    for (const op of SPEC_OPERATIONS) {
      for (const status of op.statuses) {
        const seen =
          status === 405
            ? exercised.some((e) => e.path === op.path && e.status === 405)
            : exercisedResponses().has(coverageKey(op.method, op.path, status)) ||
              exercisedRaw.has(coverageKey(op.method, op.path, status));
        if (!seen && NOT_REACHABLE[`${op.operationId} ${status}`] === undefined) {
          missing.push(`${op.operationId} (${op.method} ${op.path}) ${status}`);
        }
      }
    }
    expect(SPEC_OPERATIONS.length).toBeGreaterThan(0);
    expect(missing).toEqual([]);
  });
});
