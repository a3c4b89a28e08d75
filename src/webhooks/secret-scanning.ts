import { createPublicKey, type KeyObject, verify } from 'node:crypto';

// GitHub's secret-scanning partner program: GitHub signs each report with ECDSA P-256 / SHA-256 and names the key in
// Github-Public-Key-Identifier; the partner checks the signature (base64, DER) over the raw body with the public key
// of that identifier, from the list GitHub publishes. The list is configured, not fetched:
// MAILROOM_SECRET_SCANNING_PUBLIC_KEYS is a JSON list of { key_identifier, key } (PEM), shaped like GitHub's
// `public_keys` (extra fields, such as is_current, are ignored).

/** The configured public keys by identifier. */
export type SecretScanningKeys = ReadonlyMap<string, KeyObject>;

/** Parses MAILROOM_SECRET_SCANNING_PUBLIC_KEYS (or `{ public_keys: [...] }`, GitHub's own shape); throws on a bad list. */
export function parseSecretScanningKeys(json: string): SecretScanningKeys {
  const parsed: unknown = JSON.parse(json);
  const list = Array.isArray(parsed) ? parsed : (parsed as { public_keys?: unknown })?.public_keys;
  if (!Array.isArray(list)) {
    throw new Error('MAILROOM_SECRET_SCANNING_PUBLIC_KEYS must be a JSON list of { key_identifier, key }');
  }
  const keys = new Map<string, KeyObject>();
  for (const entry of list) {
    const { key_identifier: id, key } = (entry ?? {}) as { key_identifier?: unknown; key?: unknown };
    if (typeof id !== 'string' || typeof key !== 'string') {
      throw new Error('each secret-scanning public key needs a key_identifier and a key (PEM)');
    }
    keys.set(id, createPublicKey(key));
  }
  return keys;
}

/** True when `signature` (base64 DER ECDSA) signs `body` under `key` with SHA-256. */
export function verifyReportSignature(body: Uint8Array, signature: string, key: KeyObject): boolean {
  try {
    return verify('sha256', body, { key, dsaEncoding: 'der' }, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}
