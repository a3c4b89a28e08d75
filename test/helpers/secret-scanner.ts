// GitHub's side of secret scanning, for the server suites and the fuzz: a real ECDSA P-256 key pair made per process, the server's view of it
// (what MAILROOM_SECRET_SCANNING_PUBLIC_KEYS would configure), and the headers GitHub signs a report with.
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { parseSecretScanningKeys, type SecretScanningKeys } from '../../src/webhooks/secret-scanning.ts';

/** The identifier GitHub names its key by (a hex SHA-256, as GitHub's are). */
export const SCANNER_KEY_ID = 'bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c';

const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

/** The scanner's private key. */
export const SCANNER_PRIVATE_KEY: KeyObject = pair.privateKey;

/** The public keys as GitHub publishes them (what MAILROOM_SECRET_SCANNING_PUBLIC_KEYS holds). */
export const SCANNER_PUBLIC_KEYS = JSON.stringify([
  { key_identifier: SCANNER_KEY_ID, key: pair.publicKey.export({ type: 'spki', format: 'pem' }), is_current: true },
]);

/** The public keys as the server is configured with them. */
export const SCANNER_KEYS: SecretScanningKeys = parseSecretScanningKeys(SCANNER_PUBLIC_KEYS);

/** GitHub's signature over `raw`: base64 DER ECDSA P-256 / SHA-256, by `signer` (default the scanner's key). */
export function scannerSignature(raw: Uint8Array, signer: KeyObject = SCANNER_PRIVATE_KEY): string {
  return sign('sha256', raw, { key: signer, dsaEncoding: 'der' }).toString('base64');
}

/** The headers GitHub sends with `raw`: its signature over those exact bytes, by `signer` (default the scanner's). */
export function scannerHeaders(raw: string, signer: KeyObject = SCANNER_PRIVATE_KEY): Record<string, string> {
  return {
    'Github-Public-Key-Identifier': SCANNER_KEY_ID,
    'Github-Public-Key-Signature': scannerSignature(Buffer.from(raw), signer),
  };
}
