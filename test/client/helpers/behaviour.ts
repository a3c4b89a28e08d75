import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  createMailroomAccountClient,
  createMailroomClient,
  type MailroomClientOptions,
  MailroomError,
  type RateLimitState,
  type RetryOptions,
  unwrap,
  unwrapEnvelope,
} from '../../../src/client/index.ts';

/** What a target can do, known before it starts (tests are skipped on this basis, with the reason in their name). */
export interface TargetTraits {
  name: string;
  /** Remembers nothing between requests (Prism): created keys do not work, revocation changes nothing. */
  stateless: boolean;
  /** Answers `Prefer: code=<status>` with that documented response (Prism; the sandbox with `--scenarios`). */
  canned: boolean;
}

/** A running target. */
export interface LiveTarget {
  url: string;
  /** A key the target accepts. */
  apiKey: string;
  /** A key of an organization on a plan of 3 requests a minute (stateful targets only). */
  tinyPlanKey?: string;
  close: () => Promise<void>;
}

const KEY_PREFIX = /^mr_[a-z0-9]{8}_\*{4}$/;
const API_KEY = /^mr_[a-z0-9]{8}_[A-Za-z0-9]{38}$/;
const USER_TOKEN = /^mru_[a-z0-9]{8}_[A-Za-z0-9]{38}$/;
const NOT_ON_PRISM = '(needs state: not on Prism)';
const FORCED = '(forced with Prefer: code=…: the mock, or the sandbox with --scenarios)';

/** Retry options that record each wait instead of sleeping, with no jitter. */
function recordWaits(delays: number[]): RetryOptions {
  return {
    random: () => 0,
    sleep: async (ms) => {
      delays.push(ms);
    },
  };
}

