import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

// Webhook signing secrets must be readable by the server (it signs with them), so they can't be hashed like API keys:
// they are sealed with AES-256-GCM under a key derived (HKDF-SHA256) from the server secret (MAILROOM_SERVER_SECRET;
// the embedded development mode has a documented default). A database dump alone reveals no secret; every instance
// sharing a database needs the same server secret, as it already does for API keys.

const IV_BYTES = 12;
const TAG_BYTES = 16;
const INFO = 'mailroom webhook signing secret v1';

function sealingKey(serverSecret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', serverSecret, 'mailroom-webhooks', INFO, 32));
}

/** Seals `secret`: iv (12 bytes) || GCM tag (16 bytes) || ciphertext. */
export function sealSecret(secret: string, serverSecret: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', sealingKey(serverSecret), iv);
  const sealed = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), sealed]);
}

/** Opens a sealed secret; throws when it was sealed under another server secret or tampered with. */
export function openSecret(sealed: Uint8Array, serverSecret: string): string {
  const bytes = Buffer.from(sealed);
  const decipher = createDecipheriv('aes-256-gcm', sealingKey(serverSecret), bytes.subarray(0, IV_BYTES));
  decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
}
