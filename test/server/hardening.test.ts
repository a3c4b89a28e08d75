// Defects found by hostile input (issue: hardening the edges), each reproduced here as it was found: a request the
// server refuses must not have run, numbers mean decimal digits, HEAD works wherever GET does, and text that isn't
// valid Unicode is refused instead of being stored changed.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { newEmail } from './helpers/accounts.ts';
import { expectError } from './helpers/call.ts';
import { startTestServer, type TestKey, type TestServer } from './helpers/server.ts';
import { type Body, SPEC_OPERATIONS } from './helpers/spec.ts';

let server: TestServer;
let key: TestKey;

beforeAll(async () => {
  server = await startTestServer();
  key = await server.newKey();
});
afterAll(async () => {
  await server?.close();
});

/** Sends raw bytes over a fresh TCP connection and resolves with everything the server sent back before closing. */
function rawExchange(bytes: string, timeoutMs = 3000): Promise<string> {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(received);
    }, timeoutMs);
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      if (received) {
        resolve(received);
      } else {
        reject(error);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received);
    });
    socket.write(bytes, 'latin1');
  });
}

async function newContact(): Promise<Body<'createContact', 201>['data']> {
  const created = await server.call<Body<'createContact', 201>>('POST', '/v1/contacts', {
    key: key.plaintext,
    body: { email: newEmail('framing'), firstName: 'Before' },
  });
  expect(created.status).toBe(201);
  return created.body.data;
}

const BROKEN_FRAMINGS: [string, string, string][] = [
  ['a chunk size that is not hex', 'Transfer-Encoding: chunked\r\n', 'zz\r\n{}\r\n0\r\n\r\n'],
  ['a chunk size that overflows', 'Transfer-Encoding: chunked\r\n', 'ffffffffffffffffffff\r\n{}\r\n0\r\n\r\n'],
  ['a chunk that is cut off', 'Transfer-Encoding: chunked\r\n', '10\r\n{}'],
  ['an unknown transfer coding', 'Transfer-Encoding: xchunked\r\n', 'zz\r\n{}\r\n0\r\n\r\n'],
  ['the identity transfer coding', 'Transfer-Encoding: identity\r\n', 'zz\r\n{}\r\n0\r\n\r\n'],
  ['a body shorter than its Content-Length', 'Content-Length: 50\r\n', '{}'],
];

describe('a request whose framing fails never reaches a handler', () => {
  test.each(BROKEN_FRAMINGS)(
    'DELETE of a contact with %s leaves the contact in place',
    async (_label, header, body) => {
      const contact = await newContact();
      const answer = await rawExchange(
        `DELETE /v1/contacts/${contact.contactId} HTTP/1.1\r\nHost: x\r\nX-API-Key: ${key.plaintext}\r\n${header}Connection: close\r\n\r\n${body}`,
      );
      expect(answer).not.toMatch(/^HTTP\/1\.1 2\d\d/);
      const stored = await server.call('GET', `/v1/contacts/${contact.contactId}`, { key: key.plaintext });
      expect(stored.status).toBe(200);
    },
  );

  test.each(BROKEN_FRAMINGS)('DELETE of an API key with %s leaves the key working', async (_label, header, body) => {
    const victim = await server.newKey({ organization: key.organization });
    const answer = await rawExchange(
      `DELETE /v1/api-keys/${victim.keyId} HTTP/1.1\r\nHost: x\r\nX-API-Key: ${key.plaintext}\r\n${header}Connection: close\r\n\r\n${body}`,
    );
    expect(answer).not.toMatch(/^HTTP\/1\.1 2\d\d/);
    expect((await server.call('GET', '/v1/api-keys/validate', { key: victim.plaintext })).status).toBe(200);
  });

  test.each(BROKEN_FRAMINGS)(
    'PATCH of a contact with %s changes nothing and is no 5xx',
    async (_label, header, body) => {
      const contact = await newContact();
      const answer = await rawExchange(
        `PATCH /v1/contacts/${contact.contactId} HTTP/1.1\r\nHost: x\r\nX-API-Key: ${key.plaintext}\r\nContent-Type: application/json\r\n${header}Connection: close\r\n\r\n${body}`,
      );
      expect(answer).not.toMatch(/^HTTP\/1\.1 [25]\d\d/);
      const stored = await server.call<Body<'getContact', 200>>('GET', `/v1/contacts/${contact.contactId}`, {
        key: key.plaintext,
      });
      expect(stored.body.data).toEqual(contact);
      expect(server.logs()).not.toContain('unhandled error');
    },
  );
});

describe('numbers in the query are plain decimal digits', () => {
  test.each(['0x10', '1e1', '1.0', '010', '%205', '+5', '-0', ' 5', '5%20'])(
    'limit=%s is 422 on query.limit',
    async (raw) => {
      const reply = await server.call('GET', `/v1/contacts?limit=${raw.replace(' ', '%20')}`, { key: key.plaintext });
      const error = expectError(reply, 422, 'VALIDATION_ERROR');
      expect(Object.keys(error.details ?? {})).toEqual(['query.limit']);
    },
  );

  test.each(['1', '20', '100'])('limit=%s is accepted', async (raw) => {
    const reply = await server.call<Body<'listContacts', 200>>('GET', `/v1/contacts?limit=${raw}`, {
      key: key.plaintext,
    });
    expect(reply.status).toBe(200);
    expect(reply.body.meta.limit).toBe(Number(raw));
  });
});

