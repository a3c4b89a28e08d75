import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { hashApiKey } from '../../src/keys/api-key.ts';
import { openPgliteDb } from '../../src/store/index.ts';
import type { Db } from '../../src/store/types.ts';
import { freshDataDir } from '../helpers/data-dir.ts';
import { newEmail } from './helpers/accounts.ts';
import type { Reply } from './helpers/call.ts';
import { SERVER_SECRET, startTestServer, type TestKey, type TestServer } from './helpers/server.ts';
import type { Body } from './helpers/spec.ts';
import { waitFor } from './helpers/wait.ts';

// One data directory lives through the whole file: a first server creates keys and a contact and sends keys every
// way a client might, a second server is started on the same directory, and finally the directory itself is read.
let dataDir: string;
let logsOfClosedServers = '';

/** Every plaintext key this file has seen; none may be stored, logged or shown again. */
const plaintexts: string[] = [];

/** Every user token and password this file has used; none may be stored, logged or shown again either. */
const accountSecrets: string[] = [];

/** The secret part of a key or token (after `mr_<public id>_` / `mru_<public id>_`): just as bad to leak. */
function secretOf(plaintext: string): string {
  return plaintext.slice(plaintext.indexOf('_', plaintext.indexOf('_') + 1) + 1);
}

/** The plaintexts (or their secret parts) that occur in `text`. */
function leakedIn(text: string): string[] {
  return [...plaintexts, ...accountSecrets].filter(
    (secret) => text.includes(secret) || (/^mru?_/.test(secret) && text.includes(secretOf(secret))),
  );
}

let handleKey: TestKey;
let httpKey: Body<'createApiKey', 201>['data'];
let revokedKey: Body<'createApiKey', 201>['data'];
let contact: Body<'createContact', 201>['data'];
let lastUsedBeforeRestart: Date;

beforeAll(async () => {
  dataDir = await freshDataDir();
});
afterAll(async () => {
  if (dataDir) {
    await rm(dataDir, { recursive: true, force: true });
  }
});

