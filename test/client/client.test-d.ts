import { describe, expectTypeOf, test } from 'vitest';
import {
  type components,
  createMailroomClient,
  type ErrorCode,
  type ErrorEnvelope,
  type MailroomClient,
  type MailroomError,
  type RateLimitState,
  unwrap,
  unwrapEnvelope,
} from '../../src/client/index.ts';

type Schemas = components['schemas'];
/** `ApiKey & { apiKey }` as openapi-fetch presents it: one flat object type. */
type Flat<T> = { [K in keyof T]: T[K] };

declare const client: MailroomClient;
declare const error: MailroomError;

describe('createMailroomClient', () => {
  test('takes baseUrl and apiKey, and a closed set of auth schemes', () => {
    expectTypeOf(createMailroomClient).parameter(0).toHaveProperty('baseUrl').toEqualTypeOf<string>();
    expectTypeOf(
      createMailroomClient({ baseUrl: 'http://127.0.0.1:3000', apiKey: 'k' }),
    ).toEqualTypeOf<MailroomClient>();
    createMailroomClient({ baseUrl: 'http://127.0.0.1:3000', apiKey: 'k', authScheme: 'x-api-key', retry: false });
    // @ts-expect-error an unknown scheme
    createMailroomClient({ baseUrl: 'http://127.0.0.1:3000', apiKey: 'k', authScheme: 'basic' });
    // @ts-expect-error the key is required
    createMailroomClient({ baseUrl: 'http://127.0.0.1:3000' });
  });

  test('exposes the last rate-limit state read-only', () => {
    expectTypeOf(client.rateLimit).toEqualTypeOf<RateLimitState | null>();
    expectTypeOf<RateLimitState['resetAt']>().toEqualTypeOf<Date>();
    // @ts-expect-error rateLimit is read-only
    client.rateLimit = null;
  });
});

describe('paths, parameters and bodies are checked', () => {
  test('unknown paths and unsupported methods do not compile', () => {
    // @ts-expect-error no such path
    client.GET('/v1/nope');
    // @ts-expect-error /v1/api-keys has no PUT
    client.PUT('/v1/api-keys', { body: { name: 'x' } });
    // @ts-expect-error /livez has no POST
    client.POST('/livez');
  });

  test('path parameters are required and typed', () => {
    client.GET('/v1/api-keys/{keyId}', { params: { path: { keyId: 'key_4f7a2c9d1e0b3a68' } } });
    // @ts-expect-error keyId is missing
    client.GET('/v1/api-keys/{keyId}');
    // @ts-expect-error keyId must be a string
    client.GET('/v1/api-keys/{keyId}', { params: { path: { keyId: 42 } } });
  });

  test('query parameters are typed', () => {
    client.GET('/v1/contacts', { params: { query: { limit: 10, cursor: 'abc' } } });
    // @ts-expect-error limit is a number
    client.GET('/v1/contacts', { params: { query: { limit: '10' } } });
    // @ts-expect-error no such query parameter
    client.GET('/v1/contacts', { params: { query: { page: 2 } } });
  });

  test('request bodies must match the schema', () => {
    client.POST('/v1/api-keys', { body: { name: 'Production API', expirationDays: 365, access: 'read_only' } });
    // @ts-expect-error name is required
    client.POST('/v1/api-keys', { body: { expirationDays: 365 } });
    // @ts-expect-error expirationDays is a number
    client.POST('/v1/api-keys', { body: { name: 'x', expirationDays: '365' } });
    // @ts-expect-error access is an enum
    client.POST('/v1/api-keys', { body: { name: 'x', access: 'admin' } });
    // @ts-expect-error the body is required
    client.POST('/v1/api-keys');
    // @ts-expect-error a rename takes only name
    client.PATCH('/v1/api-keys/{keyId}', { params: { path: { keyId: 'k' } }, body: { plan: 'pro' } });
  });

  test('a rotation takes an optional body with a numeric grace period, and an Idempotency-Key header', () => {
    client.POST('/v1/api-keys/{keyId}/rotate', { params: { path: { keyId: 'k' } } });
    client.POST('/v1/api-keys/{keyId}/rotate', {
      params: { path: { keyId: 'k' }, header: { 'Idempotency-Key': 'order-42' } },
      body: { gracePeriodMinutes: 0 },
    });
    // @ts-expect-error gracePeriodMinutes is a number
    client.POST('/v1/api-keys/{keyId}/rotate', { params: { path: { keyId: 'k' } }, body: { gracePeriodMinutes: '0' } });
  });
});

