import { PASSWORD_LENGTH } from './password.ts';

// NIST SP 800-63B §3.1.1.2 asks a verifier to refuse passwords found on lists of commonly used or breached passwords.
// The list is the `passwords-common` dictionary of @zxcvbn-ts/language-common (MIT, maintained with zxcvbn-ts): the
// 49,233 most common passwords of public breach corpora, shipped in the npm package, so the check needs no network and
// no file of ours. Only entries of at least PASSWORD_LENGTH.min characters can ever match (shorter passwords are
// refused by length first), so only those are kept: about 1,560.

/** Why a password is refused as too easy to guess, by cause. */
export type WeakPasswordCause = 'common' | 'email';

let commonPasswords: Promise<ReadonlySet<string>> | undefined;

/** A password as it is compared: NFKC (as it is hashed) and lower-cased, so `Password123` is `password123`. */
function comparable(password: string): string {
  return password.normalize('NFKC').toLowerCase();
}

/** The list, loaded on first use (about 40 ms, beside a 100-300 ms scrypt hash) and kept; start-up never pays for it. */
function loadCommonPasswords(): Promise<ReadonlySet<string>> {
  commonPasswords ??= import('@zxcvbn-ts/language-common').then(({ dictionary }) => {
    const long = dictionary['passwords-common'].filter((entry) => Array.from(entry).length >= PASSWORD_LENGTH.min);
    return new Set(long.map(comparable));
  });
  // A failed load (it can't, short of a broken install) is tried again by the next check rather than kept.
  commonPasswords.catch(() => {
    commonPasswords = undefined;
  });
  return commonPasswords;
}

/**
 * Why `password` is too easy to guess for an account with `email`, or undefined when it is not: on the common-password
 * list (in any case), or the email itself or its local part (context-specific words, as NIST also asks).
 */
export async function weakPasswordCause(password: string, email?: string): Promise<WeakPasswordCause | undefined> {
  const candidate = comparable(password);
  if (email !== undefined) {
    const address = comparable(email);
    if (candidate === address || candidate === address.slice(0, address.lastIndexOf('@'))) {
      return 'email';
    }
  }
  return (await loadCommonPasswords()).has(candidate) ? 'common' : undefined;
}
