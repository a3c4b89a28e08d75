import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { newEmail } from './helpers/accounts.ts';
import { expectError, type Reply } from './helpers/call.ts';
import { startTestServer, type TestKey, type TestServer } from './helpers/server.ts';
import type { Body } from './helpers/spec.ts';

type Contact = Body<'getContact', 200>['data'];

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

async function createContact(key: TestKey, body: Record<string, unknown>): Promise<Reply<Body<'createContact', 201>>> {
  return server.call<Body<'createContact', 201>>('POST', '/v1/contacts', { key: key.plaintext, body });
}

/** Follows `nextCursor` from the first page to the last; returns every page. */
async function allPages(key: TestKey, limit: number): Promise<Body<'listContacts', 200>[]> {
  const pages: Body<'listContacts', 200>[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor === null ? `?limit=${limit}` : `?limit=${limit}&cursor=${encodeURIComponent(cursor)}`;
    const reply: Reply<Body<'listContacts', 200>> = await server.call<Body<'listContacts', 200>>(
      'GET',
      `/v1/contacts${query}`,
      { key: key.plaintext },
    );
    expect(reply.status, reply.text).toBe(200);
    pages.push(reply.body);
    cursor = reply.body.meta.nextCursor;
    expect(pages.length).toBeLessThan(20);
  } while (cursor !== null);
  return pages;
}

describe('contact lifecycle', () => {
  test('a contact is created, read, updated and deleted', async () => {
    const key = await server.newKey();
    const email = newEmail('ada');
    const created = await createContact(key, { email, firstName: 'Ada', lastName: 'Lovelace' });
    expect(created.status).toBe(201);
    const contact = created.body.data;
    expect(contact).toMatchObject({ email, firstName: 'Ada', lastName: 'Lovelace', subscribed: true });
    expect(contact.contactId).toMatch(/^ct_[a-z0-9]{16}$/);
    expect(contact.updatedAt).toBe(contact.createdAt);

    const path = `/v1/contacts/${contact.contactId}`;
    const read = await server.call<Body<'getContact', 200>>('GET', path, { key: key.plaintext });
    expect(read.body.data).toEqual(contact);

    server.advanceClock(1000);
    const updated = await server.call<Body<'updateContact', 200>>('PATCH', path, {
      key: key.plaintext,
      body: { subscribed: false, firstName: null },
    });
    expect(updated.status).toBe(200);
    expect(updated.body.data).toEqual({
      ...contact,
      subscribed: false,
      firstName: null,
      updatedAt: expect.any(String),
    });
    expect(Date.parse(updated.body.data.updatedAt)).toBeGreaterThan(Date.parse(contact.createdAt));
    expect(updated.body.data.createdAt).toBe(contact.createdAt);

    const deleted = await server.call<Body<'deleteContact', 200>>('DELETE', path, { key: key.plaintext });
    expect(deleted.body).toEqual({ success: true, data: { contactId: contact.contactId, deleted: true } });

    const gone = await server.call('GET', path, { key: key.plaintext });
    expect(expectError(gone, 404, 'RESOURCE_NOT_FOUND').message).toBe(
      `No contact ${contact.contactId} in this organization`,
    );
    expectError(await server.call('DELETE', path, { key: key.plaintext }), 404, 'RESOURCE_NOT_FOUND');
    expectError(
      await server.call('PATCH', path, { key: key.plaintext, body: { subscribed: true } }),
      404,
      'RESOURCE_NOT_FOUND',
    );
  });

  test('a contact created with only an email has null names and is subscribed', async () => {
    const key = await server.newKey();
    const created = await createContact(key, { email: newEmail() });
    expect(created.body.data).toMatchObject({ firstName: null, lastName: null, subscribed: true });
  });

  test('the easymail example request lists contacts', async () => {
    const key = await server.newKey();
    await createContact(key, { email: newEmail() });
    const reply = await server.call<Body<'listContacts', 200>>('GET', '/v1/contacts', {
      headers: {
        Authorization: `Bearer ${key.plaintext}`,
        'Content-Type': 'application/json',
        Accept: 'application/json',
      },
    });
    expect(reply.status).toBe(200);
    expect(reply.body.data).toHaveLength(1);
    expect(reply.body.meta).toEqual({ limit: 20, hasMore: false, nextCursor: null });
  });

  test('another organization’s contact is invisible: 404 to read, change or delete', async () => {
    const owner = await server.newKey();
    const stranger = await server.newKey();
    const contact = (await createContact(owner, { email: newEmail() })).body.data;
    const path = `/v1/contacts/${contact.contactId}`;
    expectError(await server.call('GET', path, { key: stranger.plaintext }), 404, 'RESOURCE_NOT_FOUND');
    expectError(
      await server.call('PATCH', path, { key: stranger.plaintext, body: { subscribed: false } }),
      404,
      'RESOURCE_NOT_FOUND',
    );
    expectError(await server.call('DELETE', path, { key: stranger.plaintext }), 404, 'RESOURCE_NOT_FOUND');
    const list = await server.call<Body<'listContacts', 200>>('GET', '/v1/contacts', { key: stranger.plaintext });
    expect(list.body.data).toEqual([]);
    const still = await server.call<Body<'getContact', 200>>('GET', path, { key: owner.plaintext });
    expect(still.body.data).toEqual(contact);
  });
});

