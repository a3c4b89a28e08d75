import { describe, expect, test } from 'vitest';
import { API_KEY_IN_TEXT, generateApiKey, parseApiKey } from '../../src/keys/api-key.ts';
import {
  generateUserToken,
  hashUserToken,
  parseUserToken,
  USER_TOKEN_IN_TEXT,
  verifyUserToken,
} from '../../src/keys/user-token.ts';

const SPEC_PATTERN = /^mru_[a-z0-9]{8}_[A-Za-z0-9]{38}$/;

describe('user token format', () => {
  test('a generated token matches the pattern the spec documents and parses back to its public id', () => {
    for (let i = 0; i < 200; i++) {
      const { plaintext, publicId } = generateUserToken();
      expect(plaintext).toMatch(SPEC_PATTERN);
      expect(parseUserToken(plaintext)).toEqual({ ok: true, publicId, plaintext });
    }
  });

  test('generated tokens do not repeat', () => {
    expect(new Set(Array.from({ length: 1000 }, () => generateUserToken().plaintext)).size).toBe(1000);
  });

  const token = generateUserToken().plaintext;
  const key = generateApiKey().plaintext;
  const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'a' ? 'b' : 'a') + s.slice(i + 1);
  test.each([
    { name: 'an API key', given: key, want: 'malformed' },
    { name: 'truncated', given: token.slice(0, -1), want: 'malformed' },
    { name: 'with an API key’s prefix', given: token.replace(/^mru_/, 'mr_'), want: 'malformed' },
    { name: 'one secret character mistyped', given: flip(token, 21), want: 'checksum' },
    { name: 'public id mistyped', given: flip(token, 6), want: 'checksum' },
  ])('a token that is $name is refused as $want', ({ given, want }) => {
    expect(parseUserToken(given)).toEqual({ ok: false, problem: want });
  });

  test('an API key never parses as a user token, nor a user token as an API key', () => {
    for (let i = 0; i < 50; i++) {
      expect(parseUserToken(generateApiKey().plaintext).ok).toBe(false);
      expect(parseApiKey(generateUserToken().plaintext).ok).toBe(false);
    }
  });

  test('the redaction patterns tell the two apart: each finds its own kind only', () => {
    const text = `key ${key} token ${token}`;
    expect(text.match(API_KEY_IN_TEXT)).toEqual([key]);
    expect(text.match(USER_TOKEN_IN_TEXT)).toEqual([token]);
  });

  test('the stored hash verifies only the same token under the same server secret', () => {
    const hash = hashUserToken(token, 'secret-a');
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(verifyUserToken(token, hash, 'secret-a')).toBe(true);
    expect(verifyUserToken(token, hash, 'secret-b')).toBe(false);
    expect(verifyUserToken(generateUserToken().plaintext, hash, 'secret-a')).toBe(false);
  });
});
