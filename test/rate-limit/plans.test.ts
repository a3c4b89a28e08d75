import { describe, expect, it } from 'vitest';
import {
  DEFAULT_FAILED_AUTH_WINDOW,
  DEFAULT_PLANS,
  PlanConfigError,
  parsePlans,
  validatePlanTable,
  validateWindow,
} from '../../src/rate-limit/plans.ts';

describe('DEFAULT_PLANS', () => {
  it('gives each plan a per-second burst and a per-minute budget', () => {
    expect(DEFAULT_PLANS).toEqual({
      free: {
        windows: [
          { name: 'burst', limit: 10, windowSeconds: 1 },
          { name: 'minute', limit: 100, windowSeconds: 60 },
        ],
      },
      pro: {
        windows: [
          { name: 'burst', limit: 50, windowSeconds: 1 },
          { name: 'minute', limit: 1000, windowSeconds: 60 },
        ],
      },
      enterprise: {
        windows: [
          { name: 'burst', limit: 200, windowSeconds: 1 },
          { name: 'minute', limit: 10000, windowSeconds: 60 },
        ],
      },
    });
  });

  it('allows 20 failed authentications per minute per address', () => {
    expect(DEFAULT_FAILED_AUTH_WINDOW).toEqual({ name: 'auth-failures', limit: 20, windowSeconds: 60 });
  });

  it('passes its own validation', () => {
    expect(validatePlanTable(DEFAULT_PLANS)).toEqual(DEFAULT_PLANS);
    expect(validateWindow(DEFAULT_FAILED_AUTH_WINDOW)).toEqual(DEFAULT_FAILED_AUTH_WINDOW);
  });
});

describe('parsePlans', () => {
  it('replaces the named plans and keeps the other defaults', () => {
    const plans = parsePlans('{"pro":{"windows":[{"name":"burst","limit":5,"windowSeconds":1}]}}');
    expect(plans.pro).toEqual({ windows: [{ name: 'burst', limit: 5, windowSeconds: 1 }] });
    expect(plans.free).toEqual(DEFAULT_PLANS.free);
    expect(plans.enterprise).toEqual(DEFAULT_PLANS.enterprise);
  });

  it('adds new plans', () => {
    const plans = parsePlans('{"startup":{"windows":[{"name":"hour","limit":5000,"windowSeconds":3600}]}}');
    expect(Object.keys(plans).sort()).toEqual(['enterprise', 'free', 'pro', 'startup']);
  });

  it('replaces the whole table when the base is empty', () => {
    const plans = parsePlans('{"solo":{"windows":[{"name":"minute","limit":1,"windowSeconds":60}]}}', {});
    expect(plans).toEqual({ solo: { windows: [{ name: 'minute', limit: 1, windowSeconds: 60 }] } });
  });

  it('does not modify the defaults', () => {
    parsePlans('{"free":{"windows":[{"name":"minute","limit":1,"windowSeconds":60}]}}');
    expect(DEFAULT_PLANS.free?.windows).toHaveLength(2);
  });

  const burst = (fields: Record<string, unknown>) =>
    JSON.stringify({ pro: { windows: [{ name: 'burst', limit: 50, windowSeconds: 1, ...fields }] } });

  it.each([
    ['not JSON', '{pro:', /^MAILROOM_PLANS: invalid JSON: /],
    ['a JSON array', '[]', 'MAILROOM_PLANS: must be a JSON object of plans by name, e.g. {"pro":{"windows":[...]}}'],
    [
      'a zero limit',
      burst({ limit: 0 }),
      'MAILROOM_PLANS: plan "pro" window "burst": limit must be a positive integer',
    ],
    [
      'a fractional limit',
      burst({ limit: 2.5 }),
      'MAILROOM_PLANS: plan "pro" window "burst": limit must be a positive integer',
    ],
    [
      'a string limit',
      burst({ limit: '50' }),
      'MAILROOM_PLANS: plan "pro" window "burst": limit must be a positive integer',
    ],
    [
      'a sub-second window',
      burst({ windowSeconds: 0.5 }),
      'MAILROOM_PLANS: plan "pro" window "burst": windowSeconds must be a positive integer',
    ],
    [
      'a missing limit',
      JSON.stringify({ pro: { windows: [{ name: 'burst', windowSeconds: 1 }] } }),
      'MAILROOM_PLANS: plan "pro" window "burst": limit is required',
    ],
    [
      'an unknown window field',
      burst({ points: 50 }),
      'MAILROOM_PLANS: plan "pro" window "burst": unknown field "points" (expected name, limit, windowSeconds)',
    ],
    [
      'a window without a name',
      JSON.stringify({ pro: { windows: [{ limit: 1, windowSeconds: 1 }] } }),
      'MAILROOM_PLANS: plan "pro" window #1: name is required',
    ],
    [
      'a window name with a quote',
      burst({ name: 'bu"rst' }),
      /^MAILROOM_PLANS: plan "pro" window "bu"rst": name must be 1-64 characters/,
    ],
    ['a reserved window name', burst({ name: 'key' }), 'MAILROOM_PLANS: plan "pro" window "key": name is reserved'],
    [
      'a window name used twice',
      JSON.stringify({
        pro: {
          windows: [
            { name: 'burst', limit: 1, windowSeconds: 1 },
            { name: 'burst', limit: 2, windowSeconds: 2 },
          ],
        },
      }),
      'MAILROOM_PLANS: plan "pro" window "burst": name is used twice in this plan',
    ],
    ['a plan without windows', '{"pro":{}}', 'MAILROOM_PLANS: plan "pro": windows is required'],
    [
      'a plan with no window',
      '{"pro":{"windows":[]}}',
      'MAILROOM_PLANS: plan "pro": windows must list at least one window',
    ],
    [
      'an unknown plan field',
      '{"pro":{"windows":[{"name":"burst","limit":1,"windowSeconds":1}],"burst":5}}',
      'MAILROOM_PLANS: plan "pro": unknown field "burst" (expected windows)',
    ],
    ['a plan that is not an object', '{"pro":5}', /^MAILROOM_PLANS: plan "pro": /],
    [
      'a plan name with a colon',
      '{"pro:x":{"windows":[{"name":"burst","limit":1,"windowSeconds":1}]}}',
      /^MAILROOM_PLANS: plan "pro:x": name must be 1-64 characters/,
    ],
  ])('refuses %s with a one-line message', (_case, json, message) => {
    let caught: unknown;
    try {
      parsePlans(json);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PlanConfigError);
    const text = (caught as Error).message;
    expect(text).not.toContain('\n');
    if (typeof message === 'string') {
      expect(text).toBe(message);
    } else {
      expect(text).toMatch(message);
    }
  });

  it('names the configuration source in its messages', () => {
    expect(() => parsePlans('{"pro":{"windows":[]}}', DEFAULT_PLANS, 'plans.json')).toThrow(/^plans\.json: plan "pro"/);
  });
});
