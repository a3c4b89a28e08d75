import { describe, expect, test } from 'vitest';
import type { RawExchange } from '../helpers/raw-http.ts';
import { planCases } from './engine/cases.ts';
import {
  assessRows,
  type CaseResult,
  checkExchange,
  createdRows,
  loggedErrors,
  sameRows,
  sentPath,
} from './engine/checks.ts';
import { allClasses, type Expectation, GROUPS } from './engine/classes.ts';
import { loadFuzzSpec } from './engine/spec.ts';

// The fuzz's own checks must be able to fail: each is fed an answer that breaks exactly one rule.

const spec = loadFuzzSpec();
const classes = allClasses(spec);
const getHealth = spec.operations.find((op) => op.operationId === 'getHealth');
const control = classes.find((cls) => cls.group === 'control');
if (!getHealth || !control) {
  throw new Error('the spec has no getHealth operation, or the tables no control class');
}

const RATE = {
  'x-ratelimit-limit': '10',
  'x-ratelimit-remaining': '9',
  'x-ratelimit-reset': '1',
  'ratelimit-policy': '"burst";q=10;w=1',
  ratelimit: '"burst";r=9;t=1',
};
const ERROR_BODY = '{"success":false,"error":{"code":"BAD_REQUEST","message":"m"},"meta":{"requestId":"r1"}}';

function exchange(status: number, headers: Record<string, string>, body: string): RawExchange {
  return {
    response: { status, headers, rawHeaders: [], body: Buffer.from(body) },
    received: Buffer.from(body),
    closedByServer: true,
    timedOut: false,
    error: undefined,
    elapsedMs: 1,
  };
}

function kindsFor(x: RawExchange, expect: Expectation = 'any', path = '/v1/health'): string[] {
  const planned = {
    n: 1,
    cls: control as NonNullable<typeof control>,
    op: getHealth as NonNullable<typeof getHealth>,
    expect,
    row: undefined,
  };
  return checkExchange(planned, [`GET ${path} HTTP/1.1\r\n\r\n`], x, spec).findings.map((f) => f.kind);
}

const json = { 'content-type': 'application/json; charset=utf-8', 'x-request-id': 'r1' };

describe('checks of one answer', () => {
  test.each([
    ['a correct error envelope', exchange(400, { ...json, ...RATE }, ERROR_BODY), []],
    [
      'a 500',
      exchange(500, { ...json, ...RATE }, ERROR_BODY.replace('"BAD_REQUEST"', '"SERVER_ERROR"')),
      ['server-error'],
    ],
    [
      'an HTML page',
      exchange(400, { 'content-type': 'text/html', 'x-request-id': 'r1', ...RATE }, '<h1>Bad</h1>'),
      ['non-envelope'],
    ],
    ['an empty body', exchange(400, { ...json, ...RATE }, ''), ['non-envelope']],
    ['a code of another status', exchange(404, { ...json, ...RATE }, ERROR_BODY), ['code-status']],
    [
      'a code outside the enum',
      exchange(400, { ...json, ...RATE }, ERROR_BODY.replace('BAD_REQUEST', 'OOPS')),
      ['code-status'],
    ],
    [
      'meta.requestId unlike the header',
      exchange(400, { ...json, ...RATE, 'x-request-id': 'r2' }, ERROR_BODY),
      ['code-status'],
    ],
    [
      'no X-Request-Id',
      exchange(400, { 'content-type': 'application/json', ...RATE }, ERROR_BODY),
      ['request-id', 'code-status'],
    ],
    ['no rate-limit headers on /v1', exchange(400, json, ERROR_BODY), ['rate-limit-headers']],
    [
      'a 405 without Allow',
      exchange(405, { ...json, ...RATE }, ERROR_BODY.replace('BAD_REQUEST', 'METHOD_NOT_ALLOWED')),
      ['required-header'],
    ],
    ['a success body without data', exchange(200, { ...json, ...RATE }, '{"success":true}'), ['non-envelope']],
  ])('%s', (_label, x, kinds) => {
    expect(kindsFor(x)).toEqual(kinds);
  });

  test('no rate-limit headers outside /v1 is no finding', () => {
    expect(kindsFor(exchange(400, json, ERROR_BODY), 'any', '/livez')).toEqual([]);
  });

  test('no answer in time is hung; a closed connection without one is non-envelope', () => {
    const none = { ...exchange(400, {}, ''), response: undefined, received: Buffer.alloc(0) };
    expect(kindsFor({ ...none, timedOut: true })).toEqual(['hung']);
    expect(kindsFor(none)).toEqual(['non-envelope']);
  });

  test.each([
    [200, 'refuse', ['accepted-invalid']],
    [200, 422, ['accepted-invalid']],
    [400, 'accept', ['unexpected-status']],
    [400, 431, ['unexpected-status']],
    [400, 'refuse', []],
    [400, 400, []],
  ] as const)('a %i where the class expects %s', (status, expectation, kinds) => {
    const body = status === 200 ? '{"success":true,"data":{}}' : ERROR_BODY;
    expect(kindsFor(exchange(status, { ...json, ...RATE }, body), expectation)).toEqual(kinds);
  });

  test.each([
    ['GET /v1/health HTTP/1.1\r\n', '/v1/health'],
    ['\r\nDELETE /v1/contacts/ct_1?x=1 HTTP/1.1\r\n', '/v1/contacts/ct_1'],
    ['GET http://h:1/v1/x HTTP/1.1\r\n', '/v1/x'],
    ['GET \\v1\\health HTTP/1.1\r\n', undefined],
    ['\u0016\u0003\u0001', undefined],
  ])('the path sent in %j is %s', (first, path) => {
    expect(sentPath([first])).toBe(path);
  });
});