describe('duplicate emails', () => {
  test('creating a contact whose email differs only in case is 409 DUPLICATE_RESOURCE', async () => {
    const key = await server.newKey();
    const local = `ada-${randomUUID().slice(0, 8)}`;
    expect((await createContact(key, { email: `${local}@example.com` })).status).toBe(201);
    const duplicate = await createContact(key, { email: `${local.toUpperCase()}@Example.COM` });
    expect(expectError(duplicate, 409, 'DUPLICATE_RESOURCE').message).toBe(
      `A contact with email ${local.toUpperCase()}@Example.COM already exists`,
    );
    expect(await server.handle.store.countContacts(key.organizationId)).toBe(1);
  });

  test('changing a contact’s email to another contact’s is 409 and changes nothing', async () => {
    const key = await server.newKey();
    const taken = newEmail('taken');
    await createContact(key, { email: taken });
    const mover = (await createContact(key, { email: newEmail('mover') })).body.data;
    const path = `/v1/contacts/${mover.contactId}`;
    const conflict = await server.call('PATCH', path, {
      key: key.plaintext,
      body: { email: taken.toUpperCase(), firstName: 'Changed' },
    });
    expectError(conflict, 409, 'DUPLICATE_RESOURCE');
    const after = await server.call<Body<'getContact', 200>>('GET', path, { key: key.plaintext });
    expect(after.body.data).toEqual(mover);
  });

  test('a contact may change the case of its own email', async () => {
    const key = await server.newKey();
    const email = newEmail('case');
    const contact = (await createContact(key, { email })).body.data;
    const updated = await server.call<Body<'updateContact', 200>>('PATCH', `/v1/contacts/${contact.contactId}`, {
      key: key.plaintext,
      body: { email: email.toUpperCase() },
    });
    expect(updated.status).toBe(200);
    expect(updated.body.data.email).toBe(email.toUpperCase());
  });

  test('the same email may exist in two organizations', async () => {
    const email = newEmail('shared');
    expect((await createContact(await server.newKey(), { email })).status).toBe(201);
    expect((await createContact(await server.newKey(), { email })).status).toBe(201);
  });
});

describe('cursor pagination', () => {
  test('five contacts come back in three pages of at most 2, without duplicates or gaps', async () => {
    const key = await server.newKey();
    const created: Contact[] = [];
    for (let i = 0; i < 5; i++) {
      server.advanceClock(1000);
      created.push((await createContact(key, { email: newEmail(`page${i}`) })).body.data);
    }
    const pages = await allPages(key, 2);
    expect(pages.map((p) => p.data.length)).toEqual([2, 2, 1]);
    expect(pages.map((p) => p.meta.hasMore)).toEqual([true, true, false]);
    expect(pages.map((p) => p.meta.limit)).toEqual([2, 2, 2]);
    expect(pages.at(-1)?.meta.nextCursor).toBeNull();
    for (const page of pages.slice(0, -1)) {
      expect(page.meta.nextCursor).toEqual(expect.any(String));
    }
    expect(pages.flatMap((p) => p.data)).toEqual(created);
  });

  test('a contact added while paging shows up on a later page, and nothing is repeated', async () => {
    const key = await server.newKey();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      server.advanceClock(1000);
      ids.push((await createContact(key, { email: newEmail() })).body.data.contactId);
    }
    const first = await server.call<Body<'listContacts', 200>>('GET', '/v1/contacts?limit=2', { key: key.plaintext });
    server.advanceClock(1000);
    ids.push((await createContact(key, { email: newEmail('late') })).body.data.contactId);
    const cursor = encodeURIComponent(String(first.body.meta.nextCursor));
    const second = await server.call<Body<'listContacts', 200>>('GET', `/v1/contacts?limit=2&cursor=${cursor}`, {
      key: key.plaintext,
    });
    expect([...first.body.data, ...second.body.data].map((c) => c.contactId)).toEqual(ids);
    expect(second.body.meta).toEqual({ limit: 2, hasMore: false, nextCursor: null });
  });

  test('exactly a page of contacts ends with hasMore false and no cursor', async () => {
    const key = await server.newKey();
    await createContact(key, { email: newEmail() });
    await createContact(key, { email: newEmail() });
    const reply = await server.call<Body<'listContacts', 200>>('GET', '/v1/contacts?limit=2', { key: key.plaintext });
    expect(reply.body.data).toHaveLength(2);
    expect(reply.body.meta).toEqual({ limit: 2, hasMore: false, nextCursor: null });
  });

  test.each([
    ['plain garbage', 'garbage'],
    ['a cursor with an unparseable date', Buffer.from('{"c":"yesterday","i":"ct_x"}').toString('base64url')],
    ['a cursor that is a JSON array', Buffer.from('[1,2]').toString('base64url')],
    ['a cursor over 200 characters', 'x'.repeat(201)],
  ])('%s is 422 on query.cursor', async (_label, cursor) => {
    const key = await server.newKey();
    const reply = await server.call('GET', `/v1/contacts?cursor=${encodeURIComponent(cursor)}`, {
      key: key.plaintext,
    });
    expect(Object.keys(expectError(reply, 422, 'VALIDATION_ERROR').details ?? {})).toEqual(['query.cursor']);
  });

  test.each(['0', '101', 'abc', '2.5', '-1'])('limit=%s is 422 on query.limit', async (limit) => {
    const key = await server.newKey();
    const reply = await server.call('GET', `/v1/contacts?limit=${limit}`, { key: key.plaintext });
    expect(Object.keys(expectError(reply, 422, 'VALIDATION_ERROR').details ?? {})).toEqual(['query.limit']);
  });

  test('limit=100 is accepted', async () => {
    const key = await server.newKey();
    const reply = await server.call<Body<'listContacts', 200>>('GET', '/v1/contacts?limit=100', {
      key: key.plaintext,
    });
    expect(reply.body.meta.limit).toBe(100);
  });
});

