import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ContactCursor } from '../store/types.ts';
import { type ApiError, invalidField } from './errors.ts';

// A cursor is `<payload>.<tag>`: the payload is base64url JSON `{"c": createdAt, "i": contactId}` of the last contact
// on a page, the tag a truncated HMAC-SHA256 of the organization id and the payload. A cursor the server did not
// issue, or issued to another organization, fails the tag check before anything of it is parsed or reaches the
// database (a hand-made `{"c":"0000-01-01T00:00:00.000Z",…}` used to reach PostgreSQL and fail there as a 500).
// Changing the server secret invalidates every outstanding cursor: a client then starts again from the first page.

// Its own key, derived from the server secret: a cursor tag can never be mistaken for (or reveal) a key hash, which
// is an HMAC under the server secret itself.
const CURSOR_KEY_LABEL = 'mailroom contact cursor v1';
// 128 bits of tag: far beyond guessing at any request rate, and the cursor stays well under the spec's 200 characters.
const TAG_BYTES = 16;

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const CONTACT_ID = /^ct_[a-z0-9]{16}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

const keys = new Map<string, Buffer>();

function cursorKey(serverSecret: string): Buffer {
  let key = keys.get(serverSecret);
  if (key === undefined) {
    key = createHmac('sha256', serverSecret).update(CURSOR_KEY_LABEL).digest();
    keys.set(serverSecret, key);
  }
  return key;
}

function tagOf(serverSecret: string, organizationId: string, payload: string): Buffer {
  return createHmac('sha256', cursorKey(serverSecret))
    .update(`${organizationId}\n${payload}`)
    .digest()
    .subarray(0, TAG_BYTES);
}

/** Encodes the position after a contact as an opaque, URL-safe cursor that only `organizationId` can use. */
export function encodeCursor(serverSecret: string, organizationId: string, position: ContactCursor): string {
  const payload = Buffer.from(JSON.stringify({ c: position.createdAt.toISOString(), i: position.contactId })).toString(
    'base64url',
  );
  return `${payload}.${tagOf(serverSecret, organizationId, payload).toString('base64url')}`;
}

function notACursor(): ApiError {
  return invalidField('query.cursor', 'is not a cursor returned by this API');
}

/** Decodes a cursor from `encodeCursor` for the same organization; anything else is a 422 on `query.cursor`. */
export function decodeCursor(serverSecret: string, organizationId: string, raw: string): ContactCursor {
  const [payload, tag, ...rest] = raw.split('.');
  if (payload === undefined || tag === undefined || rest.length > 0 || !BASE64URL.test(payload)) {
    throw notACursor();
  }
  const given = Buffer.from(tag, 'base64url');
  const expected = tagOf(serverSecret, organizationId, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected) || given.toString('base64url') !== tag) {
    throw notACursor();
  }
  // Signed by us, so well-formed; checked anyway, so a bug in encoding can't send a bad value to the database.
  try {
    const parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { c?: unknown; i?: unknown };
    if (typeof parsed.c === 'string' && typeof parsed.i === 'string' && ISO_INSTANT.test(parsed.c)) {
      const createdAt = new Date(parsed.c);
      if (CONTACT_ID.test(parsed.i) && !Number.isNaN(createdAt.getTime()) && createdAt.toISOString() === parsed.c) {
        return { createdAt, contactId: parsed.i };
      }
    }
  } catch {
    // fall through to the validation error
  }
  throw notACursor();
}
