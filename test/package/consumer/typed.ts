// Type-checked with `tsc --strict` against the installed @mailroom/client (no @types/node: the client needs none).
import {
  type components,
  createMailroomClient,
  type ErrorCode,
  MailroomError,
  type RateLimitState,
  unwrap,
  unwrapEnvelope,
} from '@mailroom/client';

type ApiKey = components['schemas']['ApiKey'];

const mailroom = createMailroomClient({ baseUrl: 'http://127.0.0.1:3000', apiKey: 'mr_a1b2c3d4_secret', retry: false });

export async function createAndList(): Promise<{ secret: string; keys: ApiKey[]; total: number }> {
  const created = await unwrap(mailroom.POST('/v1/api-keys', { body: { name: 'Typed', expirationDays: 30 } }));
  const secret: string = created.apiKey;
  const { data: keys, meta } = await unwrapEnvelope(mailroom.GET('/v1/api-keys'));
  return { secret, keys, total: meta.total };
}

export function codeOf(error: unknown): ErrorCode | undefined {
  return error instanceof MailroomError ? error.code : undefined;
}

export const lastSeen: RateLimitState | null = mailroom.rateLimit;
