import { createHmac, timingSafeEqual } from 'node:crypto';
import { BASE62, LOWER_ALNUM, randomString } from '../lib/ids.ts';

const PUBLIC_ID_LENGTH = 8;
const RANDOM_LENGTH = 32;
const CHECKSUM_LENGTH = 6;

/** Why a presented credential was refused before any lookup. */
export type CredentialFormatProblem = 'malformed' | 'checksum';

/** The result of checking a presented credential's shape and checksum. */
export type ParsedCredential<P extends string = string> =
  | { ok: true; publicId: string; plaintext: `${P}_${string}` }
  | { ok: false; problem: CredentialFormatProblem };

/**
 * One kind of secret credential, `<prefix>_<8-char public id>_<32 random base62><6-char CRC-32>`: API keys (`mr`) and
 * user tokens (`mru`) share the design and differ only by prefix, so secret scanners and people tell them apart.
 */
export interface CredentialFormat<P extends string> {
  readonly prefix: P;
  /** Creates a new credential with a fresh public id. */
  generate(): { plaintext: `${P}_${string}`; publicId: string };
  /** Checks a presented credential's shape and checksum without touching storage. */
  parse(raw: string): ParsedCredential<P>;
  /**
   * The credential whose public id and 32 random characters are those of `body` (`<prefix>_<id>_<32>`, or a whole
   * credential whose checksum is wrong), with its checksum; undefined when `body` has another shape. For fixed test
   * credentials a person writes (a sandbox fixture's keys).
   */
  complete(body: string): `${P}_${string}` | undefined;
  /** Matches the credential anywhere in a text (global), for redaction. */
  readonly inText: RegExp;
}

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

/** The format of credentials starting with `<prefix>_` (lowercase letters only). */
export function credentialFormat<P extends string>(prefix: P): CredentialFormat<P> {
  if (!/^[a-z]+$/.test(prefix)) {
    throw new TypeError(`a credential prefix is lowercase letters, got ${prefix}`);
  }
  const pattern = new RegExp(
    `^${prefix}_([a-z0-9]{${PUBLIC_ID_LENGTH}})_([A-Za-z0-9]{${RANDOM_LENGTH + CHECKSUM_LENGTH}})$`,
  );
  const bodyPattern = new RegExp(`^${prefix}_[a-z0-9]{${PUBLIC_ID_LENGTH}}_[A-Za-z0-9]{${RANDOM_LENGTH}}$`);
  return {
    prefix,
    generate() {
      const publicId = randomString(PUBLIC_ID_LENGTH, LOWER_ALNUM);
      const body = `${prefix}_${publicId}_${randomString(RANDOM_LENGTH)}`;
      return { plaintext: `${body}${checksumOf(body)}` as `${P}_${string}`, publicId };
    },
    parse(raw) {
      const match = pattern.exec(raw);
      if (!match) {
        return { ok: false, problem: 'malformed' };
      }
      const body = raw.slice(0, raw.length - CHECKSUM_LENGTH);
      if (checksumOf(body) !== raw.slice(-CHECKSUM_LENGTH)) {
        return { ok: false, problem: 'checksum' };
      }
      return { ok: true, publicId: match[1] as string, plaintext: raw as `${P}_${string}` };
    },
    complete(given) {
      const body = pattern.test(given) ? given.slice(0, given.length - CHECKSUM_LENGTH) : given;
      return bodyPattern.test(body) ? (`${body}${checksumOf(body)}` as `${P}_${string}`) : undefined;
    },
    inText: new RegExp(`${prefix}_[a-z0-9]{${PUBLIC_ID_LENGTH}}_[A-Za-z0-9]{${RANDOM_LENGTH + CHECKSUM_LENGTH}}`, 'g'),
  };
}

/** Keyed hash of a credential (HMAC-SHA256 with the server's secret), hex: what the store keeps instead of it. */
export function hashCredential(plaintext: string, serverSecret: string): string {
  return createHmac('sha256', serverSecret).update(plaintext).digest('hex');
}

/** Compares a presented credential with a stored hash in constant time. */
export function verifyCredential(plaintext: string, storedHash: string, serverSecret: string): boolean {
  const presented = Buffer.from(hashCredential(plaintext, serverSecret), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}
