import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ContactCursor, RequestLogCursor } from '../store/types.ts';
import { type ApiError, invalidField } from './errors.ts';

// A cursor is `<payload>.<tag>`: the payload is base64url JSON of the last item on a page (a contact's
// `{"c": createdAt, "i": contactId}`, a request-log entry's `{"a": at, "i": logId}`), the tag a truncated HMAC-SHA256
// of the organization id and the payload. A cursor the server did not issue, or issued to another organization, fails the tag check before anything of it is parsed or reaches the
// database (a hand-made `{"c":"0000-01-01T00:00:00.000Z",…}` used to reach PostgreSQL and fail there as a 500).
// Changing the server secret invalidates every outstanding cursor: a client then starts again from the first page.

// Each kind of cursor has its own key, derived from the server secret and its label: a cursor tag can never be
// mistaken for (or reveal) a key hash, which is an HMAC under the server secret itself, and a contact cursor is never
// a request-log cursor (or the other way round).
const CONTACT_CURSOR = 'mailroom contact cursor v1';
const REQUEST_LOG_CURSOR = 'mailroom request-log cursor v1';
// 128 bits of tag: far beyond guessing at any request rate, and the cursor stays well under the spec's 200 characters.
const TAG_BYTES = 16;

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const CONTACT_ID = /^ct_[a-z0-9]{16}$/;
const LOG_ID = /^[1-9][0-9]{0,17}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

const keys = new Map<string, Buffer>();

function cursorKey(serverSecret: string, label: string): Buffer {
  const id = `${label}\n${serverSecret}`;
  let key = keys.get(id);
  if (key === undefined) {
    key = createHmac('sha256', serverSecret).update(label).digest();
    keys.set(id, key);
  }
  return key;
}

function tagOf(serverSecret: string, label: string, organizationId: string, payload: string): Buffer {
  return createHmac('sha256', cursorKey(serverSecret, label))
    .update(`${organizationId}\n${payload}`)
    .digest()
    .subarray(0, TAG_BYTES);
}

/** `<payload>.<tag>` of a JSON value, signed for one kind of cursor and one organization. */
function signCursor(serverSecret: string, label: string, organizationId: string, value: unknown): string {
  const payload = Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${payload}.${tagOf(serverSecret, label, organizationId, payload).toString('base64url')}`;
}

function notACursor(): ApiError {
  return invalidField('query.cursor', 'is not a cursor returned by this API');
}

/** The JSON value of a cursor `signCursor` made for this kind and organization; anything else is a 422. */
function verifiedCursor(serverSecret: string, label: string, organizationId: string, raw: string): unknown {
  const [payload, tag, ...rest] = raw.split('.');
  if (payload === undefined || tag === undefined || rest.length > 0 || !BASE64URL.test(payload)) {
    throw notACursor();
  }
  const given = Buffer.from(tag, 'base64url');
  const expected = tagOf(serverSecret, label, organizationId, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected) || given.toString('base64url') !== tag) {
    throw notACursor();
  }
  try {
    return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    throw notACursor();
  }
}

/** An ISO instant as `toISOString` writes it, or undefined. */
function instantOf(value: unknown): Date | undefined {
  if (typeof value !== 'string' || !ISO_INSTANT.test(value)) {
    return undefined;
  }
  const at = new Date(value);
  return !Number.isNaN(at.getTime()) && at.toISOString() === value ? at : undefined;
}

/** Encodes the position after a contact as an opaque, URL-safe cursor that only `organizationId` can use. */
export function encodeCursor(serverSecret: string, organizationId: string, position: ContactCursor): string {
  return signCursor(serverSecret, CONTACT_CURSOR, organizationId, {
    c: position.createdAt.toISOString(),
    i: position.contactId,
  });
}

/** Decodes a cursor from `encodeCursor` for the same organization; anything else is a 422 on `query.cursor`. */
export function decodeCursor(serverSecret: string, organizationId: string, raw: string): ContactCursor {
  // Signed by us, so well-formed; checked anyway, so a bug in encoding can't send a bad value to the database.
  const parsed = verifiedCursor(serverSecret, CONTACT_CURSOR, organizationId, raw) as { c?: unknown; i?: unknown };
  const createdAt = instantOf(parsed?.c);
  if (createdAt && typeof parsed.i === 'string' && CONTACT_ID.test(parsed.i)) {
    return { createdAt, contactId: parsed.i };
  }
  throw notACursor();
}

/** Encodes the position after a request-log entry (newest first) as a cursor that only `organizationId` can use. */
export function encodeLogCursor(serverSecret: string, organizationId: string, position: RequestLogCursor): string {
  return signCursor(serverSecret, REQUEST_LOG_CURSOR, organizationId, {
    a: position.at.toISOString(),
    i: position.logId,
  });
}

/** Decodes a cursor from `encodeLogCursor` for the same organization; anything else is a 422 on `query.cursor`. */
export function decodeLogCursor(serverSecret: string, organizationId: string, raw: string): RequestLogCursor {
  const parsed = verifiedCursor(serverSecret, REQUEST_LOG_CURSOR, organizationId, raw) as { a?: unknown; i?: unknown };
  const at = instantOf(parsed?.a);
  if (at && typeof parsed.i === 'string' && LOG_ID.test(parsed.i)) {
    return { at, logId: parsed.i };
  }
  throw notACursor();
}