describe('checks of the stored rows', () => {
  const signUp = {
    user: { userId: 'usr_new' },
    organizations: [{ organizationId: 'org_new', role: 'owner' }],
    token: 'mru_x',
  };
  const before = new Map([
    ['contacts:ct_a', '{"email":"a"}'],
    ['contacts:ct_b', '{"email":"b"}'],
    ['contacts:ct_c', '{"email":"c"}'],
  ]);
  const results = new Map<number, CaseResult>([
    [1, { n: 1, status: 400, elapsedMs: 1, accepted: false, created: [] }],
    [2, { n: 2, status: 200, elapsedMs: 1, accepted: true, created: [] }],
    [3, { n: 3, status: 201, elapsedMs: 1, accepted: true, created: ['contacts:ct_new'] }],
    [4, { n: 4, status: 422, elapsedMs: 1, accepted: false, created: [] }],
    [5, { n: 5, status: 201, elapsedMs: 1, accepted: true, created: createdRows('signUp', signUp, '/auth/signup') }],
    [6, { n: 6, status: 401, elapsedMs: 1, accepted: false, created: [] }],
    [
      7,
      { n: 7, status: 201, elapsedMs: 1, accepted: true, created: ['organizations:org_made', 'memberships:org_made/'] },
    ],
  ]);
  const owners = new Map([
    ['contacts:ct_a', 1],
    ['contacts:ct_b', 2],
    ['users:usr_login', 6],
  ]);
  const assess = (after: Map<string, string>) =>
    assessRows(before, after, owners, results, new Map(), /fz-1-(\d+)/).map((f) => `${f.n ?? '?'} ${f.detail}`);

  test('a row deleted by a refused case is refused-yet-executed; by an accepted case it is not', () => {
    const after = new Map(before);
    after.delete('contacts:ct_a');
    after.delete('contacts:ct_b');
    expect(assess(after)).toEqual(['1 row contacts:ct_a deleted, yet the answer was 400']);
  });

  test('a seeded row nobody aimed at changes: refused-yet-executed, not tied to a case', () => {
    expect(assess(new Map([...before, ['contacts:ct_c', '{"email":"x"}']]))).toEqual([
      '? seeded row contacts:ct_c changed, and no accepted request aimed at it',
    ]);
  });

  test('a new row is fine when an accepted create answered with it, else tied to its case by the marker', () => {
    const after = new Map([...before, ['contacts:ct_new', '{}'], ['contacts:ct_sneaky', '{"email":"fz-1-4@x"}']]);
    expect(assess(after)).toEqual(['4 row contacts:ct_sneaky was created, yet the answer was 422']);
  });

  test('a sign-up creates its user, organization, membership and token; a refused one creates nothing', () => {
    const after = new Map([
      ...before,
      ['users:usr_new', '{"email":"fz-1-5@example.com"}'],
      ['organizations:org_new', '{}'],
      ['memberships:org_new/usr_new', '{}'],
      ['user_tokens:tok_new', '{"user_id":"usr_new"}'],
      ['users:usr_sneaky', '{"email":"fz-1-4@example.com"}'],
      ['organizations:org_made', '{}'],
      ['memberships:org_made/usr_owner', '{}'],
      ['memberships:org_other/usr_owner', '{}'],
    ]);
    expect(assess(after)).toEqual([
      '4 row users:usr_sneaky was created, yet the answer was 422',
      '? row memberships:org_other/usr_owner was created, yet no accepted request created it',
    ]);
  });

  test('a token issued to an account whose log-in was refused is refused-yet-executed, tied to that case', () => {
    expect(assess(new Map([...before, ['user_tokens:tok_x', '{"user_id":"usr_login"}']]))).toEqual([
      '6 row user_tokens:tok_x was created, yet the answer was 401',
    ]);
  });

  test('snapshots compare row by row', () => {
    expect(sameRows(before, new Map(before)).same).toBe(true);
    expect(sameRows(before, new Map([...before, ['contacts:ct_d', '{}']])).differences).toEqual([
      'contacts:ct_d appeared',
    ]);
  });

  test('error lines of the server log are tied to the case whose request id they carry', () => {
    const log = [
      '{"level":30,"msg":"GET /livez 200"}',
      '{"level":50,"requestId":"fz-1-7","msg":"unhandled error","err":{"type":"TypeError","message":"boom"}}',
      'not json',
    ].join('\n');
    expect(loggedErrors(log, (id) => (id === 'fz-1-7' ? 7 : undefined))).toEqual([
      { kind: 'logged-error', n: 7, detail: 'unhandled error — TypeError: boom' },
    ]);
  });
});

