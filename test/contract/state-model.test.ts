// The passive state model on hand-made exchanges: what it must flag, and (as much) what it must leave alone because
// it cannot be sure (requests side by side, a window that may have reset, a credential it never saw issued).
import { beforeAll, describe, expect, it } from 'vitest';
import type { SeenExchange } from '../../src/contract/observer.ts';
import { BUNDLED_SPEC, readSpec } from '../../src/contract/spec.ts';
import { readStateRules, StateModel, type StateRules } from '../../src/contract/state/index.ts';

let rules: StateRules;
beforeAll(async () => {
  rules = readStateRules(await readSpec(BUNDLED_SPEC));
});

const ADMIN = 'mr_admin000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const FRESH = 'mr_fresh000_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';

function limited(remaining: number, reset = 50): Record<string, string> {
  return {
    'x-ratelimit-limit': '100',
    'x-ratelimit-remaining': String(remaining),
    'x-ratelimit-reset': String(reset),
    'ratelimit-policy': '"key";q=100;w=60',
    ratelimit: `"key";r=${remaining};t=${reset}`,
  };
}

function exchange(partial: Partial<SeenExchange> & { method: string; url: string }): SeenExchange {
  const json = partial.json;
  return {
    requestId: 'r',
    requestHeaders: {},
    requestBody: '',
    status: 200,
    headers: {},
    body: json === undefined ? '' : JSON.stringify(json),
    json,
    ...partial,
  };
}

/** Sends one exchange through the model, alone on the wire. */
function one(model: StateModel, seen: SeenExchange) {
  const ticket = model.watcher.begin(seen.method, seen.url);
  return model.watcher.end(ticket, seen).map((f) => f.check);
}

/** A model that saw FRESH issued (key_fresh0000000000). */
function withFreshKey(): StateModel {
  const model = new StateModel(rules);
  one(
    model,
    exchange({
      method: 'POST',
      url: '/v1/api-keys',
      status: 201,
      requestHeaders: { 'x-api-key': ADMIN },
      json: { data: { keyId: 'key_fresh0000000000', apiKey: FRESH, keyPrefix: 'mr_fresh000_****' } },
    }),
  );
  return model;
}

describe('counter', () => {
  it('flags a count that does not fall between two lone requests, and accepts one that falls by one', () => {
    const model = withFreshKey();
    const get = (remaining: number) =>
      exchange({
        method: 'GET',
        url: '/v1/contacts',
        requestHeaders: { 'x-api-key': FRESH },
        headers: limited(remaining),
      });
    expect(one(model, get(50))).toEqual([]);
    expect(one(model, get(49))).toEqual([]);
    expect(one(model, get(49))).toEqual(['counter']);
    expect(model.tally.counter).toBe(2);
  });

  it('expects a peek (x-rate-limit: peek) not to count', () => {
    const model = withFreshKey();
    const send = (url: string, remaining: number) =>
      one(model, exchange({ method: 'GET', url, requestHeaders: { 'x-api-key': FRESH }, headers: limited(remaining) }));
    expect(send('/v1/contacts', 50)).toEqual([]);
    expect(send('/v1/rate-limit', 50)).toEqual([]);
    expect(send('/v1/rate-limit', 49)).toEqual(['counter']);
  });

  it('does not judge requests that overlapped, nor a window about to reset', () => {
    const model = withFreshKey();
    const seen = (remaining: number, reset = 50) =>
      exchange({
        method: 'GET',
        url: '/v1/contacts',
        requestHeaders: { 'x-api-key': FRESH },
        headers: limited(remaining, reset),
      });
    // Side by side: the second starts before the first answers.
    const a = model.watcher.begin('GET', '/v1/contacts');
    const b = model.watcher.begin('GET', '/v1/contacts');
    expect(model.watcher.end(a, seen(50))).toEqual([]);
    expect(model.watcher.end(b, seen(50))).toEqual([]);
    // The window was announced to reset within a second: the next count may be a new window's.
    expect(one(model, seen(40, 1))).toEqual([]);
    expect(one(model, seen(99))).toEqual([]);
    expect(model.tally.counter).toBe(0);
  });

  it('judges across a lone 401 (refused before it was counted): it must not take from the count', () => {
    const model = withFreshKey();
    const send = (status: number, remaining: number) =>
      one(
        model,
        exchange({
          method: 'GET',
          url: '/v1/contacts',
          status,
          requestHeaders: { 'x-api-key': status === 401 ? 'mr_wrong000_X' : FRESH },
          headers: limited(remaining),
        }),
      );
    expect(send(200, 50)).toEqual([]);
    expect(send(401, 19)).toEqual([]);
    expect(send(200, 48)).toEqual(['counter']);
  });

  it('ignores a refused request (401, 429) between two counted ones', () => {
    const model = withFreshKey();
    const send = (status: number, remaining: number) =>
      one(
        model,
        exchange({
          method: 'GET',
          url: '/v1/contacts',
          status,
          requestHeaders: { 'x-api-key': FRESH },
          headers: limited(remaining),
        }),
      );
    expect(send(200, 50)).toEqual([]);
    expect(send(401, 20)).toEqual([]);
    expect(send(200, 49)).toEqual([]);
  });
});

