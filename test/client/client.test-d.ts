import { describe, expectTypeOf, test } from 'vitest';
import {
  type ApiKey,
  type components,
  createMailroomAccountClient,
  createMailroomClient,
  type ErrorCode,
  type ErrorEnvelope,
  type MailroomAccountClient,
  type MailroomClient,
  type MailroomError,
  type RateLimitState,
  type UserToken,
  unwrap,
  unwrapEnvelope,
} from '../../src/client/index.ts';

type Schemas = components['schemas'];
/** `ApiKey & { apiKey }` as openapi-fetch presents it: one flat object type. */
type Flat<T> = { [K in keyof T]: T[K] };

declare const client: MailroomClient;
declare const account: MailroomAccountClient;
declare const error: MailroomError;
declare const userToken: UserToken;
declare const apiKey: ApiKey;
declare const fromEnvironment: string;

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

describe('a user token and an API key cannot be passed for each other', () => {
  test('the credentials are typed by their prefix, from the spec', () => {
    expectTypeOf<ApiKey>().toEqualTypeOf<`mr_${string}`>();
    expectTypeOf<UserToken>().toEqualTypeOf<`mru_${string}`>();
  });

  test('createMailroomClient takes any string as a key, but not a user token', () => {
    createMailroomClient({ baseUrl: 'http://127.0.0.1:3000', apiKey: apiKey });
    createMailroomClient({ baseUrl: 'http://127.0.0.1:3000', apiKey: fromEnvironment });
    // @ts-expect-error a user token is not an API key
    createMailroomClient({ baseUrl: 'http://127.0.0.1:3000', apiKey: userToken });
    // @ts-expect-error nor is a literal that looks like one
    createMailroomClient({ baseUrl: 'http://127.0.0.1:3000', apiKey: 'mru_k3m9p2x7_secret' });
    // @ts-expect-error the account client's option is not the API client's
    createMailroomClient({ baseUrl: 'http://127.0.0.1:3000', userToken });
  });

  test('createMailroomAccountClient takes a user token, or none, but not an API key', () => {
    expectTypeOf(
      createMailroomAccountClient({ baseUrl: 'http://127.0.0.1:3000', userToken }),
    ).toEqualTypeOf<MailroomAccountClient>();
    createMailroomAccountClient({ baseUrl: 'http://127.0.0.1:3000' });
    createMailroomAccountClient({ baseUrl: 'http://127.0.0.1:3000', userToken: fromEnvironment });
    // @ts-expect-error an API key is not a user token
    createMailroomAccountClient({ baseUrl: 'http://127.0.0.1:3000', userToken: apiKey });
    // @ts-expect-error nor is a literal that looks like one
    createMailroomAccountClient({ baseUrl: 'http://127.0.0.1:3000', userToken: 'mr_a1b2c3d4_secret' });
  });

  test('what the account client returns feeds the right factory, and only that one', async () => {
    const session = await unwrap(account.POST('/auth/login', { body: { email: 'ada@example.com', password: 'x' } }));
    expectTypeOf(session.token).toEqualTypeOf<UserToken>();
    createMailroomAccountClient({ baseUrl: 'http://127.0.0.1:3000', userToken: session.token });
    // @ts-expect-error the session's token is not an API key
    createMailroomClient({ baseUrl: 'http://127.0.0.1:3000', apiKey: session.token });

    const created = await unwrap(
      account.POST('/organizations/{organizationId}/api-keys', {
        params: { path: { organizationId: 'org_7d3e9a1c5b2f8e40' } },
        body: { name: 'Production API' },
      }),
    );
    expectTypeOf(created.apiKey).toEqualTypeOf<ApiKey>();
    createMailroomClient({ baseUrl: 'http://127.0.0.1:3000', apiKey: created.apiKey });
    // @ts-expect-error the created key is not a user token
    createMailroomAccountClient({ baseUrl: 'http://127.0.0.1:3000', userToken: created.apiKey });
  });

  test('each client offers only the paths its credential opens, and the public ones', () => {
    account.GET('/organizations');
    account.GET('/auth/me');
    account.GET('/livez');
    client.GET('/v1/api-keys');
    client.GET('/livez');
    // @ts-expect-error /v1 takes API keys, not user tokens
    account.GET('/v1/api-keys');
    // @ts-expect-error /organizations takes user tokens, not API keys
    client.GET('/organizations');
    // @ts-expect-error neither does /auth/me
    client.GET('/auth/me');
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
    expectTypeOf(rotated).resolves.toHaveProperty('apiKey').toEqualTypeOf<`mr_${string}`>();
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

describe('usage and the request log', () => {
  test('granularity and groupBy are the spec enums; entries and buckets are the spec schemas', () => {
    const keyId = 'key_4f7a2c9d1e0b3a68';
    expectTypeOf(
      unwrap(client.GET('/v1/api-keys/{keyId}/usage', { params: { path: { keyId }, query: { granularity: 'day' } } })),
    ).resolves.toEqualTypeOf<Schemas['KeyUsage']>();
    // @ts-expect-error week is not a granularity of the spec
    client.GET('/v1/api-keys/{keyId}/usage', { params: { path: { keyId }, query: { granularity: 'week' } } });
    expectTypeOf(
      unwrap(client.GET('/v1/usage', { params: { query: { groupBy: 'environment' } } })),
    ).resolves.toEqualTypeOf<Schemas['OrganizationUsage']>();
    // @ts-expect-error country is not a grouping of the spec
    client.GET('/v1/usage', { params: { query: { groupBy: 'country' } } });
    expectTypeOf(
      unwrap(client.GET('/v1/request-logs', { params: { query: { status: 429, limit: 50, cursor: 'abc' } } })),
    ).resolves.toEqualTypeOf<Schemas['RequestLogEntry'][]>();
    expectTypeOf<Schemas['ApiKey']['lastUsedFrom']>().toEqualTypeOf<string | null>();
    expectTypeOf<Schemas['UsageCounts']>().toEqualTypeOf<{
      total: number;
      status2xx: number;
      status4xx: number;
      status5xx: number;
      status429: number;
    }>();
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
