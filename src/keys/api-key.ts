import { createHmac, timingSafeEqual } from 'node:crypto';
import { BASE62, LOWER_ALNUM, randomString } from '../lib/ids.ts';

/** Every key starts with this, so secret scanners can recognise a Mailroom key. */
export const KEY_PREFIX = 'mr';
const PUBLIC_ID_LENGTH = 8;
const RANDOM_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
const KEY_PATTERN = /^mr_([a-z0-9]{8})_([A-Za-z0-9]{38})$/;

/** Why a presented key was refused before any lookup. */
export type KeyFormatProblem = 'malformed' | 'checksum';

/** The result of checking a presented key's shape and checksum. */
export type ParsedApiKey = { ok: true; publicId: string; plaintext: string } | { ok: false; problem: KeyFormatProblem };

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) {
      c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE) of an ASCII string; the same checksum GitHub-style tokens use. */
export function crc32(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) {
    crc = (CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff] as number) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Encodes a 32-bit number as exactly six base62 digits (62^6 > 2^32). */
function toBase62(value: number): string {
  let out = '';
  let rest = value;
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[rest % 62] + out;
    rest = Math.floor(rest / 62);
  }
  return out;
}

function checksumOf(body: string): string {
  return toBase62(crc32(body));
}

/** Creates a new key: `mr_<8-char public id>_<32 random base62><6-char checksum>`. */
export function generateApiKey(): { plaintext: string; publicId: string } {
  const publicId = randomString(PUBLIC_ID_LENGTH, LOWER_ALNUM);
  const body = `${KEY_PREFIX}_${publicId}_${randomString(RANDOM_LENGTH)}`;
  return { plaintext: `${body}${checksumOf(body)}`, publicId };
}

/** Checks a presented key's shape and checksum without touching storage. */
export function parseApiKey(raw: string): ParsedApiKey {
  const match = KEY_PATTERN.exec(raw);
  if (!match) {
    return { ok: false, problem: 'malformed' };
  }
  const body = raw.slice(0, raw.length - CHECKSUM_LENGTH);
  if (checksumOf(body) !== raw.slice(-CHECKSUM_LENGTH)) {
    return { ok: false, problem: 'checksum' };
  }
  return { ok: true, publicId: match[1] as string, plaintext: raw };
}

/** Keyed hash of a key (HMAC-SHA256 with the server's secret), hex: what the store keeps instead of the key. */
export function hashApiKey(plaintext: string, serverSecret: string): string {
  return createHmac('sha256', serverSecret).update(plaintext).digest('hex');
}

/** Compares a presented key with a stored hash in constant time. */
export function verifyApiKey(plaintext: string, storedHash: string, serverSecret: string): boolean {
  const presented = Buffer.from(hashApiKey(plaintext, serverSecret), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}

/** The masked form shown in listings: `mr_<public id>_****`. */
export function maskApiKey(publicId: string): string {
  return `${KEY_PREFIX}_${publicId}_****`;
}

/** True when a string looks like a key (used to redact key material from logs). */
export const API_KEY_IN_TEXT = /mr_[a-z0-9]{8}_[A-Za-z0-9]{38}/g;
