import { describe, expect, test } from 'vitest';
import { hrefOf, parseRoute, type Route } from '../../src/console/router.ts';
import { formatMinutes, formatRelative, formatWait } from '../../src/console/ui/format.ts';

describe('the console’s routes (the hash of /console#/…)', () => {
  test.each<[string, Route]>([
    ['', { name: 'home' }],
    ['#/', { name: 'home' }],
    ['#/login', { name: 'login' }],
    ['#/signup', { name: 'signup' }],
    [
      '#/organizations/org_7d3e9a1c5b2f8e40/keys',
      { name: 'organization', organizationId: 'org_7d3e9a1c5b2f8e40', section: 'keys' },
    ],
    [
      '#/organizations/org_7d3e9a1c5b2f8e40',
      { name: 'organization', organizationId: 'org_7d3e9a1c5b2f8e40', section: '' },
    ],
    [
      '#/organizations/org_7d3e9a1c5b2f8e40/usage/key_4f7a2c9d1e0b3a68',
      { name: 'organization', organizationId: 'org_7d3e9a1c5b2f8e40', section: 'usage', item: 'key_4f7a2c9d1e0b3a68' },
    ],
    ['#/account/profile', { name: 'account', section: 'profile' }],
    ['#/organizations', { name: 'home' }],
    ['#/nowhere/at/all', { name: 'home' }],
  ])('%j is %j', (hash, route) => {
    expect(parseRoute(hash)).toEqual(route);
  });

  test.each<Route>([
    { name: 'login' },
    { name: 'signup' },
    { name: 'home' },
    { name: 'organization', organizationId: 'org_7d3e9a1c5b2f8e40', section: 'settings' },
    { name: 'organization', organizationId: 'org_7d3e9a1c5b2f8e40', section: 'usage', item: 'key_4f7a2c9d1e0b3a68' },
    { name: 'account', section: 'profile' },
  ])('hrefOf(%j) reads back as the same route', (route) => {
    expect(parseRoute(hrefOf(route))).toEqual(route);
  });

  test('an id with characters a path can’t hold is escaped and read back', () => {
    const route: Route = { name: 'organization', organizationId: 'org/../x y', section: 'keys' };
    expect(hrefOf(route)).toBe('#/organizations/org%2F..%2Fx%20y/keys');
    expect(parseRoute(hrefOf(route))).toEqual(route);
  });
});

describe('waits and grace periods in words', () => {
  test.each([
    [1, '1 second'],
    [45, '45 seconds'],
    [89, '89 seconds'],
    [90, '2 minutes'],
    [899, '15 minutes'],
    [900, '15 minutes'],
    [5400, '2 hours'],
  ])('a wait of %i s is "%s"', (seconds, words) => {
    expect(formatWait(seconds)).toBe(words);
  });

  test.each([
    [0, 'none: the old key stops at once'],
    [1, '1 minute'],
    [90, '90 minutes'],
    [60, '1 hour'],
    [1440, '24 hours'],
    [10080, '7 days'],
  ])('a grace period of %i minutes is "%s"', (minutes, words) => {
    expect(formatMinutes(minutes)).toBe(words);
  });

  test.each([
    [5_400, 'in 90 minutes'],
    [7_200, 'in 2 hours'],
    [-60, '1 minute ago'],
    [-30, '30 seconds ago'],
    [89 * 86_400 + 3_600, 'in 89 days'],
    [86_400, 'in 24 hours'],
  ])('a moment %i s away is "%s"', (seconds, words) => {
    const now = Date.parse('2026-03-01T12:00:00Z');
    expect(formatRelative(new Date(now + seconds * 1000).toISOString(), now)).toBe(words);
  });
});
