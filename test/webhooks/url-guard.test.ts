import { describe, expect, test } from 'vitest';
import { isPrivateAddress, urlProblem } from '../../src/webhooks/url-guard.ts';

// Which addresses a webhook may not reach, and what a URL is refused for, as tables.

describe('isPrivateAddress', () => {
  test.each([
    ['127.0.0.1', true],
    ['127.255.255.254', true],
    ['10.1.2.3', true],
    ['172.16.0.1', true],
    ['172.31.255.255', true],
    ['172.32.0.1', false],
    ['192.168.0.1', true],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['0.0.0.0', true],
    ['224.0.0.1', true],
    ['255.255.255.255', true],
    ['93.184.215.14', false],
    ['8.8.8.8', false],
    ['::1', true],
    ['::', true],
    ['fe80::1', true],
    ['fd12:3456::1', true],
    ['ff02::1', true],
    ['::ffff:127.0.0.1', true],
    ['::ffff:10.0.0.1', true],
    ['::ffff:93.184.215.14', false],
    ['2606:4700::6810:84e5', false],
    ['not an address', true],
  ])('%s → %s', (address, blocked) => {
    expect(isPrivateAddress(address)).toBe(blocked);
  });
});

describe('urlProblem', () => {
  const publicOnly = { allowPrivate: false, resolve: async () => ['93.184.215.14'] };
  const anything = { allowPrivate: true };
  test.each([
    ['https://hooks.example.com/in', publicOnly, undefined],
    ['https://93.184.215.14:8443/in?x=1', publicOnly, undefined],
    ['http://hooks.example.com/in', publicOnly, 'must be an https URL'],
    ['http://127.0.0.1:9/in', anything, undefined],
    ['https://u:p@127.0.0.1/in', anything, 'must not carry credentials (user:password@)'],
    ['https://u@hooks.example.com/in', publicOnly, 'must not carry credentials (user:password@)'],
    ['ftp://hooks.example.com/in', anything, 'must be an https URL'],
    ['/relative/path', anything, 'must be an absolute URL'],
    ['https://hooks.example.com/in#frag', publicOnly, 'must not have a fragment'],
    [`https://hooks.example.com/${'a'.repeat(2048)}`, publicOnly, 'must be at most 2048 characters'],
  ] as const)('%s', async (url, policy, problem) => {
    expect(await urlProblem(url, policy)).toBe(problem);
  });
});
