import { newId } from '../lib/ids.ts';
import {
  ALL_PERMISSIONS,
  DEFAULT_ENVIRONMENT,
  type Environment,
  orderPermissions,
  type Permission,
} from '../lib/permissions.ts';
import type { ApiKeyRecord, SessionOrigin, Store, UserTokenRecord } from '../store/types.ts';
import { DuplicateApiKeyError } from '../store/types.ts';
import { keyEvent } from '../webhooks/events.ts';
import { type ApiKeyText, generateApiKey, hashApiKey } from './api-key.ts';
import { generateUserToken, hashUserToken, type UserTokenText } from './user-token.ts';

/** What a new key is made of. */
export interface IssueApiKeyInput {
  organizationId: string;
  name: string;
  expiresInDays?: number | undefined;
  rateLimit?: number | null | undefined;
  /** What the key may do (default: every permission), stored in the spec's order. */
  permissions?: readonly Permission[] | undefined;
  /** Where it is used (default: production). */
  environment?: Environment | undefined;
  now: Date;
  /** Refuse with KeyLimitError when the organization already has this many active keys. */
  maxActiveKeys?: number | undefined;
}

/** How many active keys an organization may hold: the key list stays bounded (the spec's `maxItems`). */
export const MAX_ACTIVE_KEYS = 100;

const DAY_MS = 86_400_000;

/** Creates a key, stores only its hash (and its `api_key.created` event, in the same transaction), and returns the plaintext once. */
export async function issueApiKey(
  store: Store,
  serverSecret: string,
  input: IssueApiKeyInput,
): Promise<{ plaintext: ApiKeyText; record: ApiKeyRecord }> {
  // A public id collision is astronomically rare (36^8), but retry rather than fail if it happens.
  for (let attempt = 0; ; attempt++) {
    const { plaintext, publicId } = generateApiKey();
    try {
      const record = await store.insertApiKey(
        {
          keyId: newId('key'),
          organizationId: input.organizationId,
          name: input.name,
          publicId,
          keyHash: hashApiKey(plaintext, serverSecret),
          permissions: orderPermissions(input.permissions ?? ALL_PERMISSIONS),
          environment: input.environment ?? DEFAULT_ENVIRONMENT,
          rateLimit: input.rateLimit ?? null,
          createdAt: input.now,
          expiresAt: input.expiresInDays ? new Date(input.now.getTime() + input.expiresInDays * DAY_MS) : null,
        },
        {
          maxActiveKeys: input.maxActiveKeys ?? MAX_ACTIVE_KEYS,
          events: (created) => [keyEvent('api_key.created', created, input.now)],
        },
      );
      return { plaintext, record };
    } catch (error) {
      if (!(error instanceof DuplicateApiKeyError) || attempt >= 3) {
        throw error;
      }
    }
  }
}

/** How long a user token works: 30 days from log-in (or sign-up); logging out ends it sooner. */
export const USER_TOKEN_TTL_MS = 30 * DAY_MS;

/** How many sessions (working user tokens) a user holds at most: signing in past it ends the oldest. */
export const MAX_SESSIONS = 100;

/**
 * Creates a user token for `userId`, issued to a client at `origin`, stores only its hash, and returns the plaintext
 * once. A user holds at most MAX_SESSIONS working tokens: the oldest beyond that are ended, and returned in `ended`
 * (the caller drops them from every instance's cache).
 */
export async function issueUserToken(
  store: Store,
  serverSecret: string,
  input: { userId: string; now: Date; origin: SessionOrigin },
): Promise<{ plaintext: UserTokenText; record: UserTokenRecord; ended: UserTokenRecord[] }> {
  for (let attempt = 0; ; attempt++) {
    const { plaintext, publicId } = generateUserToken();
    try {
      const record = await store.insertUserToken({
        tokenId: newId('tok'),
        userId: input.userId,
        publicId,
        tokenHash: hashUserToken(plaintext, serverSecret),
        createdAt: input.now,
        expiresAt: new Date(input.now.getTime() + USER_TOKEN_TTL_MS),
        createdFrom: input.origin,
      });
      const ended = await store.endSurplusUserSessions(input.userId, MAX_SESSIONS, input.now);
      return { plaintext, record, ended };
    } catch (error) {
      if (!(error instanceof DuplicateApiKeyError) || attempt >= 3) {
        throw error;
      }
    }
  }
}