describe('responses', () => {
  test('unwrap resolves to the data of the success envelope', () => {
    expectTypeOf(unwrap(client.GET('/v1/api-keys'))).resolves.toEqualTypeOf<Schemas['ApiKey'][]>();
    expectTypeOf(unwrap(client.POST('/v1/api-keys', { body: { name: 'x' } }))).resolves.toEqualTypeOf<
      Flat<Schemas['ApiKeyWithSecret']>
    >();
    expectTypeOf(unwrap(client.GET('/v1/rate-limit'))).resolves.toEqualTypeOf<Schemas['RateLimitStatus']>();
    const rotated = unwrap(client.POST('/v1/api-keys/{keyId}/rotate', { params: { path: { keyId: 'k' } } }));
    expectTypeOf(rotated).resolves.toHaveProperty('apiKey').toEqualTypeOf<string>();
    expectTypeOf(rotated).resolves.toHaveProperty('previousKey').toEqualTypeOf<Schemas['ApiKey']>();
    expectTypeOf(unwrap(client.GET('/livez'))).resolves.toEqualTypeOf<{ status: 'ok' }>();
  });

  test('unwrap also takes a settled result', async () => {
    const result = await client.GET('/v1/api-keys/validate');
    expectTypeOf(unwrap(result)).resolves.toEqualTypeOf<Schemas['KeyValidation']>();
  });

  test('unwrapEnvelope adds the typed meta of lists', () => {
    const keys = unwrapEnvelope(client.GET('/v1/api-keys'));
    expectTypeOf(keys).resolves.toHaveProperty('meta').toEqualTypeOf<{ total: number }>();
    const contacts = unwrapEnvelope(client.GET('/v1/contacts'));
    expectTypeOf(contacts)
      .resolves.toHaveProperty('meta')
      .toEqualTypeOf<{ limit: number; hasMore: boolean; nextCursor: string | null }>();
    expectTypeOf(contacts).resolves.toHaveProperty('data').toEqualTypeOf<Schemas['Contact'][]>();
  });

  test('the error side of a raw result is the error envelope', async () => {
    const result = await client.GET('/v1/health');
    expectTypeOf(result.error).toEqualTypeOf<ErrorEnvelope | undefined>();
  });
});

describe('MailroomError', () => {
  test('code is the spec enum, not string', () => {
    expectTypeOf(error.code).toEqualTypeOf<Schemas['ErrorCode']>();
    expectTypeOf<ErrorCode>().toEqualTypeOf<Schemas['ErrorCode']>();
    expectTypeOf<string>().not.toExtend<MailroomError['code']>();
    // @ts-expect-error not a code of the spec
    const code: MailroomError['code'] = 'NOT_A_CODE';
    // @ts-expect-error comparing with a code that does not exist is a type error
    const isTypo = error.code === 'RATE_LIMIT';
    void code;
    void isTypo;
  });

  test('carries status, message, details and requestId', () => {
    expectTypeOf(error).toExtend<Error>();
    expectTypeOf(error.status).toEqualTypeOf<number>();
    expectTypeOf(error.message).toEqualTypeOf<string>();
    expectTypeOf(error.details).toEqualTypeOf<Record<string, string[]> | undefined>();
    expectTypeOf(error.requestId).toEqualTypeOf<string>();
    expectTypeOf(error.retryAfterSeconds).toEqualTypeOf<number | undefined>();
  });
});