describe('the plaintext key is shown once and never again', () => {
  let server: TestServer;
  const later: Reply<unknown>[] = [];
  const replays: Reply<Body<'createApiKey', 201>>[] = [];

  beforeAll(async () => {
    server = await startTestServer({ store: { kind: 'pglite', dataDir }, lastUsedFlushMs: 50 });
    handleKey = await server.newKey({ name: 'made by the handle' });
    plaintexts.push(handleKey.plaintext);
    const key = handleKey.plaintext;

    const created = await server.call<Body<'createApiKey', 201>>('POST', '/v1/api-keys', {
      key,
      body: { name: 'made over HTTP' },
    });
    httpKey = created.body.data;
    plaintexts.push(httpKey.apiKey);
    const doomed = await server.call<Body<'createApiKey', 201>>('POST', '/v1/api-keys', {
      key,
      body: { name: 'to be revoked' },
    });
    revokedKey = doomed.body.data;
    plaintexts.push(revokedKey.apiKey);
    later.push(await server.call('DELETE', `/v1/api-keys/${revokedKey.keyId}`, { key }));

    // A create and a rotation sent with an Idempotency-Key store their answers (secrets included) for replay.
    const idempotent = { key, headers: { 'Idempotency-Key': 'secrets-create-1' }, body: { name: 'made idempotently' } };
    const idempotentKey = await server.call<Body<'createApiKey', 201>>('POST', '/v1/api-keys', idempotent);
    replays.push(await server.call<Body<'createApiKey', 201>>('POST', '/v1/api-keys', idempotent));
    plaintexts.push(idempotentKey.body.data.apiKey);
    const rotation = { key, headers: { 'Idempotency-Key': 'secrets-rotate-1' }, body: { gracePeriodMinutes: 5 } };
    const path = `/v1/api-keys/${idempotentKey.body.data.keyId}/rotate`;
    const rotated = await server.call<Body<'rotateApiKey', 201>>('POST', path, rotation);
    replays.push(await server.call<Body<'rotateApiKey', 201>>('POST', path, rotation));
    plaintexts.push(rotated.body.data.apiKey);
    expect(replays.map((r) => [r.status, r.headers.get('idempotent-replayed')])).toEqual([
      [201, 'true'],
      [201, 'true'],
    ]);
    expect(replays.map((r) => r.body.data.apiKey)).toEqual([idempotentKey.body.data.apiKey, rotated.body.data.apiKey]);

    contact = (
      await server.call<Body<'createContact', 201>>('POST', '/v1/contacts', {
        key: httpKey.apiKey,
        body: { email: newEmail('kept'), firstName: 'Kept' },
      })
    ).body.data;

    const mistyped = `${httpKey.apiKey.slice(0, -1)}${httpKey.apiKey.endsWith('A') ? 'B' : 'A'}`;
    for (const [method, path, options] of [
      ['GET', '/v1/api-keys', { key }],
      ['GET', `/v1/api-keys/${httpKey.keyId}`, { key }],
      ['GET', `/v1/api-keys/${handleKey.keyId}`, { key: httpKey.apiKey, scheme: 'x-api-key' }],
      ['PATCH', `/v1/api-keys/${httpKey.keyId}`, { key, body: { name: 'renamed' } }],
      ['GET', '/v1/api-keys/validate', { key, scheme: 'both' }],
      ['GET', '/v1/api-keys/validate', { key: httpKey.apiKey, scheme: 'both' }],
      ['GET', '/v1/health', { key: httpKey.apiKey, scheme: 'x-api-key' }],
      ['GET', '/v1/rate-limit', { key }],
      ['GET', `/v1/api-keys?k=${key}`, { key, scheme: 'both' }],
      ['GET', `/v1/contacts?k=${httpKey.apiKey}`, { key: httpKey.apiKey }],
      ['GET', '/v1/api-keys', { key: revokedKey.apiKey, scheme: 'both' }],
      ['GET', '/v1/api-keys', { key: mistyped }],
      ['GET', '/v1/api-keys', { headers: { authorization: `Bearer ${key}`, 'x-api-key': httpKey.apiKey } }],
      ['GET', '/v1/api-keys', { headers: { authorization: `Basic ${key}` } }],
    ] as const) {
      later.push(await server.call(method, path, options));
    }
  });
  afterAll(async () => {
    await server?.close();
    logsOfClosedServers += server?.logs() ?? '';
  });

  const password = 'a password that must never be seen';
  const accountReplies: Reply<unknown>[] = [];
  let firstToken = '';

  test('a user token is shown at sign-up and log-in, and nowhere after; the password never', async () => {
    const email = newEmail('secret');
    accountSecrets.push(password);
    const signedUp = await server.call<Body<'signUp', 201>>('POST', '/auth/signup', { body: { email, password } });
    firstToken = signedUp.body.data.token;
    accountSecrets.push(firstToken);
    const loggedIn = await server.call<Body<'logIn', 200>>('POST', '/auth/login', { body: { email, password } });
    const token = loggedIn.body.data.token;
    accountSecrets.push(token);
    for (const reply of [signedUp, loggedIn]) {
      expect(reply.text).not.toContain(password);
    }
    const mistypedToken = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    for (const [method, path, options] of [
      ['GET', '/auth/me', { key: token }],
      ['GET', `/auth/me?t=${token}`, { key: token }],
      ['GET', '/organizations', { key: firstToken }],
      ['GET', '/v1/api-keys', { key: token }],
      ['GET', '/v1/api-keys', { key: token, scheme: 'x-api-key' }],
      ['GET', `/organizations/${token}`, { key: token }],
      ['GET', '/auth/me', { key: mistypedToken }],
      ['POST', '/auth/login', { body: { email, password: `${password}!` } }],
      ['POST', '/auth/login', { body: { email, password: 'short', extra: password } }],
      ['POST', '/auth/signup', { body: { email, password } }],
      ['POST', '/auth/logout', { key: token }],
      ['GET', '/auth/me', { key: token }],
    ] as const) {
      accountReplies.push(await server.call(method, path, options));
    }
    expect(accountReplies.map((r) => r.status)).toEqual([200, 422, 200, 401, 401, 404, 401, 401, 422, 409, 200, 401]);
    for (const reply of accountReplies) {
      expect(leakedIn(reply.text), reply.text).toEqual([]);
    }
  });

  test('the create response carries the full key, with the warning', async () => {
    expect(httpKey.apiKey).toMatch(/^mr_[a-z0-9]{8}_[A-Za-z0-9]{38}$/);
    expect(httpKey.keyPrefix).toBe(`${httpKey.apiKey.slice(0, 12)}****`);
  });

  test('no later response body shows any key, whatever it was asked', async () => {
    expect(later.map((r) => r.status)).toEqual([
      200, 200, 200, 200, 200, 200, 200, 200, 200, 422, 422, 401, 401, 401, 401,
    ]);
    for (const reply of later) {
      expect(leakedIn(reply.text), reply.text).toEqual([]);
      const headerLines: string[] = [];
      reply.headers.forEach((value, name) => {
        headerLines.push(`${name}: ${value}`);
      });
      expect(leakedIn(headerLines.join('\n'))).toEqual([]);
    }
  });

  test('lastUsed is written to the store within the flush interval', async () => {
    const stored = await waitFor(async () => {
      const record = await server.handle.store.getApiKey(handleKey.organizationId, handleKey.keyId);
      return record?.lastUsedAt ?? undefined;
    }, 'lastUsedAt of the handle key');
    expect(stored.getTime()).toBeLessThanOrEqual(server.now().getTime());
    lastUsedBeforeRestart = stored;
  });
});