describe('HEAD is answered wherever GET is', () => {
  const gets = SPEC_OPERATIONS.filter((op) => op.method === 'GET');

  test.each(gets.map((op) => [op.path, op]))('HEAD %s: the GET status and headers, no body', async (_path, op) => {
    const contact = op.path.includes('{contactId}') ? await newContact() : undefined;
    const path = op.path.replace('{keyId}', key.keyId).replace('{contactId}', contact?.contactId ?? '');
    const headers = op.path.startsWith('/v1') ? { 'X-API-Key': key.plaintext } : undefined;
    const get = await fetch(`${server.url}${path}`, { headers });
    await get.arrayBuffer();
    const head = await fetch(`${server.url}${path}`, { method: 'HEAD', headers });
    expect(head.status).toBe(get.status);
    expect(await head.text()).toBe('');
    // The rate-limit status shows seconds to reset, whose digits may change between the two calls; usage and the
    // request log count requests, and the recorder may write the GET's own record between the two.
    const moving = ['/v1/rate-limit', '/v1/usage', '/v1/request-logs', '/v1/api-keys/{keyId}/usage'];
    const stable = moving.includes(op.path) ? [] : ['content-length'];
    for (const name of ['content-type', ...stable, 'x-ratelimit-limit', 'ratelimit-policy']) {
      expect(head.headers.get(name), name).toBe(get.headers.get(name));
    }
    expect(head.headers.get('x-request-id')).toBeTruthy();
  });

  test('HEAD /livez needs no key, as uptime monitors probe it', async () => {
    const head = await fetch(`${server.url}/livez`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  test('HEAD on a secured path without a key is the 401, without a body', async () => {
    const head = await fetch(`${server.url}/v1/contacts`, { method: 'HEAD' });
    expect(head.status).toBe(401);
    expect(head.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await head.text()).toBe('');
  });
});

describe('text that is not valid Unicode is refused, not stored changed', () => {
  async function contactCount(): Promise<number> {
    return server.handle.store.countContacts(key.organizationId);
  }

  test('invalid UTF-8 bytes in a JSON body are 400 BAD_REQUEST and store nothing', async () => {
    const before = await contactCount();
    const bytes = new Uint8Array([...Buffer.from('{"email":"'), 0xff, 0xfe, ...Buffer.from('@example.com"}')]);
    const reply = await server.call('POST', '/v1/contacts', { key: key.plaintext, raw: bytes });
    expect(expectError(reply, 400, 'BAD_REQUEST').message).toBe('The request body is not valid UTF-8');
    expect(await contactCount()).toBe(before);
  });

  test('a lone surrogate in a field is 422 on that field and stores nothing', async () => {
    const before = await contactCount();
    const reply = await server.call('POST', '/v1/contacts', {
      key: key.plaintext,
      raw: `{"email":"${newEmail()}","firstName":"A\\ud800B"}`,
    });
    const error = expectError(reply, 422, 'VALIDATION_ERROR');
    expect(error.details).toEqual({ firstName: ['must be valid Unicode text (it contains a lone surrogate)'] });
    expect(await contactCount()).toBe(before);
  });

  test('a lone surrogate in an update leaves the contact as it was', async () => {
    const contact = await newContact();
    const reply = await server.call('PATCH', `/v1/contacts/${contact.contactId}`, {
      key: key.plaintext,
      raw: '{"lastName":"\\udfff"}',
    });
    expectError(reply, 422, 'VALIDATION_ERROR');
    const stored = await server.call<Body<'getContact', 200>>('GET', `/v1/contacts/${contact.contactId}`, {
      key: key.plaintext,
    });
    expect(stored.body.data).toEqual(contact);
  });

  test('a surrogate pair (a real astral character) is kept as sent', async () => {
    const reply = await server.call<Body<'createContact', 201>>('POST', '/v1/contacts', {
      key: key.plaintext,
      raw: `{"email":"${newEmail()}","firstName":"\\ud835\\udd6c"}`,
    });
    expect(reply.status).toBe(201);
    expect(reply.body.data.firstName).toBe('𝕬');
  });
});

describe('a required body sent empty', () => {
  test('PATCH of a contact with a JSON Content-Type and no body is 400, and the contact is unchanged', async () => {
    const contact = await newContact();
    const reply = await server.call('PATCH', `/v1/contacts/${contact.contactId}`, { key: key.plaintext, raw: '' });
    expect(expectError(reply, 400, 'BAD_REQUEST').message).toBe('The request body is empty: send a JSON object');
    const stored = await server.call<Body<'getContact', 200>>('GET', `/v1/contacts/${contact.contactId}`, {
      key: key.plaintext,
    });
    expect(stored.body.data).toEqual(contact);
    expect(server.logs()).not.toContain('unhandled error');
  });

  test('POST of a contact with a JSON Content-Type and no body is 400', async () => {
    const reply = await server.call('POST', '/v1/contacts', { key: key.plaintext, raw: '' });
    expectError(reply, 400, 'BAD_REQUEST');
  });
});