describe('read-only keys', () => {
  test('a read_only key gets 403 FORBIDDEN on POST, PATCH and DELETE but 200 on GET', async () => {
    const writer = await server.newKey();
    const reader = await server.newKey({ organization: writer.organization, access: 'read_only' });
    const contact = (await createContact(writer, { email: newEmail() })).body.data;
    const path = `/v1/contacts/${contact.contactId}`;

    for (const reply of [
      await server.call('POST', '/v1/contacts', { key: reader.plaintext, body: { email: newEmail() } }),
      await server.call('PATCH', path, { key: reader.plaintext, body: { subscribed: false } }),
      await server.call('DELETE', path, { key: reader.plaintext }),
    ]) {
      expectError(reply, 403, 'FORBIDDEN');
    }
    expect((await server.call('GET', '/v1/contacts', { key: reader.plaintext })).status).toBe(200);
    const read = await server.call<Body<'getContact', 200>>('GET', path, { key: reader.plaintext });
    expect(read.status).toBe(200);
    expect(read.body.data).toEqual(contact);
    expect(await server.handle.store.countContacts(writer.organizationId)).toBe(1);
  });
});

describe('contact validation', () => {
  test.each([
    ['an invalid email', 'POST', { email: 'not-an-email' }, 'email'],
    ['no email', 'POST', { firstName: 'Ada' }, 'email'],
    ['an unknown field', 'POST', { email: 'a@example.com', nickname: 'ada' }, 'nickname'],
    ['an empty first name', 'POST', { email: 'a@example.com', firstName: '' }, 'firstName'],
    ['a 101-character last name', 'POST', { email: 'a@example.com', lastName: 'x'.repeat(101) }, 'lastName'],
    ['a 262-character email', 'POST', { email: `${'a'.repeat(250)}@example.com` }, 'email'],
    ['an empty patch', 'PATCH', {}, 'body'],
    ['an invalid email', 'PATCH', { email: 'nope' }, 'email'],
    ['a read-only field', 'PATCH', { contactId: 'ct_0000000000000000' }, 'contactId'],
  ])('%s in a %s is 422 on that field', async (_label, method, body, field) => {
    const key = await server.newKey();
    const existing = (await createContact(key, { email: newEmail() })).body.data;
    const path = method === 'POST' ? '/v1/contacts' : `/v1/contacts/${existing.contactId}`;
    const reply = await server.call(method, path, { key: key.plaintext, body });
    expect(Object.keys(expectError(reply, 422, 'VALIDATION_ERROR').details ?? {})).toEqual([field]);
  });

  test('names of 100 characters are accepted', async () => {
    const key = await server.newKey();
    const created = await createContact(key, {
      email: newEmail(),
      firstName: 'f'.repeat(100),
      lastName: 'l'.repeat(100),
    });
    expect(created.status).toBe(201);
  });
});