/** Defines the client behaviour suite against one target: the same tests for the reference server and Prism. */
export function describeClientBehaviour(traits: TargetTraits, start: () => Promise<LiveTarget>): void {
  describe(`typed client against the ${traits.name}`, () => {
    let target: LiveTarget;
    const client = (options: Partial<MailroomClientOptions> = {}) =>
      createMailroomClient({ baseUrl: target.url, apiKey: target.apiKey, ...options });

    beforeAll(async () => {
      target = await start();
    });

    afterAll(async () => {
      await target?.close();
    });

    test('lists the organization’s keys with masked prefixes and meta.total', async () => {
      const { data: keys, meta } = await unwrapEnvelope(client().GET('/v1/api-keys'));

      expect(keys.length).toBeGreaterThan(0);
      expect(meta.total).toBe(keys.length);
      for (const key of keys) {
        expect(key.keyPrefix).toMatch(KEY_PREFIX);
      }
    });

    test.each(['bearer', 'x-api-key'] as const)('authenticates with the %s scheme', async (authScheme) => {
      const validation = await unwrap(client({ authScheme }).GET('/v1/api-keys/validate'));

      expect(validation.valid).toBe(true);
    });

    test('creates a key and returns its full secret once, with the warning in meta', async () => {
      const { data: created, meta } = await unwrapEnvelope(
        client().POST('/v1/api-keys', { body: { name: 'Client suite key', expirationDays: 30 } }),
      );

      expect(created.apiKey).toMatch(API_KEY);
      expect(created.keyPrefix).toMatch(KEY_PREFIX);
      expect(meta.warning).toBe('This API key will only be shown once. Please store it securely.');
    });

    test('rotates a key: a new secret shown once, and the old key with the end of its grace period', async () => {
      const mailroom = client();
      const target = await unwrap(mailroom.POST('/v1/api-keys', { body: { name: 'To rotate', expirationDays: 30 } }));

      const { data: rotated, meta } = await unwrapEnvelope(
        mailroom.POST('/v1/api-keys/{keyId}/rotate', {
          params: { path: { keyId: target.keyId } },
          body: { gracePeriodMinutes: 1440 },
        }),
      );

      expect(rotated.apiKey).toMatch(API_KEY);
      expect(rotated.name).toBe(rotated.previousKey.name);
      expect(meta.warning).toBe('This API key will only be shown once. Please store it securely.');
      expect(Date.parse(String(rotated.previousKey.expirationTs)) - Date.parse(rotated.createdAt)).toBe(86_400_000);
    });

    test('reads the binding window into client.rateLimit and passes it to onRateLimit', async () => {
      const seen: RateLimitState[] = [];
      const mailroom = client({ onRateLimit: (state) => seen.push(state) });

      await unwrap(mailroom.GET('/v1/api-keys'));

      const state = mailroom.rateLimit;
      expect(state).not.toBeNull();
      expect(seen).toEqual([state]);
      expect(state?.limit).toBeGreaterThan(0);
      expect(state?.remaining).toBeLessThanOrEqual(state?.limit ?? 0);
      expect(state?.resetAt).toBeInstanceOf(Date);
      expect(state?.policy).toMatch(/q=\d+;w=\d+/);
      expect(state?.window).toEqual(expect.any(String));
    });

    test('GET /livez needs no rate-limit headers, so client.rateLimit stays null', async () => {
      const mailroom = client();

      expect(await unwrap(mailroom.GET('/livez'))).toEqual({ status: 'ok' });
      expect(mailroom.rateLimit).toBeNull();
    });

    test("an invalid body is a VALIDATION_ERROR with per-field details and the response's request id", async () => {
      const result = await client().POST('/v1/api-keys', { body: { name: '' } });
      const error = await unwrap(result).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(MailroomError);
      expect(error).toMatchObject({ code: 'VALIDATION_ERROR', status: 422 });
      expect((error as MailroomError).details).toHaveProperty('name');
      expect((error as MailroomError).requestId).toBe(result.response.headers.get('X-Request-Id'));
    });

    test('an unknown route is RESOURCE_NOT_FOUND and still carries a request id', async () => {
      // @ts-expect-error a path outside the spec, on purpose
      const error = await unwrap(client().GET('/v1/no-such-route')).catch((e: unknown) => e);

      expect(error).toMatchObject({ code: 'RESOURCE_NOT_FOUND', status: 404 });
      expect((error as MailroomError).requestId).not.toBe('');
    });

    // The same cases against the mock and the sandbox: each documented outcome forced with the mock's own selector.
    describe('forced responses', () => {
      test.skipIf(!traits.canned)(
        `a 429 is retried after its Retry-After and ends in RATE_LIMITED after the retries ${FORCED}`,
        async () => {
          const delays: number[] = [];
          // The retry policy alone: a paced client would hold each retry until the announced window resets.
          const mailroom = client({ retry: { ...recordWaits(delays), maxRetries: 2 }, pacing: false });

          const error = await unwrap(mailroom.GET('/v1/api-keys', { headers: { Prefer: 'code=429' } })).catch(
            (e: unknown) => e,
          );

          expect(error).toBeInstanceOf(MailroomError);
          expect(error).toMatchObject({ code: 'RATE_LIMITED', status: 429 });
          const { retryAfterSeconds, requestId } = error as MailroomError;
          expect(retryAfterSeconds).toBeGreaterThanOrEqual(1);
          expect(requestId).not.toBe('');
          // Each wait is the Retry-After of the 429 before it (the mock's is a fixed 42; the sandbox's is the real
          // reset of the caller's binding window, which only counts down).
          expect(delays).toHaveLength(2);
          expect(delays.every((delay) => delay % 1000 === 0)).toBe(true);
          expect(delays[0]).toBeGreaterThanOrEqual(delays[1] ?? Number.NaN);
          expect(delays[1]).toBeGreaterThanOrEqual((retryAfterSeconds ?? Number.NaN) * 1000);
          expect(mailroom.rateLimit?.remaining).toBe(0);
        },
      );

      test.skipIf(!traits.canned)(
        `a 503 without Retry-After is retried with backoff and ends in SERVICE_UNAVAILABLE ${FORCED}`,
        async () => {
          const delays: number[] = [];
          const mailroom = client({ retry: { ...recordWaits(delays), random: () => 0.5, baseDelayMs: 100 } });

          const error = await unwrap(mailroom.GET('/v1/health', { headers: { Prefer: 'code=503' } })).catch(
            (e: unknown) => e,
          );

          expect(error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 503 });
          expect(delays).toEqual([50, 100, 200]);
        },
      );

      test.skipIf(!traits.canned)(
        `a 409 IDEMPOTENCY_KEY_IN_USE on a create is retried after its Retry-After ${FORCED}`,
        async () => {
          const delays: number[] = [];
          const mailroom = client({ retry: { ...recordWaits(delays), maxRetries: 2 } });

          const error = await unwrap(
            mailroom.POST('/v1/api-keys', {
              body: { name: 'Busy' },
              headers: { Prefer: 'code=409, example=idempotencyKeyInUse' },
            }),
          ).catch((e: unknown) => e);

          expect(error).toMatchObject({ code: 'IDEMPOTENCY_KEY_IN_USE', status: 409 });
          expect(delays).toEqual([1000, 1000]);
        },
      );

      test.skipIf(!traits.canned)(`a 401 is an UNAUTHORIZED MailroomError, never retried ${FORCED}`, async () => {
        const delays: number[] = [];
        const mailroom = client({ retry: recordWaits(delays) });

        const error = await unwrap(mailroom.GET('/v1/health', { headers: { Prefer: 'code=401' } })).catch(
          (e: unknown) => e,
        );

        expect(error).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
        expect(delays).toEqual([]);
      });

      test.skipIf(!traits.canned)(`a revoked key's 401 says it was revoked ${FORCED}`, async () => {
        const result = await client().GET('/v1/api-keys/validate', {
          headers: { Prefer: 'code=401, example=revokedKey' },
        });
        const error = await unwrap(result).catch((e: unknown) => e);

        expect(error).toMatchObject({ code: 'UNAUTHORIZED', status: 401, message: 'The API key has been revoked' });
        expect(result.response.headers.get('WWW-Authenticate')).toMatch(/^Bearer realm="mailroom"/);
      });

      test.skipIf(!traits.canned)(`a write with a read_only key is FORBIDDEN ${FORCED}`, async () => {
        const request = client().POST('/v1/api-keys', { body: { name: 'Nope' }, headers: { Prefer: 'code=403' } });

        await expect(unwrap(request)).rejects.toMatchObject({ code: 'FORBIDDEN', status: 403 });
      });

      test.skipIf(!traits.canned)(`an unknown key id is RESOURCE_NOT_FOUND ${FORCED}`, async () => {
        const request = client().GET('/v1/api-keys/{keyId}', {
          params: { path: { keyId: 'key_0000000000000000' } },
          headers: { Prefer: 'code=404' },
        });

        await expect(unwrap(request)).rejects.toMatchObject({ code: 'RESOURCE_NOT_FOUND', status: 404 });
      });

      test.skipIf(!traits.canned)(`a duplicate contact email is DUPLICATE_RESOURCE ${FORCED}`, async () => {
        const request = client().POST('/v1/contacts', {
          body: { email: 'ada@example.com' },
          headers: { Prefer: 'code=409' },
        });

        await expect(unwrap(request)).rejects.toMatchObject({ code: 'DUPLICATE_RESOURCE', status: 409 });
      });

      test.skipIf(!traits.canned)(
        `a 500 is a SERVER_ERROR quoting the request id, never retried ${FORCED}`,
        async () => {
          const delays: number[] = [];
          const result = await client({ retry: recordWaits(delays) }).GET('/v1/contacts', {
            headers: { Prefer: 'code=500' },
          });
          const error = await unwrap(result).catch((e: unknown) => e);

          expect(error).toMatchObject({ code: 'SERVER_ERROR', status: 500 });
          expect((error as MailroomError).message).toContain('Quote request id');
          expect(delays).toEqual([]);
        },
      );
    });

    describe('accounts', () => {
      const account = (userToken?: string) => createMailroomAccountClient({ baseUrl: target.url, userToken });
      const email = () => `client-${Math.random().toString(36).slice(2, 10)}@example.com`;

      test('signs up without a credential and gets a user token, a user and a first organization', async () => {
        const session = await unwrap(
          account().POST('/auth/signup', { body: { email: email(), password: 'correct horse battery staple' } }),
        );

        expect(session.token).toMatch(USER_TOKEN);
        expect(session.organizations[0]?.role).toBe('owner');
      });

      test('with the user token, lists the organizations and their keys', async () => {
        const session = await unwrap(
          account().POST('/auth/signup', { body: { email: email(), password: 'correct horse battery staple' } }),
        );
        const me = account(session.token);
        const { data: organizations, meta } = await unwrapEnvelope(me.GET('/organizations'));
        expect(meta.total).toBe(organizations.length);
        const organizationId = organizations[0]?.organizationId ?? '';
        const keys = await unwrap(
          me.GET('/organizations/{organizationId}/api-keys', { params: { path: { organizationId } } }),
        );
        for (const key of keys) {
          expect(key.keyPrefix).toMatch(KEY_PREFIX);
        }
      });

      test.skipIf(traits.stateless)(
        `a key made with the user token works on /v1; after log-out the token is UNAUTHORIZED ${NOT_ON_PRISM}`,
        async () => {
          const session = await unwrap(
            account().POST('/auth/signup', { body: { email: email(), password: 'correct horse battery staple' } }),
          );
          const me = account(session.token);
          const organizationId = session.organizations[0]?.organizationId ?? '';
          const created = await unwrap(
            me.POST('/organizations/{organizationId}/api-keys', {
              params: { path: { organizationId } },
              body: { name: 'Made by a person' },
            }),
          );
          const mailroom = createMailroomClient({ baseUrl: target.url, apiKey: created.apiKey });
          expect(await unwrap(mailroom.GET('/v1/api-keys/validate'))).toMatchObject({ organizationId });

          expect(await unwrap(me.POST('/auth/logout'))).toEqual({ revoked: true });
          await expect(unwrap(me.GET('/auth/me'))).rejects.toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
          // The key belongs to the organization, not to the session.
          expect(await unwrap(mailroom.GET('/v1/api-keys/validate'))).toMatchObject({ organizationId });
        },
      );
    });

    describe('state', () => {
      test.skipIf(traits.stateless)(
        `a created key is listed and works, and once revoked its next request is 401 UNAUTHORIZED ${NOT_ON_PRISM}`,
        async () => {
          const admin = client();
          const created = await unwrap(admin.POST('/v1/api-keys', { body: { name: 'Short-lived' } }));
          const keys = await unwrap(admin.GET('/v1/api-keys'));
          expect(keys.map((key) => key.keyId)).toContain(created.keyId);

          const shortLived = client({ apiKey: created.apiKey, authScheme: 'x-api-key' });
          expect(await unwrap(shortLived.GET('/v1/api-keys/validate'))).toMatchObject({ keyId: created.keyId });

          const revoked = await unwrap(
            admin.DELETE('/v1/api-keys/{keyId}', { params: { path: { keyId: created.keyId } } }),
          );
          expect(revoked).toEqual({ keyId: created.keyId, revoked: true });

          const result = await shortLived.GET('/v1/api-keys/validate');
          const error = await unwrap(result).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(MailroomError);
          expect(error).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
          expect((error as MailroomError).requestId).toBe(result.response.headers.get('X-Request-Id'));
          expect((error as MailroomError).requestId).not.toBe('');
        },
      );

      test.skipIf(traits.stateless)(
        `a create sent again with its Idempotency-Key is replayed: one key, the same secret ${NOT_ON_PRISM}`,
        async () => {
          const admin = client();
          const headers = { 'Idempotency-Key': crypto.randomUUID() };
          const before = (await unwrap(admin.GET('/v1/api-keys'))).length;

          const first = await admin.POST('/v1/api-keys', { body: { name: 'Exactly once' }, headers });
          const again = await admin.POST('/v1/api-keys', { body: { name: 'Exactly once' }, headers });

          expect(first.response.headers.get('Idempotent-Replayed')).toBeNull();
          expect(again.response.headers.get('Idempotent-Replayed')).toBe('true');
          expect(await unwrap(again)).toEqual(await unwrap(first));
          expect(await unwrap(admin.GET('/v1/api-keys'))).toHaveLength(before + 1);
          const reused = await unwrap(admin.POST('/v1/api-keys', { body: { name: 'Another' }, headers })).catch(
            (e: unknown) => e,
          );
          expect(reused).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', status: 422 });
        },
      );

      test.skipIf(traits.stateless)(`a read_only key is FORBIDDEN to write ${NOT_ON_PRISM}`, async () => {
        const created = await unwrap(
          client().POST('/v1/api-keys', { body: { name: 'Dashboard', access: 'read_only' } }),
        );
        const readOnly = client({ apiKey: created.apiKey });

        await expect(unwrap(readOnly.GET('/v1/api-keys'))).resolves.toEqual(expect.any(Array));
        await expect(unwrap(readOnly.POST('/v1/api-keys', { body: { name: 'Nope' } }))).rejects.toMatchObject({
          code: 'FORBIDDEN',
          status: 403,
        });
      });

      test.skipIf(traits.stateless)(`an unknown key id is RESOURCE_NOT_FOUND ${NOT_ON_PRISM}`, async () => {
        const request = client().GET('/v1/api-keys/{keyId}', { params: { path: { keyId: 'key_0000000000000000' } } });

        await expect(unwrap(request)).rejects.toMatchObject({ code: 'RESOURCE_NOT_FOUND', status: 404 });
      });

      test.skipIf(traits.stateless)(
        `X-RateLimit-Remaining falls by one with each counted request ${NOT_ON_PRISM}`,
        async () => {
          const mailroom = client();

          await unwrap(mailroom.GET('/v1/api-keys'));
          const before = mailroom.rateLimit?.remaining ?? Number.NaN;
          await unwrap(mailroom.GET('/v1/api-keys'));

          expect(mailroom.rateLimit?.remaining).toBe(before - 1);
        },
      );

      test.skipIf(traits.stateless)(
        `an exhausted plan answers a real 429: the client waits Retry-After between sends, then throws RATE_LIMITED ${NOT_ON_PRISM}`,
        async () => {
          const delays: number[] = [];
          const remaining: number[] = [];
          const tiny = client({
            apiKey: target.tinyPlanKey,
            retry: { ...recordWaits(delays), maxRetries: 2 },
            onRateLimit: (state) => remaining.push(state.remaining),
            // Unpaced, to spend the plan: a paced client would wait out the minute instead (pacing.test.ts).
            pacing: false,
          });

          for (let i = 0; i < 3; i++) {
            await unwrap(tiny.GET('/v1/api-keys/validate'));
          }
          const error = await unwrap(tiny.GET('/v1/api-keys/validate')).catch((e: unknown) => e);

          expect(error).toBeInstanceOf(MailroomError);
          const { retryAfterSeconds } = error as MailroomError;
          expect(error).toMatchObject({ code: 'RATE_LIMITED', status: 429 });
          expect(retryAfterSeconds).toBeGreaterThanOrEqual(1);
          expect(delays).toHaveLength(2);
          for (const delay of delays) {
            expect(delay).toBeGreaterThanOrEqual(1000);
          }
          expect(remaining).toEqual([2, 1, 0, 0, 0, 0]);
        },
      );
    });
  });
}
