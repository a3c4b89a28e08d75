import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeCursor, encodeCursor } from '../../src/server/cursor.ts';
import { ApiError } from '../../src/server/errors.ts';
import { newEmail } from './helpers/accounts.ts';
import { expectError } from './helpers/call.ts';
import { startTestServer, type TestKey, type TestServer } from './helpers/server.ts';
import type { Body } from './helpers/spec.ts';

const SECRET = 'cursor-test-secret';
const ORG = 'org_aaaaaaaaaaaaaaaa';
const POSITION = { createdAt: new Date('2026-11-22T10:30:00.000Z'), contactId: 'ct_9a8b7c6d5e4f3a2b' };

/** base64url of a JSON text: how a hand-made, unsigned cursor looks. */
const unsigned = (json: string) => Buffer.from(json).toString('base64url');

function refusal(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error instanceof ApiError ? { code: error.code, details: error.details } : error;
  }
  return 'accepted';
}

const REFUSED = { code: 'VALIDATION_ERROR', details: { 'query.cursor': ['is not a cursor returned by this API'] } };

describe('cursor signing', () => {
  test('a cursor decodes to the position it was made from, for the organization it was made for', () => {
    const cursor = encodeCursor(SECRET, ORG, POSITION);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    expect(cursor.length).toBeLessThanOrEqual(200);
    expect(decodeCursor(SECRET, ORG, cursor)).toEqual(POSITION);
  });

  const good = encodeCursor(SECRET, ORG, POSITION);
  const [payload = '', tag = ''] = good.split('.');
  const flip = (text: string, at: number) => `${text.slice(0, at)}${text[at] === 'A' ? 'B' : 'A'}${text.slice(at + 1)}`;

  test.each([
    ['the crafted year-0 cursor of issue 12', unsigned('{"c":"0000-01-01T00:00:00.000Z","i":"ct_aaaaaaaaaaaaaaaa"}')],
    ['an unsigned cursor of a real position', unsigned('{"c":"2026-11-22T10:30:00.000Z","i":"ct_9a8b7c6d5e4f3a2b"}')],
    ['a cursor signed for another organization', encodeCursor(SECRET, 'org_bbbbbbbbbbbbbbbb', POSITION)],
    ['a cursor signed under another server secret', encodeCursor('another-secret', ORG, POSITION)],
    ['a payload changed under its tag', `${flip(payload, 3)}.${tag}`],
    ['a tag changed by one character', `${payload}.${flip(tag, 5)}`],
    ['a tag cut short', `${payload}.${tag.slice(0, -1)}`],
    ['a tag with a non-canonical last character', `${payload}.${tag.slice(0, -1)}${tag.at(-1) === 'A' ? 'B' : 'A'}`],
    ['the tag alone', `.${tag}`],
    ['no tag', `${payload}.`],
    ['three parts', `${good}.${tag}`],
    ['plain garbage', 'garbage'],
    ['an empty string', ''],
  ])('%s is refused as not a cursor of this API', (_label, cursor) => {
    expect(refusal(() => decodeCursor(SECRET, ORG, cursor))).toEqual(REFUSED);
  });
});

describe('cursors over HTTP', () => {
  let server: TestServer;
  let key: TestKey;

  beforeAll(async () => {
    server = await startTestServer();
    key = await server.newKey();
    for (let i = 0; i < 3; i++) {
      server.advanceClock(1000);
      const created = await server.call('POST', '/v1/contacts', { key: key.plaintext, body: { email: newEmail() } });
      expect(created.status).toBe(201);
    }
  });
  afterAll(async () => {
    await server?.close();
  });

  test('a hand-made cursor dated 0000-01-01 is 422 on query.cursor, not a 500 from the database', async () => {
    const crafted = unsigned('{"c":"0000-01-01T00:00:00.000Z","i":"ct_aaaaaaaaaaaaaaaa"}');
    const reply = await server.call('GET', `/v1/contacts?cursor=${crafted}`, { key: key.plaintext });
    expect(expectError(reply, 422, 'VALIDATION_ERROR').details).toEqual({
      'query.cursor': ['is not a cursor returned by this API'],
    });
  });

  test("another organization's real cursor is 422, and the owner's cursor still pages", async () => {
    const first = await server.call<Body<'listContacts', 200>>('GET', '/v1/contacts?limit=1', { key: key.plaintext });
    const cursor = encodeURIComponent(String(first.body.meta.nextCursor));
    const stranger = await server.newKey();
    expectError(
      await server.call('GET', `/v1/contacts?cursor=${cursor}`, { key: stranger.plaintext }),
      422,
      'VALIDATION_ERROR',
    );
    const second = await server.call<Body<'listContacts', 200>>('GET', `/v1/contacts?limit=1&cursor=${cursor}`, {
      key: key.plaintext,
    });
    expect(second.status).toBe(200);
    expect(second.body.data[0]?.contactId).not.toBe(first.body.data[0]?.contactId);
  });

  test('the same page gives the same cursor each time: nothing about it is kept on the server', async () => {
    const first = await server.call<Body<'listContacts', 200>>('GET', '/v1/contacts?limit=2', { key: key.plaintext });
    const again = await server.call<Body<'listContacts', 200>>('GET', '/v1/contacts?limit=2', { key: key.plaintext });
    expect(again.body.meta.nextCursor).toBe(first.body.meta.nextCursor);
  });
});
