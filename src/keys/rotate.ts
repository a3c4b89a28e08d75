import { newId } from '../lib/ids.ts';
import { DuplicateApiKeyError, type RotationOutcome, type Store } from '../store/types.ts';
import { keyEvent } from '../webhooks/events.ts';
import { type ApiKeyText, generateApiKey, hashApiKey, maskApiKey } from './api-key.ts';

/** The longest grace period a rotation may give the old key: 7 days, as Stripe allows. */
export const MAX_GRACE_MINUTES = 10_080;
/** The grace period when the caller names none: a day, long enough to roll the new key out without downtime. */
export const DEFAULT_GRACE_MINUTES = 1_440;

/** What to rotate and how long the old key keeps working. */
export interface RotateApiKeyInput {
  /** The key's organization; null = any (the CLI, which works on the store directly). */
  organizationId: string | null;
  keyId: string;
  /** 0..MAX_GRACE_MINUTES; the old key never outlives its own original expiry. */
  graceMinutes: number;
  now: Date;
}

/** A rotation's outcome; when rotated, with the new key's plaintext (shown once, never stored). */
export type RotateApiKeyResult =
  | Exclude<RotationOutcome, { outcome: 'rotated' }>
  | (RotationOutcome & { outcome: 'rotated'; plaintext: ApiKeyText });

/**
 * Replaces a key with a new one that inherits its name, permissions, environment, per-key rate limit, organization
 * (so its plan) and expiry policy; the old key keeps working for the grace period. Only the new key's hash is stored.
 */
export async function rotateApiKey(
  store: Store,
  serverSecret: string,
  input: RotateApiKeyInput,
): Promise<RotateApiKeyResult> {
  if (!Number.isInteger(input.graceMinutes) || input.graceMinutes < 0 || input.graceMinutes > MAX_GRACE_MINUTES) {
    throw new RangeError(`graceMinutes must be a whole number from 0 to ${MAX_GRACE_MINUTES}`);
  }
  const graceEndsAt = new Date(input.now.getTime() + input.graceMinutes * 60_000);
  // A public id collision is astronomically rare (36^8), but retry rather than fail if it happens.
  for (let attempt = 0; ; attempt++) {
    const { plaintext, publicId } = generateApiKey();
    try {
      const result = await store.rotateApiKey(
        input.organizationId,
        input.keyId,
        { keyId: newId('key'), publicId, keyHash: hashApiKey(plaintext, serverSecret) },
        input.now,
        graceEndsAt,
        // The old key, with its new expiry (the end of the grace), and the key that replaces it.
        ({ previous, current }) => [
          keyEvent('api_key.rotated', previous, input.now, {
            replacedBy: { keyId: current.keyId, keyPrefix: maskApiKey(current.publicId) },
          }),
        ],
      );
      return result.outcome === 'rotated' ? { ...result, plaintext } : result;
    } catch (error) {
      if (!(error instanceof DuplicateApiKeyError) || attempt >= 3) {
        throw error;
      }
    }
  }
}
