import { randomBytes } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const LOWER_ALNUM = '0123456789abcdefghijklmnopqrstuvwxyz';

/** Returns `length` characters drawn uniformly from `alphabet` (rejection sampling, no modulo bias). */
export function randomString(length: number, alphabet: string = BASE62): string {
  const limit = 256 - (256 % alphabet.length);
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < limit) {
        out += alphabet[byte % alphabet.length];
        if (out.length === length) {
          break;
        }
      }
    }
  }
  return out;
}

/** Creates a prefixed random identifier such as `ct_3f9a0c1b2d4e5f60`. */
export function newId(prefix: string, length = 16): string {
  return `${prefix}_${randomString(length, LOWER_ALNUM)}`;
}

export { BASE62, LOWER_ALNUM };
