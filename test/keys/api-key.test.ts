import { describe, expect, test } from 'vitest';
import { crc32, generateApiKey, hashApiKey, maskApiKey, parseApiKey, verifyApiKey } from '../../src/keys/api-key.ts';

const SPEC_PATTERN = /^mr_[a-z0-9]{8}_[A-Za-z0-9]{38}$/;

describe('api key format', () => {
  test('a generated key matches the pattern the spec documents and parses back to its public id', () => {
    for (let i = 0; i < 200; i++) {
      const { plaintext, publicId } = generateApiKey();
      expect(plaintext).toMatch(SPEC_PATTERN);
      expect(parseApiKey(plaintext)).toEqual({ ok: true, publicId, plaintext });
    }
  });

  test('generated keys do not repeat', () => {
    const keys = new Set(Array.from({ length: 1000 }, () => generateApiKey().plaintext));
    expect(keys.size).toBe(1000);
  });

  test('crc32 matches the IEEE reference value', () => {
    expect(crc32('123456789')).toBe(0xcbf43926);
    expect(crc32('')).toBe(0);
  });

  const valid = generateApiKey().plaintext;
  const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'a' ? 'b' : 'a') + s.slice(i + 1);
  test.each([
    { name: 'empty', given: '', want: 'malformed' },
    { name: 'another vendor prefix', given: valid.replace(/^mr_/, 'mk_'), want: 'malformed' },
    { name: 'truncated', given: valid.slice(0, -1), want: 'malformed' },
    { name: 'extra character', given: `${valid}x`, want: 'malformed' },
    {
      name: 'upper-case public id',
      given: valid.slice(0, 3) + valid.slice(3, 11).toUpperCase() + valid.slice(11),
      want: 'malformed',
    },
    { name: 'surrounding whitespace', given: ` ${valid}`, want: 'malformed' },
    { name: 'one secret character mistyped', given: flip(valid, 20), want: 'checksum' },
    { name: 'public id mistyped', given: flip(valid, 5), want: 'checksum' },
    { name: 'checksum mistyped', given: flip(valid, valid.length - 1), want: 'checksum' },
  ])('a key that is $name is refused as $want', ({ given, want }) => {
    expect(parseApiKey(given)).toEqual({ ok: false, problem: want });
  });

  test('the stored hash verifies only the same key under the same server secret', () => {
    const { plaintext } = generateApiKey();
    const hash = hashApiKey(plaintext, 'secret-a');
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).not.toContain(plaintext);
    expect(verifyApiKey(plaintext, hash, 'secret-a')).toBe(true);
    expect(verifyApiKey(plaintext, hash, 'secret-b')).toBe(false);
    expect(verifyApiKey(generateApiKey().plaintext, hash, 'secret-a')).toBe(false);
    expect(verifyApiKey(plaintext, 'abcd', 'secret-a')).toBe(false);
  });

  test('the masked form shows the public id and hides the secret', () => {
    expect(maskApiKey('a1b2c3d4')).toBe('mr_a1b2c3d4_****');
    expect(maskApiKey('a1b2c3d4')).toMatch(/^mr_[a-z0-9]{8}_\*{4}$/);
  });
});
