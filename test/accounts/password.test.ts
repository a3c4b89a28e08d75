import { describe, expect, test } from 'vitest';
import { createPasswordHasher, DEFAULT_SCRYPT_COST, type ScryptCost } from '../../src/accounts/password.ts';

// A cheaper cost than the default keeps this file quick; one test hashes at the default to prove it works as stored.
const CHEAP: ScryptCost = { logN: 10, r: 8, p: 1 };
const hasher = createPasswordHasher(CHEAP);
const PHC = /^\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/;

describe('password hashing', () => {
  test('a hash is a PHC scrypt string with its cost, salt and hash, and never contains the password', async () => {
    const stored = await hasher.hash('correct horse battery staple');
    expect(stored).toMatch(PHC);
    expect(stored).not.toContain('correct');
  });

  test('the same password hashes differently each time (a fresh salt) and both verify', async () => {
    const [a, b] = await Promise.all([hasher.hash('same password!'), hasher.hash('same password!')]);
    expect(a).not.toBe(b);
    expect(await hasher.verify('same password!', a)).toBe(true);
    expect(await hasher.verify('same password!', b)).toBe(true);
  });

  test.each([
    { name: 'another password', given: 'same password?' },
    { name: 'the password in other case', given: 'SAME PASSWORD!' },
    { name: 'an empty password', given: '' },
  ])('$name does not verify', async ({ given }) => {
    const stored = await hasher.hash('same password!');
    expect(await hasher.verify(given, stored)).toBe(false);
  });

  test('the same password typed composed or decomposed verifies (NFKC)', async () => {
    const stored = await hasher.hash('caf\u00e9 au lait 2024');
    expect(await hasher.verify('cafe\u0301 au lait 2024', stored)).toBe(true);
  });

  test('no stored hash (an unknown email) never verifies, whatever the password', async () => {
    expect(await hasher.verify('anything at all', null)).toBe(false);
    expect(await hasher.verify('', null)).toBe(false);
  });

  test('a stored value that is not a hash of this server never verifies', async () => {
    expect(await hasher.verify('plain text', 'plain text')).toBe(false);
    expect(await hasher.verify('x', '$scrypt$ln=10,r=8,p=1$$')).toBe(false);
  });

  test('a hash made at another cost still verifies: the cost is read from the stored string', async () => {
    const older = await createPasswordHasher({ logN: 11, r: 8, p: 1 }).hash('kept across upgrades');
    expect(older).toMatch(/^\$scrypt\$ln=11,r=8,p=1\$/);
    expect(await hasher.verify('kept across upgrades', older)).toBe(true);
  });

  test('the default cost is OWASP’s scrypt minimum (2^15, r 8, p 3) and hashes and verifies', async () => {
    expect(DEFAULT_SCRYPT_COST).toEqual({ logN: 15, r: 8, p: 3 });
    const strong = createPasswordHasher();
    const stored = await strong.hash('a long enough password');
    expect(stored).toMatch(/^\$scrypt\$ln=15,r=8,p=3\$/);
    expect(await strong.verify('a long enough password', stored)).toBe(true);
  });
});
