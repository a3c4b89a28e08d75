import type { components } from '../../../generated/schema.d.ts';

/** An API key as listed (the secret is never in it). */
export type ApiKey = components['schemas']['ApiKey'];

/** The body of a key create. */
export type CreateKeyBody = components['schemas']['CreateApiKeyRequest'];
