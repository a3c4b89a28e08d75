// What the walks over every operation (coverage.test.ts, scenarios.test.ts) call with: one server, and residents the
// walk reads but must leave alone.
import { expect } from 'vitest';
import type { ServerOptions } from '../../../src/server/index.ts';
import { SCANNER_KEYS } from '../../helpers/secret-scanner.ts';
import { newEmail, type Session, signUp } from './accounts.ts';
import { startTestServer, type TestKey, type TestServer } from './server.ts';
import type { Body } from './spec.ts';

/** The server of a walk and what it holds before the first operation runs. */
export interface Walk {
  server: TestServer;
  /** A full-access key of a roomy organization; `readOnly` and `keyToRead` are keys of the same organization. */
  full: TestKey;
  readOnly: TestKey;
  keyToRead: TestKey;
  /** A contact of `full`'s organization. */
  contactToRead: Body<'createContact', 201>['data'];
  /** Owns `organizationId`; `member` belongs to it as a member; `orgKeyId` is one of its keys. */
  owner: Session;
  member: Session;
  organizationId: string;
  orgKeyId: string;
  /** A webhook endpoint of `full`'s organization (events are written for it, never sent), and one of its deliveries. */
  endpointId: string;
  deliveryId: string;
  /** The same in the owner's organization (made through its twin, with the owner's token). */
  orgEndpointId: string;
  orgDeliveryId: string;
}

/** What differs between the walks: the server's options, how they tag what they create, the contact's fields. */
export interface WalkOptions {
  server: Partial<ServerOptions>;
  /** Tags the users' emails. */
  tag: string;
  /** The name of the organization key `orgKeyId`. */
  orgKeyName: string;
  /** More fields of the contact to read. */
  contact?: Record<string, unknown>;
}

/**
 * Starts a server (trusting X-Forwarded-For, so each sign-up comes from an address of its own) and makes the walk's
 * residents: three keys of one organization, a contact, and an organization of users with an owner, a member and a key.
 * The server is a sandbox, so the walks reach `POST /sandbox/reset` too; its reset state is the residents, so the
 * walk's own reset puts back exactly what the walk reads.
 */
export async function startWalk(options: WalkOptions): Promise<Walk> {
  const server = await startTestServer({
    trustProxy: true,
    sandbox: true,
    // Endpoints may be local; nothing is delivered (the walk reads the outbox, it doesn't test delivery).
    webhooks: { allowPrivate: true, deliver: false, secretScanningKeys: SCANNER_KEYS },
    ...options.server,
  });
  const full = await server.newKey();
  const readOnly = await server.newKey({ organization: full.organization, access: 'read_only' });
  const keyToRead = await server.newKey({ organization: full.organization });
  const contact = await server.call<Body<'createContact', 201>>('POST', '/v1/contacts', {
    key: full.plaintext,
    body: { email: newEmail('reader'), ...options.contact },
  });
  expect(contact.status, contact.text).toBe(201);
  const signUpOne = () => signUp(server, { tag: options.tag, fromNewAddress: true });
  const [owner, member] = await Promise.all([signUpOne(), signUpOne()]);
  const organizationId = owner.organizations[0]?.organizationId ?? '';
  const joined = await server.call('POST', `/organizations/${organizationId}/members`, {
    key: owner.token,
    body: { email: member.user.email },
  });
  expect(joined.status, joined.text).toBe(201);
  const orgKey = await server.call<Body<'createOrganizationApiKey', 201>>(
    'POST',
    `/organizations/${organizationId}/api-keys`,
    { key: owner.token, body: { name: options.orgKeyName } },
  );
  expect(orgKey.status, orgKey.text).toBe(201);
  const endpointId = await newEndpoint(server, '/v1/webhook-endpoints', full.plaintext, 'http://127.0.0.1:9/walk');
  const ping = await server.call<Body<'testWebhookEndpoint', 202>>('POST', `/v1/webhook-endpoints/${endpointId}/test`, {
    key: full.plaintext,
  });
  expect(ping.status, ping.text).toBe(202);
  const orgEndpoints = `/organizations/${organizationId}/webhook-endpoints`;
  const orgEndpointId = await newEndpoint(server, orgEndpoints, owner.token, 'http://127.0.0.1:9/walk-organization');
  const orgPing = await server.call<Body<'testOrganizationWebhookEndpoint', 202>>(
    'POST',
    `${orgEndpoints}/${orgEndpointId}/test`,
    { key: owner.token },
  );
  expect(orgPing.status, orgPing.text).toBe(202);
  await server.handle.sandbox?.capture();
  return {
    server,
    full,
    readOnly,
    keyToRead,
    contactToRead: contact.body.data,
    owner,
    member,
    organizationId,
    orgKeyId: orgKey.body.data.keyId,
    endpointId,
    deliveryId: ping.body.data.deliveryId,
    orgEndpointId,
    orgDeliveryId: orgPing.body.data.deliveryId,
  };
}

/**
 * A webhook endpoint made through `path` (`/v1/webhook-endpoints` with a key, or an organization's twin with a member's
 * token); its id. Never delivered to: port 9 of 127.0.0.1 (the walks' servers allow private addresses).
 */
export async function newEndpoint(server: TestServer, path: string, key: string, url: string): Promise<string> {
  const endpoint = await server.call<Body<'createWebhookEndpoint', 201>>('POST', path, { key, body: { url } });
  expect(endpoint.status, endpoint.text).toBe(201);
  return endpoint.body.data.endpointId;
}
