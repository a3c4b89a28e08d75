import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { startServer } from '../../../src/server/index.ts';
import { freshDataDir } from '../../helpers/data-dir.ts';
import { PG_URL } from '../../helpers/postgres.ts';
import { newEmail } from '../helpers/accounts.ts';
import { expectError } from '../helpers/call.ts';
import { PLANS, SERVER_SECRET, startTestServer, TEST_PASSWORD_COST, type TestServer } from '../helpers/server.ts';
import type { Body } from '../helpers/spec.ts';

// A sandbox (`mailroom serve --sandbox --seed FILE`): it starts with a fixture's records, and `POST /sandbox/reset`
// puts them back, every table and the server's memory of them (cached keys, rate-limit windows) included. Outside
// sandbox mode the path is unknown and a fixture may not fix a key's text.

const FIXTURE = fileURLToPath(new URL('./fixtures/sandbox.yaml', import.meta.url));
const CI_KEY = 'mr_acmeci01_SandboxCiKeyOfTheAcmeFixture00012qK3tj';
const READER_KEY = 'mr_acmerd01_SandboxReaderOfTheAcmeFixture0010DDiWg';
const EXPIRED_KEY = 'mr_acmeex01_SandboxExpiredOfTheAcmeFixture0107jzrS';
const TINY_KEY = 'mr_globex01_SandboxTinyKeyOfTheGlobexFixture1kE9Ej';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ sandbox: true, seed: FIXTURE });
});
afterAll(async () => {
  await server?.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const reset = () => server.call<Body<'resetSandbox', 200>>('POST', '/sandbox/reset', { key: CI_KEY });
const logIn = (email: string, password: string) => server.call('POST', '/auth/login', { body: { email, password } });

/** What the sandbox holds, as its callers see it (without `lastUsed`, which every call moves). */
async function sandboxView() {
  const keys = await server.call<Body<'listApiKeys', 200>>('GET', '/v1/api-keys', { key: CI_KEY });
  const contacts = await server.call<Body<'listContacts', 200>>('GET', '/v1/contacts', { key: CI_KEY });
  return {
    keys: keys.body.data.map(({ lastUsed: _, ...key }) => key),
    contacts: contacts.body.data,
  };
}

describe('a sandbox seeded from a fixture', () => {
  beforeEach(async () => {
    expect((await reset()).status).toBe(200);
  });

  test('holds its organizations, keys with their settings, and contacts', async () => {
    const { keys, contacts } = await sandboxView();
    expect(keys.map((k) => [k.name, k.plan, k.environment, k.access, k.rateLimit])).toEqual([
      ['CI', 'steady', 'development', 'full', 1000],
      ['Reader', 'steady', 'production', 'read_only', 3],
      ['Expired', 'steady', 'production', 'full', 1000],
      ['Generated', 'steady', 'staging', 'restricted', 1000],
    ]);
    expect(keys.find((k) => k.name === 'Generated')?.permissions).toEqual(['contacts:read']);
    expect(keys.find((k) => k.name === 'Expired')?.expirationTs).toBe('2020-01-01T00:00:00.000Z');
    expect(keys.find((k) => k.name === 'CI')?.keyPrefix).toBe('mr_acmeci01_****');
    expect(contacts.map((c) => [c.email, c.firstName, c.lastName, c.subscribed])).toEqual([
      ['lin@example.com', 'Lin', 'Chen', true],
      ['sam@example.com', null, null, false],
    ]);
  });

  test('its fixed keys work as written, with their permissions; an expired one gets the expired 401', async () => {
    expect((await server.call('GET', '/v1/api-keys/validate', { key: CI_KEY })).status).toBe(200);
    const reader = await server.call('POST', '/v1/contacts', { key: READER_KEY, body: { email: newEmail() } });
    expectError(reader, 403, 'FORBIDDEN');
    const expired = await server.call('GET', '/v1/api-keys/validate', { key: EXPIRED_KEY });
    expect(expectError(expired, 401, 'UNAUTHORIZED').message).toMatch(/^The API key expired at 2020-01-01T00:00:00/);
  });

  test('a key without a fixed text got a new one, which the handle shows once', async () => {
    const generated = server.handle.seeded?.keys.find((k) => k.name === 'Generated');
    expect(generated?.generated).toMatch(/^mr_[a-z0-9]{8}_[A-Za-z0-9]{38}$/);
    expect(server.handle.seeded?.keys.filter((k) => k.generated !== undefined)).toHaveLength(1);
    const listed = await server.call<Body<'listContacts', 200>>('GET', '/v1/contacts', { key: generated?.generated });
    expect(listed.status).toBe(200);
    expect(server.handle.seeded?.counts).toEqual({ organizations: 2, users: 2, apiKeys: 5, contacts: 2 });
  });

  test('its users log in with the fixture’s passwords and belong to its organizations with their roles', async () => {
    const ada = await logIn('ADA@example.com', 'correct horse battery staple');
    expect(ada.status, ada.text).toBe(200);
    const session = ada.body.data as Body<'logIn', 200>['data'];
    expect(session.organizations.map((o) => [o.name, o.role, o.plan])).toEqual([['Acme', 'owner', 'steady']]);
    const grace = await logIn('grace@example.com', 'another long passphrase');
    expect((grace.body.data as Body<'logIn', 200>['data']).organizations.map((o) => o.role)).toEqual(['member']);
    expectError(await logIn('grace@example.com', 'correct horse battery staple'), 401, 'UNAUTHORIZED');
  });
});

describe('POST /sandbox/reset', () => {
  test('restores the seeded records and removes everything made since', async () => {
    await reset();
    const seeded = await sandboxView();
    const contactId = seeded.contacts[0]?.contactId;
    const ciKeyId = seeded.keys[0]?.keyId;
    await server.call('POST', '/v1/contacts', { key: CI_KEY, body: { email: newEmail('made-since') } });
    await server.call('PATCH', `/v1/contacts/${contactId}`, { key: CI_KEY, body: { firstName: 'Changed' } });
    await server.call('DELETE', `/v1/contacts/${seeded.contacts[1]?.contactId}`, { key: CI_KEY });
    await server.call('PATCH', `/v1/api-keys/${ciKeyId}`, { key: CI_KEY, body: { name: 'Renamed' } });
    const made = await server.call<Body<'createApiKey', 201>>('POST', '/v1/api-keys', {
      key: CI_KEY,
      body: { name: 'made since' },
    });
    const email = newEmail('signed-up');
    const signedUp = await server.call('POST', '/auth/signup', {
      body: { email, password: 'a long enough password' },
    });
    expect([made.status, signedUp.status]).toEqual([201, 201]);
    expect((await server.call('GET', '/v1/contacts', { key: made.body.data.apiKey })).status).toBe(200);
    expect(await sandboxView()).not.toEqual(seeded);

    const answer = await reset();
    expect(answer.status, answer.text).toBe(200);
    expect(answer.body.data).toMatchObject({
      seed: FIXTURE,
      restored: { organizations: 2, users: 2, apiKeys: 5, contacts: 2 },
    });
    expect(await sandboxView()).toEqual(seeded);
    // The key made since was verified (and cached) before the reset: it is refused at once after it.
    expectError(await server.call('GET', '/v1/contacts', { key: made.body.data.apiKey }), 401, 'UNAUTHORIZED');
    expectError(await logIn(email, 'a long enough password'), 401, 'UNAUTHORIZED');
  });

  test('a revoked seeded key works again after a reset', async () => {
    const validated = await server.call<Body<'validateApiKey', 200>>('GET', '/v1/api-keys/validate', {
      key: READER_KEY,
    });
    const readerId = validated.body.data.keyId;
    expect((await server.call('DELETE', `/v1/api-keys/${readerId}`, { key: CI_KEY })).status).toBe(200);
    const revoked = await server.call('GET', '/v1/contacts', { key: READER_KEY });
    expect(expectError(revoked, 401, 'UNAUTHORIZED').message).toBe('The API key has been revoked');
    await reset();
    expect((await server.call('GET', '/v1/contacts', { key: READER_KEY })).status).toBe(200);
  });

  test('every rate-limit window starts unspent: a key refused for its window is admitted again', async () => {
    await reset();
    // Globex is on the `tiny` plan: three requests a minute.
    for (let i = 0; i < 3; i++) {
      expect((await server.call('GET', '/v1/contacts', { key: TINY_KEY })).status).toBe(200);
    }
    expectError(await server.call('GET', '/v1/contacts', { key: TINY_KEY }), 429, 'RATE_LIMITED');
    const answer = await server.call('POST', '/sandbox/reset', { key: TINY_KEY });
    expect(answer.status, answer.text).toBe(200);
    expect(answer.rate, 'the answer describes the windows as the reset left them').toMatchObject({
      remaining: 3,
      limit: 3,
    });
    const after = await server.call('GET', '/v1/contacts', { key: TINY_KEY });
    expect(after.status).toBe(200);
    expect(after.rate?.remaining).toBe(2);
  });

  test('stored idempotent outcomes are gone: the same Idempotency-Key makes a new contact', async () => {
    await reset();
    const body = { email: newEmail('idempotent') };
    const headers = { 'Idempotency-Key': randomUUID() };
    const first = await server.call('POST', '/v1/contacts', { key: CI_KEY, body, headers });
    const replayed = await server.call('POST', '/v1/contacts', { key: CI_KEY, body, headers });
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    await reset();
    const again = await server.call<Body<'createContact', 201>>('POST', '/v1/contacts', { key: CI_KEY, body, headers });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBeNull();
    expect(again.body.data.contactId).not.toBe((first.body as Body<'createContact', 201>).data.contactId);
  });

  test('takes any valid key of the sandbox, of any organization or permission, and no other credential', async () => {
    expect((await server.call('POST', '/sandbox/reset', { key: READER_KEY })).status).toBe(200);
    expect((await server.call('POST', '/sandbox/reset', { key: TINY_KEY })).status).toBe(200);
    expectError(await server.call('POST', '/sandbox/reset'), 401, 'UNAUTHORIZED');
    expectError(await server.call('POST', '/sandbox/reset', { key: EXPIRED_KEY }), 401, 'UNAUTHORIZED');
    const unknown = 'mr_aaaaaaaa_Xk3PqR7sT1uVwY9zA2bC4dE6fG8hJ0kL1mN3pQ';
    expectError(await server.call('POST', '/sandbox/reset', { key: unknown }), 401, 'UNAUTHORIZED');
  });

  test('a request in flight finishes before the reset runs, so what it made is reset away too', async () => {
    await reset();
    const email = newEmail('in-flight');
    const body = JSON.stringify({ email });
    // The request's head and half its body now; the rest once the reset has been sent.
    const socket = createConnection({ host: '127.0.0.1', port: server.handle.port });
    const answered = new Promise<string>((resolve, reject) => {
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk.toString();
      });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    socket.write(
      `POST /v1/contacts HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${CI_KEY}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.slice(0, 5)}`,
    );
    // The pauses only let each request reach the server in this order (the head, the reset, the rest of the body);
    // what is checked is the outcome: the reset ran after the request, whose contact is gone.
    await sleep(300);
    const resetting = reset();
    await sleep(300);
    socket.end(body.slice(5));
    const created = await answered;
    expect(created).toMatch(/^HTTP\/1\.1 201 /);
    expect((await resetting).status).toBe(200);
    const contacts = await server.call<Body<'listContacts', 200>>('GET', '/v1/contacts', { key: CI_KEY });
    expect(contacts.body.data.map((c) => c.email)).not.toContain(email);
  });

  test('the handle resets too, for in-process set-up', async () => {
    await server.call('POST', '/v1/contacts', { key: CI_KEY, body: { email: newEmail('handle') } });
    const outcome = await server.handle.sandbox?.reset();
    expect(outcome?.restored.contacts).toBe(2);
    const contacts = await server.call<Body<'listContacts', 200>>('GET', '/v1/contacts', { key: CI_KEY });
    expect(contacts.body.data).toHaveLength(2);
  });
});

describe('a sandbox without a fixture', () => {
  test('resets to the state it started with, keeping what was captured then', async () => {
    const plain = await startTestServer({ sandbox: true });
    try {
      const first = await plain.newKey({ name: 'first key' });
      await plain.handle.sandbox?.capture();
      const later = await plain.newKey({ organization: first.organization });
      const answer = await plain.call<Body<'resetSandbox', 200>>('POST', '/sandbox/reset', { key: later.plaintext });
      expect(answer.body.data).toMatchObject({ seed: null, restored: { organizations: 1, apiKeys: 1, users: 0 } });
      expect((await plain.call('GET', '/v1/api-keys/validate', { key: first.plaintext })).status).toBe(200);
      expectError(await plain.call('GET', '/v1/api-keys/validate', { key: later.plaintext }), 401, 'UNAUTHORIZED');
    } finally {
      await plain.close();
    }
  });
});

describe('outside sandbox mode', () => {
  test('/sandbox/reset is an unknown path: 404 with or without a key, like any other', async () => {
    const plain = await startTestServer();
    try {
      const key = await plain.newKey();
      for (const headers of [{ 'X-API-Key': key.plaintext }, {}] as Record<string, string>[]) {
        const response = await fetch(`${plain.url}/sandbox/reset`, { method: 'POST', headers });
        expect(response.status).toBe(404);
        expect(await response.json()).toMatchObject({
          success: false,
          error: { code: 'RESOURCE_NOT_FOUND', message: 'No route POST /sandbox/reset' },
        });
      }
      expect(plain.handle.sandbox).toBeUndefined();
    } finally {
      await plain.close();
    }
  });

  test('a fixture with a fixed key is refused in one line, before anything starts', async () => {
    await expect(startServer({ port: 0, seed: FIXTURE, plans: PLANS, logLevel: 'silent' })).rejects.toThrow(
      new RegExp(
        `^${FIXTURE}:17:17: organizations\\[0\\]\\.keys\\[0\\]\\.apiKey: a fixed API key is allowed only in sandbox mode \\(mailroom serve --sandbox, MAILROOM_SANDBOX=1\\) \\(and 3 more\\)$`,
      ),
    );
  });

  test('a fixture seeds a store that holds no data yet, and leaves one that does as it is', async () => {
    const dataDir = await freshDataDir();
    const fixture = join(dataDir, 'fixture.yaml');
    await writeFile(
      fixture,
      'users: [{ email: ada@example.com, password: correct horse battery staple }]\n' +
        'organizations: [{ name: Demo, members: [{ email: ada@example.com, role: owner }], keys: [{ name: Demo key }] }]\n',
    );
    const options = {
      port: 0,
      store: { kind: 'pglite' as const, dataDir },
      seed: fixture,
      plans: PLANS,
      serverSecret: SERVER_SECRET,
      passwordCost: TEST_PASSWORD_COST,
      logLevel: 'silent' as const,
    };
    const first = await startServer(options);
    const key = first.seeded?.keys[0]?.generated as string;
    expect(first.seeded?.counts).toEqual({ organizations: 1, users: 1, apiKeys: 1, contacts: 0 });
    await first.close();
    const second = await startServer(options);
    try {
      expect(second.seeded).toBeUndefined();
      const keys = await fetch(`${second.url}/v1/api-keys`, { headers: { 'X-API-Key': key } });
      expect(((await keys.json()) as Body<'listApiKeys', 200>).data.map((k) => k.name)).toEqual(['Demo key']);
    } finally {
      await second.close();
    }
  });

  test('sandbox mode refuses stores other processes share: PostgreSQL and Redis', async () => {
    await expect(
      startServer({ port: 0, sandbox: true, store: { kind: 'postgres', url: PG_URL }, logLevel: 'silent' }),
    ).rejects.toThrow(/^sandbox mode runs on the embedded database .*drop --database-url \(DATABASE_URL\)$/);
    await expect(
      startServer({
        port: 0,
        sandbox: true,
        rateLimitStore: { kind: 'redis', url: 'redis://127.0.0.1:6379', outagePolicy: 'fail-open' },
        logLevel: 'silent',
      }),
    ).rejects.toThrow(/^sandbox mode counts rate limits in memory .*drop --redis-url \(REDIS_URL\)$/);
  });
});