describe('after a restart on the same data directory', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ store: { kind: 'pglite', dataDir } });
  });
  afterAll(async () => {
    await server?.close();
    logsOfClosedServers += server?.logs() ?? '';
  });

  test('keys made by the handle and over HTTP still authenticate', async () => {
    for (const key of [handleKey.plaintext, httpKey.apiKey]) {
      const reply = await server.call<Body<'validateApiKey', 200>>('GET', '/v1/api-keys/validate', { key });
      expect(reply.status).toBe(200);
    }
  });

  test('a revoked key stays revoked', async () => {
    const reply = await server.call('GET', '/v1/health', { key: revokedKey.apiKey });
    expect(reply.status).toBe(401);
    expect((reply.body as { error: { message: string } }).error.message).toBe('The API key has been revoked');
  });

  test('the contact is still there, unchanged', async () => {
    const reply = await server.call<Body<'getContact', 200>>('GET', `/v1/contacts/${contact.contactId}`, {
      key: handleKey.plaintext,
    });
    expect(reply.status).toBe(200);
    expect(reply.body.data).toEqual(contact);
  });

  test('the recorded lastUsed survived, and the rename too', async () => {
    const reply = await server.call<Body<'listApiKeys', 200>>('GET', '/v1/api-keys', { key: httpKey.apiKey });
    const handle = reply.body.data.find((k) => k.keyId === handleKey.keyId);
    expect(handle?.lastUsed).not.toBeNull();
    expect(Date.parse(String(handle?.lastUsed))).toBeGreaterThanOrEqual(lastUsedBeforeRestart.getTime());
    expect(reply.body.data.find((k) => k.keyId === httpKey.keyId)?.name).toBe('renamed');
  });
});

