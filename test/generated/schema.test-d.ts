import { describe, expectTypeOf, test } from 'vitest';
import type { components, operations, paths } from '../../generated/schema.d.ts';

type Schemas = components['schemas'];
type CreateKeyBody = NonNullable<operations['createApiKey']['requestBody']>['content']['application/json'];

describe('generated types', () => {
  test('the create-key request requires name and keeps the other fields optional', () => {
    expectTypeOf<CreateKeyBody>().toHaveProperty('name').toEqualTypeOf<string>();
    expectTypeOf<{ name: string }>().toExtend<CreateKeyBody>();
    expectTypeOf<{ expirationDays: number }>().not.toExtend<CreateKeyBody>();
  });

  test('the error code is the closed enum, not string', () => {
    type Code = Schemas['ErrorEnvelope']['error']['code'];
    expectTypeOf<Code>().toEqualTypeOf<Schemas['ErrorCode']>();
    expectTypeOf<'RATE_LIMITED'>().toExtend<Code>();
    expectTypeOf<string>().not.toExtend<Code>();
  });

  test('envelopes carry literal success flags', () => {
    expectTypeOf<Schemas['ErrorEnvelope']['success']>().toEqualTypeOf<false>();
    type ListKeys = operations['listApiKeys']['responses'][200]['content']['application/json'];
    expectTypeOf<ListKeys['success']>().toEqualTypeOf<true>();
    expectTypeOf<ListKeys['meta']['total']>().toEqualTypeOf<number>();
    expectTypeOf<ListKeys['data'][number]>().toEqualTypeOf<Schemas['ApiKey']>();
  });

  test('permissions and environments are literal unions, and an unknown one does not compile', () => {
    expectTypeOf<Schemas['Permission']>().toEqualTypeOf<
      | 'api_keys:read'
      | 'api_keys:write'
      | 'contacts:read'
      | 'contacts:write'
      | 'usage:read'
      | 'webhooks:read'
      | 'webhooks:write'
    >();
    expectTypeOf<Schemas['ApiKey']['permissions']>().toEqualTypeOf<Schemas['Permission'][]>();
    expectTypeOf<Schemas['Environment']>().toEqualTypeOf<'development' | 'staging' | 'production'>();
    type Create = Schemas['CreateApiKeyRequest'];
    const good: Create = { name: 'CI', permissions: ['contacts:read'], environment: 'staging' };
    expectTypeOf(good).toEqualTypeOf<Create>();
    // @ts-expect-error contacts:delete is not a permission of the spec.
    const unknown: Create = { name: 'CI', permissions: ['contacts:delete'] };
    // @ts-expect-error qa is not an environment of the spec.
    const environment: Create = { name: 'CI', environment: 'qa' };
    expectTypeOf([unknown, environment]).toBeArray();
  });

  test('nullable timestamps are string or null', () => {
    expectTypeOf<Schemas['ApiKey']['expirationTs']>().toEqualTypeOf<string | null>();
    expectTypeOf<Schemas['Contact']['firstName']>().toEqualTypeOf<string | null>();
  });

  test('every path is typed: /v1, the account side, the probe, secret scanning, the sandbox reset and clock', () => {
    expectTypeOf<keyof paths>().toEqualTypeOf<
      | '/livez'
      | '/v1/webhook-endpoints'
      | '/v1/webhook-endpoints/{endpointId}'
      | '/v1/webhook-endpoints/{endpointId}/rotate-secret'
      | '/v1/webhook-endpoints/{endpointId}/test'
      | '/v1/webhook-endpoints/{endpointId}/deliveries'
      | '/v1/webhook-endpoints/{endpointId}/deliveries/{deliveryId}/retry'
      | '/organizations/{organizationId}/webhook-endpoints'
      | '/organizations/{organizationId}/webhook-endpoints/{endpointId}'
      | '/organizations/{organizationId}/webhook-endpoints/{endpointId}/rotate-secret'
      | '/organizations/{organizationId}/webhook-endpoints/{endpointId}/test'
      | '/organizations/{organizationId}/webhook-endpoints/{endpointId}/deliveries'
      | '/organizations/{organizationId}/webhook-endpoints/{endpointId}/deliveries/{deliveryId}/retry'
      | '/secret-scanning/github'
      | '/v1/health'
      | '/v1/rate-limit'
      | '/v1/api-keys'
      | '/v1/api-keys/validate'
      | '/v1/api-keys/{keyId}'
      | '/v1/api-keys/{keyId}/rotate'
      | '/v1/api-keys/{keyId}/usage'
      | '/v1/permissions'
      | '/v1/contacts'
      | '/v1/contacts/{contactId}'
      | '/v1/usage'
      | '/v1/request-logs'
      | '/auth/signup'
      | '/auth/password'
      | '/auth/sessions'
      | '/auth/sessions/{sessionId}'
      | '/auth/sessions/revoke-others'
      | '/auth/login'
      | '/auth/logout'
      | '/auth/me'
      | '/organizations'
      | '/organizations/{organizationId}'
      | '/organizations/{organizationId}/api-keys'
      | '/organizations/{organizationId}/api-keys/{keyId}'
      | '/organizations/{organizationId}/api-keys/{keyId}/rotate'
      | '/organizations/{organizationId}/api-keys/{keyId}/usage'
      | '/organizations/{organizationId}/usage'
      | '/organizations/{organizationId}/request-logs'
      | '/organizations/{organizationId}/members'
      | '/organizations/{organizationId}/members/{userId}'
      | '/sandbox/clock'
      | '/sandbox/reset'
    >();
  });

  test('the key objects under an organization are the /v1 ones', () => {
    type OrgKeys = operations['listOrganizationApiKeys']['responses'][200]['content']['application/json'];
    type V1Keys = operations['listApiKeys']['responses'][200]['content']['application/json'];
    expectTypeOf<OrgKeys>().toEqualTypeOf<V1Keys>();
    type OrgCreated = operations['createOrganizationApiKey']['responses'][201]['content']['application/json'];
    expectTypeOf<OrgCreated>().toEqualTypeOf<
      operations['createApiKey']['responses'][201]['content']['application/json']
    >();
    type OrgRotated = operations['rotateOrganizationApiKey']['responses'][201]['content']['application/json'];
    expectTypeOf<OrgRotated>().toEqualTypeOf<
      operations['rotateApiKey']['responses'][201]['content']['application/json']
    >();
  });

  test('every create accepts an optional Idempotency-Key header', () => {
    expectTypeOf<operations['createApiKey']['parameters']['header']>().toEqualTypeOf<
      { 'X-Request-Id'?: string; 'Idempotency-Key'?: string } | undefined
    >();
    expectTypeOf<NonNullable<operations['createContact']['parameters']['header']>>().toHaveProperty('Idempotency-Key');
    expectTypeOf<NonNullable<operations['rotateApiKey']['parameters']['header']>>().toHaveProperty('Idempotency-Key');
  });

  test('the 429 response of an operation declares Retry-After', () => {
    type Headers429 = operations['listContacts']['responses'][429]['headers'];
    expectTypeOf<Headers429>().toHaveProperty('Retry-After');
  });
});
