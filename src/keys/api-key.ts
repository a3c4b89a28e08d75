import {
  type CredentialFormatProblem,
  credentialFormat,
  hashCredential,
  type ParsedCredential,
  verifyCredential,
} from './credential.ts';

export { crc32 } from './credential.ts';

/** Every key starts with this, so secret scanners can recognise a Mailroom key. */
export const KEY_PREFIX = 'mr';

/** An API key's text, as the generated types have it: `mr_<public id>_<secret>`. */
export type ApiKeyText = `${typeof KEY_PREFIX}_${string}`;

/** Why a presented key was refused before any lookup. */
export type KeyFormatProblem = CredentialFormatProblem;

/** The result of checking a presented key's shape and checksum. */
export type ParsedApiKey = ParsedCredential<typeof KEY_PREFIX>;

const API_KEY = credentialFormat(KEY_PREFIX);

/** Creates a new key: `mr_<8-char public id>_<32 random base62><6-char checksum>`. */
export function generateApiKey(): { plaintext: ApiKeyText; publicId: string } {
  return API_KEY.generate();
}

/** Checks a presented key's shape and checksum without touching storage. */
export function parseApiKey(raw: string): ParsedApiKey {
  return API_KEY.parse(raw);
}

/**
 * The valid key with the public id and random part of `body` (`mr_<8>_<32>`, or a whole key whose checksum is wrong):
 * its checksum appended. Undefined for any other shape. How a fixed sandbox key is made by hand.
 */
export function completeApiKey(body: string): ApiKeyText | undefined {
  return API_KEY.complete(body);
}

/** Keyed hash of a key (HMAC-SHA256 with the server's secret), hex: what the store keeps instead of the key. */
export function hashApiKey(plaintext: string, serverSecret: string): string {
  return hashCredential(plaintext, serverSecret);
}

/** Compares a presented key with a stored hash in constant time. */
export function verifyApiKey(plaintext: string, storedHash: string, serverSecret: string): boolean {
  return verifyCredential(plaintext, storedHash, serverSecret);
}

/** The masked form shown in listings: `mr_<public id>_****`. */
export function maskApiKey(publicId: string): string {
  return `${KEY_PREFIX}_${publicId}_****`;
}

/** True when a string looks like a key (used to redact key material from logs). */
export const API_KEY_IN_TEXT = API_KEY.inText;
