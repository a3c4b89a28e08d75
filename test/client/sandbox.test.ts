import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, expectTypeOf, test } from 'vitest';
import {
  advanceSandboxClock,
  createMailroomClient,
  MailroomError,
  resetSandbox,
  type SandboxClock,
  type SandboxReset,
  unwrap,
} from '../../src/client/index.ts';
import { type ServerHandle, startServer } from '../../src/server/index.ts';

// The client's test set-up call against a real sandbox: `resetSandbox(client)` in a beforeEach puts the sandbox back,
// and the client's pacing starts over with the windows the reset emptied.

let sandbox: ServerHandle;
let plain: ServerHandle;
let key: string;

beforeAll(async () => {
  const plans = { tiny: { windows: [{ name: 'minute', limit: 3, windowSeconds: 60 }] } };
  [sandbox, plain] = await Promise.all([
    startServer({ sandbox: true, logLevel: 'silent', plans }),
    startServer({ logLevel: 'silent', plans }),
  ]);
  key = (await sandbox.createApiKey({ name: 'set-up', organization: 'tests', plan: 'tiny' })).plaintext;
  await sandbox.sandbox?.capture();
});
afterAll(async () => {
  await Promise.all([sandbox?.close(), plain?.close()]);
});

describe('resetSandbox', () => {
  test('puts the sandbox back and says what it restored, typed by the spec', async () => {
    const mailroom = createMailroomClient({ baseUrl: sandbox.url, apiKey: key });
    await unwrap(mailroom.POST('/v1/contacts', { body: { email: 'made-in-a-test@example.com' } }));
    const restored = await resetSandbox(mailroom);
    expectTypeOf(restored).toEqualTypeOf<SandboxReset>();
    expect(restored).toMatchObject({ seed: null, restored: { organizations: 1, apiKeys: 1, contacts: 0, users: 0 } });
    const contacts = await unwrap(mailroom.GET('/v1/contacts'));
    expect(contacts).toEqual([]);
  });

  test('a client whose window is spent is not held: the reset and the next request go at once', async () => {
    const waits: number[] = [];
    const mailroom = createMailroomClient({
      baseUrl: sandbox.url,
      apiKey: key,
      retry: false,
      pacing: { onWait: ({ waitMs }) => waits.push(waitMs) },
    });
    await resetSandbox(mailroom);
    for (let i = 0; i < 3; i++) {
      await unwrap(mailroom.GET('/v1/api-keys/validate'));
    }
    expect(mailroom.rateLimit?.remaining, 'the 3-a-minute window is spent').toBe(0);
    await resetSandbox(mailroom);
    const after = await mailroom.GET('/v1/api-keys/validate');
    expect(after.response.status).toBe(200);
    expect(mailroom.rateLimit?.remaining).toBe(2);
    expect(waits, 'no request waited for the minute window').toEqual([]);
  });

  test('against a server that is not a sandbox, it throws the 404 of an unknown path', async () => {
    const otherKey = (await plain.createApiKey({ name: 'plain' })).plaintext;
    const mailroom = createMailroomClient({ baseUrl: plain.url, apiKey: otherKey });
    const error = await resetSandbox(mailroom).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(MailroomError);
    expect(error).toMatchObject({ status: 404, code: 'RESOURCE_NOT_FOUND' });
  });
});

describe('advanceSandboxClock', () => {
  test('moves the sandbox a day on: a key made to expire in a day is refused, and a reset puts the clock back', async () => {
    const mailroom = createMailroomClient({ baseUrl: sandbox.url, apiKey: key });
    await resetSandbox(mailroom);
    const made = await unwrap(mailroom.POST('/v1/api-keys', { body: { name: 'a day', expirationDays: 1 } }));
    const shortLived = createMailroomClient({ baseUrl: sandbox.url, apiKey: made.apiKey, retry: false });
    expect((await shortLived.GET('/v1/api-keys/validate')).response.status).toBe(200);

    const before = Date.now();
    const moved = await advanceSandboxClock(mailroom, 86_460);
    expectTypeOf(moved).toEqualTypeOf<SandboxClock>();
    expect(moved.offsetSeconds).toBe(86_460);
    expect(Date.parse(moved.now) - before).toBeGreaterThanOrEqual(86_460_000);
    const refused = await shortLived.GET('/v1/api-keys/validate');
    expect(refused.response.status).toBe(401);
    expect(refused.error?.error.message).toMatch(/expired/);

    await resetSandbox(mailroom);
    expect((await advanceSandboxClock(mailroom, 1)).offsetSeconds).toBe(1);
    await resetSandbox(mailroom);
  });

  test('out of bounds is 422 naming advanceSeconds; on a server that is not a sandbox, 404', async () => {
    const mailroom = createMailroomClient({ baseUrl: sandbox.url, apiKey: key });
    const tooFar = await advanceSandboxClock(mailroom, 31_536_001).catch((thrown: unknown) => thrown);
    expect(tooFar).toBeInstanceOf(MailroomError);
    expect(tooFar).toMatchObject({ status: 422, code: 'VALIDATION_ERROR' });
    expect((tooFar as MailroomError).details).toHaveProperty('advanceSeconds');
    const otherKey = (await plain.createApiKey({ name: 'plain clock' })).plaintext;
    const notSandbox = createMailroomClient({ baseUrl: plain.url, apiKey: otherKey });
    const error = await advanceSandboxClock(notSandbox, 60).catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ status: 404, code: 'RESOURCE_NOT_FOUND' });
  });
});

// The README's suite (*a seeded sandbox in CI*), as written there, against its fixture (test/cli/fixtures/, where the
// CLI suite starts `mailroom serve --sandbox --seed` on the same file).
describe('the README’s suite against its fixture', () => {
  const fixture = fileURLToPath(new URL('../cli/fixtures/sandbox.yaml', import.meta.url));
  let seeded: ServerHandle;
  let mailroom: ReturnType<typeof createMailroomClient>;

  beforeAll(async () => {
    seeded = await startServer({ sandbox: true, seed: fixture, logLevel: 'silent' });
    mailroom = createMailroomClient({
      baseUrl: seeded.url,
      apiKey: 'mr_acmeci01_SandboxCiKeyOfTheAcmeFixture00012qK3tj', // the fixture's fixed key
    });
  });
  afterAll(async () => {
    await seeded?.close();
  });

  beforeEach(() => resetSandbox(mailroom));

  test('a new contact is listed', async () => {
    await unwrap(mailroom.POST('/v1/contacts', { body: { email: 'grace@example.com' } }));
    const contacts = await unwrap(mailroom.GET('/v1/contacts'));
    expect(contacts.map((c) => c.email)).toEqual(['lin@example.com', 'grace@example.com']);
  });

  test('the next test starts from the fixture again', async () => {
    expect((await unwrap(mailroom.GET('/v1/contacts'))).map((c) => c.email)).toEqual(['lin@example.com']);
  });
});
