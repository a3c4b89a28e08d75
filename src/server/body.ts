import type { IncomingMessage } from 'node:http';
import express, { type Request, type Response } from 'express';
import {
  BODY_REFUSALS,
  type ErrorDetails,
  invalidData,
  payloadTooLarge,
  unsupportedEncoding,
  unsupportedMediaType,
} from './errors.ts';

// Everything the server knows of a request body, in one place: whether the framing announces one, whether its media
// type is JSON, and reading it: whole (a broken framing never reaches a handler), at most 100 KiB, UTF-8 only, valid
// JSON, and well-formed text (no lone surrogate) in every string.

/** The largest body read, in bytes (more is 413). */
export const BODY_LIMIT_BYTES = 100 * 1024;

/** What the framing and headers of a request say of its body, read once. */
export interface BodyFacts {
  /** The framing announces a body: chunked, or a non-zero Content-Length. */
  announced: boolean;
  /** Its media type is JSON: `application/json` or a `+json` type such as `application/merge-patch+json`. */
  json: boolean;
}

const JSON_SUFFIX = /^application\/[a-z0-9.!#$%&'*^_`|~-]+\+json$/;

/** The body facts of a request, from its headers alone. */
export function bodyFactsOf(req: IncomingMessage): BodyFacts {
  const length = req.headers['content-length'];
  const announced = req.headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) !== 0);
  const contentType = req.headers['content-type'];
  if (contentType === undefined) {
    return { announced, json: false }; // every GET: nothing to split or match
  }
  const mediaType = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return { announced, json: mediaType === 'application/json' || JSON_SUFFIX.test(mediaType) };
}

/**
 * Checks an operation's body against what its spec declares, before the validator: a required body sent as JSON with
 * nothing after the headers is 400 (the validator would let a missing body through), and a body the operation takes
 * sent as anything but JSON is 415, even when optional (it would otherwise be read as no body at all, its fields
 * silently dropped).
 */
export function checkBodyFraming(
  facts: BodyFacts,
  declared: { required: boolean } | undefined,
  contentType: string | undefined,
): void {
  if (declared?.required === true && facts.json && !facts.announced) {
    throw BODY_REFUSALS.empty();
  }
  if (declared !== undefined && facts.announced && !facts.json) {
    throw unsupportedMediaType(contentType ?? 'none');
  }
}

const readRawBody = express.raw({ type: () => true, limit: BODY_LIMIT_BYTES });

/**
 * Reads the whole body into `req.body`: the parsed JSON for a JSON body, else undefined (the input check then refuses
 * a body the operation doesn't take as JSON).
 */
export async function readBody(req: Request, res: Response, facts: BodyFacts): Promise<void> {
  await new Promise<void>((done, fail) =>
    readRawBody(req, res, (err?: unknown) => (err ? fail(bodyError(err)) : done())),
  );
  // A framing error (a bad chunk, a connection cut mid-body) ends the stream without an error the body reader
  // reports: only a message Node parsed to its end is complete.
  if (!req.complete) {
    throw BODY_REFUSALS.malformed();
  }
  req.rawBody = req.body as Buffer;
  req.body = facts.json ? parseJson(req.rawBody, req.headers['content-type'] ?? '') : undefined;
}

/** What reading the body can go wrong with, named where it arises (raw-body's errors carry a `type`). */
function bodyError(err: unknown): unknown {
  const { type, status } = (err ?? {}) as { type?: string; status?: number };
  if (type === 'entity.too.large') {
    return payloadTooLarge();
  }
  if (type === 'encoding.unsupported' || status === 415) {
    return unsupportedEncoding();
  }
  if (type === 'request.aborted' || type === 'request.size.invalid') {
    return BODY_REFUSALS.incomplete();
  }
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return BODY_REFUSALS.unreadable();
  }
  return err;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * JSON as sent: UTF-8 only (an invalid byte is refused, never replaced by U+FFFD), and no lone surrogate in any
 * string (`"\ud800"` is valid JSON but not text), so what is stored is exactly what the caller wrote.
 */
function parseJson(bytes: Buffer, contentType: string): unknown {
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType)?.[1]?.toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw unsupportedEncoding();
  }
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw BODY_REFUSALS.notUtf8();
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw BODY_REFUSALS.notJson();
  }
  const details = illFormedText(value);
  if (Object.keys(details).length > 0) {
    throw invalidData(details);
  }
  return value;
}

/** Every field of a parsed body whose text (a string, or a field name) holds a lone surrogate. */
function illFormedText(root: unknown): ErrorDetails {
  const details: ErrorDetails = Object.create(null);
  // Iterative, not recursive: a 100 KiB body can nest tens of thousands of levels deep.
  const pending: [unknown, string][] = [[root, '']];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [value, path] = next;
    const field = path === '' ? 'body' : path;
    if (typeof value === 'string') {
      if (!value.isWellFormed()) {
        details[field] = ['must be valid Unicode text (it contains a lone surrogate)'];
      }
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) {
        if (!key.isWellFormed()) {
          details[field] = ['must not have a field name with a lone surrogate'];
        }
        pending.push([item, path === '' ? key : `${path}.${key}`]);
      }
    }
  }
  return details;
}