describe('the plan', () => {
  test('the same seed plans the same cases; another seed plans others', () => {
    const names = (seed: number) =>
      planCases(spec, classes, { seed, count: 500 }).map((p) => `${p.cls.name} ${p.op.operationId}`);
    expect(names(7)).toEqual(names(7));
    expect(names(8)).not.toEqual(names(7));
  });

  test('a run of 400 sends every class that applies to some operation, and every operation', () => {
    // Every class once, then every operation's valid request: 400 holds them all (both branches' classes and operations).
    const planned = planCases(spec, classes, { seed: 3, count: 400 });
    expect(planned).toHaveLength(400);
    const applicable = classes.filter((cls) => spec.operations.some((op) => cls.applies(op, spec)));
    expect(new Set(planned.map((p) => p.cls))).toEqual(new Set(applicable));
    expect(new Set(planned.map((p) => p.op.operationId)).size).toBe(spec.operations.length);
  });

  test('every group has classes, and schema classes cover every body field and query parameter of the spec', () => {
    for (const group of GROUPS) {
      expect(
        classes.some((cls) => cls.group === group),
        group,
      ).toBe(true);
    }
    const fields = spec.operations.flatMap((op) => [
      ...Object.keys(op.body?.properties ?? {}).map((name) => `body.${name}`),
      ...op.params.filter((p) => p.in === 'query').map((p) => `query.${p.name}`),
    ]);
    for (const field of new Set(fields)) {
      expect(
        classes.some((cls) => cls.name.startsWith(`${field}:`)),
        field,
      ).toBe(true);
    }
  });
});

describe('what the fuzz reads of each operation', () => {
  const of = (operationId: string) => spec.operations.find((op) => op.operationId === operationId);

  test("each operation's credential is its effective security's, as the server reads it", () => {
    const byCredential = (credential: string) =>
      spec.operations.filter((op) => op.credential === credential).map((op) => `${op.method} ${op.path}`);
    expect(byCredential('none').sort()).toEqual(['GET /livez', 'POST /auth/login', 'POST /auth/signup']);
    expect(byCredential('apiKey').every((name) => name.includes(' /v1'))).toBe(true);
    expect(byCredential('userToken').every((name) => /^\w+ \/(auth|organizations)\b/.test(name))).toBe(true);
  });

  test('the row a case aims at: the last path parameter, its organization the caller’s own; log-out and log-in their own', () => {
    expect(of('getOrganizationApiKey')).toMatchObject({ id: { name: 'keyId', kind: 'key' }, scoped: true });
    expect(of('removeMember')).toMatchObject({ id: { name: 'userId', kind: 'member' }, scoped: true });
    expect(of('renameOrganization')).toMatchObject({ id: { kind: 'organization' }, scoped: false });
    expect(of('logOut')).toMatchObject({ id: undefined, row: 'token' });
    expect(of('logIn')).toMatchObject({ id: undefined, row: 'login' });
    expect(of('signUp')?.row).toBeUndefined();
  });

  test('an optional body is known as such', () => {
    expect(of('rotateApiKey')?.bodyRequired).toBe(false);
    expect(of('createContact')?.bodyRequired).toBe(true);
  });
});