describe('what was stored and logged', () => {
  let db: Db;

  beforeAll(async () => {
    db = await openPgliteDb({ dataDir });
  });
  afterAll(async () => {
    await db?.close();
  });

  test('no row of any table holds a key or its secret', async () => {
    const { rows: tables } = await db.query<{ schema: string; name: string }>(
      `SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
       WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`,
    );
    expect(tables.map((t) => t.name)).toEqual(
      expect.arrayContaining(['api_keys', 'contacts', 'idempotency_keys', 'organizations', 'schema_migrations']),
    );
    const { rows: stored } = await db.query<{ n: number }>('SELECT count(*)::integer AS n FROM idempotency_keys');
    expect(stored[0]?.n).toBe(2);
    let rowCount = 0;
    let byteaValues = 0;
    for (const { schema, name } of tables) {
      const { rows } = await db.query<{ row: string }>(
        `SELECT row_to_json(t)::text AS row FROM "${schema}"."${name}" t`,
      );
      rowCount += rows.length;
      for (const { row } of rows) {
        expect(leakedIn(row), `${name}: ${row}`).toEqual([]);
        // row_to_json writes bytea as "\\x<hex>": read those bytes as text too, or a stored body would hide there.
        for (const hex of row.matchAll(/"\\\\x([0-9a-f]*)"/g)) {
          const bytes = Buffer.from(hex[1] ?? '', 'hex').toString('latin1');
          expect(leakedIn(bytes), `${name}: bytea ${hex[0].slice(0, 40)}…`).toEqual([]);
          byteaValues++;
        }
      }
    }
    expect(rowCount).toBeGreaterThan(0);
    expect(byteaValues).toBe(2);
  });

  test('user_tokens.token_hash is the keyed hash of a token and users.password_hash a salted scrypt hash', async () => {
    const { rows: tokens } = await db.query<{ token_hash: string }>('SELECT token_hash FROM user_tokens');
    expect(tokens.length).toBeGreaterThanOrEqual(2);
    for (const { token_hash } of tokens) {
      expect(token_hash).toMatch(/^[0-9a-f]{64}$/);
    }
    const { rows: users } = await db.query<{ password_hash: string }>('SELECT password_hash FROM users');
    expect(users.length).toBeGreaterThan(0);
    for (const { password_hash } of users) {
      expect(password_hash).toMatch(/^\$scrypt\$ln=\d+,r=\d+,p=\d+\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    }
  });

  test('api_keys.key_hash is the 64-hex keyed hash of the key, never the key', async () => {
    const { rows } = await db.query<{ public_id: string; key_hash: string }>(
      'SELECT public_id, key_hash FROM api_keys',
    );
    expect(rows).toHaveLength(plaintexts.length);
    for (const plaintext of plaintexts) {
      const row = rows.find((r) => r.public_id === plaintext.slice(3, 11));
      expect(row, plaintext.slice(0, 12)).toBeDefined();
      expect(row?.key_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(row?.key_hash).not.toBe(plaintext);
      expect(row?.key_hash).toBe(hashApiKey(plaintext, SERVER_SECRET));
    }
  });

  test('no file of the data directory contains a key', async () => {
    const entries = await readdir(dataDir, { recursive: true, withFileTypes: true });
    const files = entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const bytes = await readFile(file);
      for (const plaintext of plaintexts) {
        expect(bytes.includes(secretOf(plaintext)), `${file} holds a key`).toBe(false);
      }
      for (const secret of accountSecrets) {
        const needle = /^mru_/.test(secret) ? secretOf(secret) : secret;
        expect(bytes.includes(needle), `${file} holds a user token or a password`).toBe(false);
      }
    }
  });

  test('no log line contains a key, a user token or a password, even one sent in a URL or in both headers', async () => {
    const lines = logsOfClosedServers.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(20);
    expect(accountSecrets.length).toBeGreaterThanOrEqual(3);
    // The token sent in a URL was logged, redacted.
    expect(lines.some((line) => line.includes('/auth/me?t=mru_[REDACTED]'))).toBe(true);
    const leaking = lines.filter((line) => leakedIn(line).length > 0);
    expect(leaking).toEqual([]);
  });
});