describe('state-header', () => {
  it('flags Deprecation on a key the run saw issued and never rotated, but not on a key it knows nothing of', () => {
    const model = withFreshKey();
    const deprecated = { deprecation: '@1795343400', sunset: 'Mon, 23 Nov 2026 10:30:00 GMT' };
    expect(
      one(
        model,
        exchange({ method: 'GET', url: '/v1/rate-limit', requestHeaders: { 'x-api-key': ADMIN }, headers: deprecated }),
      ),
    ).toEqual([]);
    expect(
      one(
        model,
        exchange({ method: 'GET', url: '/v1/rate-limit', requestHeaders: { 'x-api-key': FRESH }, headers: deprecated }),
      ),
    ).toEqual(['state-header']);
  });

  it('expects Deprecation on a key inside its rotation grace', () => {
    const model = withFreshKey();
    one(
      model,
      exchange({
        method: 'POST',
        url: '/v1/api-keys/key_fresh0000000000/rotate',
        status: 201,
        requestHeaders: { 'x-api-key': ADMIN },
        json: {
          data: {
            keyId: 'key_next00000000000',
            apiKey: 'mr_next0000_CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC',
            keyPrefix: 'mr_next0000_****',
            previousKey: { keyId: 'key_fresh0000000000', expirationTs: new Date(Date.now() + 3_600_000).toISOString() },
          },
        },
      }),
    );
    expect(
      one(model, exchange({ method: 'GET', url: '/v1/rate-limit', requestHeaders: { 'x-api-key': FRESH } })),
    ).toEqual(['state-header']);
  });

  it('flags Idempotent-Replayed without an Idempotency-Key, and not a replay of a request made before the run', () => {
    const model = withFreshKey();
    const replayed = { 'idempotent-replayed': 'true' };
    expect(
      one(
        model,
        exchange({
          method: 'POST',
          url: '/v1/contacts',
          status: 201,
          requestHeaders: { 'x-api-key': ADMIN },
          headers: replayed,
        }),
      ),
    ).toEqual(['state-header']);
    // The caller's own key may have sent this Idempotency-Key in an earlier run: a replay is possible.
    expect(
      one(
        model,
        exchange({
          method: 'POST',
          url: '/v1/contacts',
          status: 201,
          requestHeaders: { 'x-api-key': ADMIN, 'idempotency-key': 'k1' },
          headers: replayed,
        }),
      ),
    ).toEqual([]);
    // A key issued in this run has no such past.
    expect(
      one(
        model,
        exchange({
          method: 'POST',
          url: '/v1/contacts',
          status: 201,
          requestHeaders: { 'x-api-key': FRESH, 'idempotency-key': 'k1' },
          headers: replayed,
        }),
      ),
    ).toEqual(['state-header']);
  });

  it('flags Retry-After outside 429, 503 and 409 IDEMPOTENCY_KEY_IN_USE', () => {
    const model = new StateModel(rules);
    const after = { 'retry-after': '3' };
    expect(one(model, exchange({ method: 'GET', url: '/v1/health', status: 503, headers: after }))).toEqual([]);
    expect(
      one(
        model,
        exchange({
          method: 'POST',
          url: '/v1/contacts',
          status: 409,
          headers: after,
          json: { error: { code: 'IDEMPOTENCY_KEY_IN_USE' } },
        }),
      ),
    ).toEqual([]);
    expect(
      one(
        model,
        exchange({
          method: 'POST',
          url: '/v1/contacts',
          status: 409,
          headers: after,
          json: { error: { code: 'DUPLICATE_RESOURCE' } },
        }),
      ),
    ).toEqual(['state-header']);
  });
});

describe('secret-exposure and read-after-write', () => {
  it('allows the secret in its answer and its replay, and flags it (or its tail past the mask) anywhere later', () => {
    const model = new StateModel(rules);
    const create = exchange({
      method: 'POST',
      url: '/v1/api-keys',
      status: 201,
      requestHeaders: { 'x-api-key': ADMIN, 'idempotency-key': 'k2' },
      json: { data: { keyId: 'key_fresh0000000000', apiKey: FRESH, keyPrefix: 'mr_fresh000_****' } },
    });
    expect(one(model, create)).toEqual([]);
    expect(one(model, { ...create, headers: { 'idempotent-replayed': 'true' } })).toEqual([]);
    expect(
      one(model, exchange({ method: 'GET', url: '/v1/api-keys', json: { data: [{ keyPrefix: 'mr_fresh000_****' }] } })),
    ).toEqual([]);
    expect(
      one(model, exchange({ method: 'GET', url: '/v1/api-keys', json: { data: [{ note: 'mr_fresh000_BBBB' }] } })),
    ).toEqual(['secret-exposure']);
  });

  it("flags a deleted thing read back, but not the same user in another organization's members", () => {
    const model = new StateModel(rules);
    one(model, exchange({ method: 'DELETE', url: '/organizations/org_a/members/usr_1' }));
    expect(
      one(
        model,
        exchange({ method: 'GET', url: '/organizations/org_b/members', json: { data: [{ userId: 'usr_1' }] } }),
      ),
    ).toEqual([]);
    expect(
      one(
        model,
        exchange({ method: 'GET', url: '/organizations/org_a/members', json: { data: [{ userId: 'usr_1' }] } }),
      ),
    ).toEqual(['read-after-write']);
  });
});
