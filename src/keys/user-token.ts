import { credentialFormat, type ParsedCredential } from './credential.ts';

/** Every user token starts with this: distinct from API keys (`mr_`), so neither is mistaken for the other. */
export const USER_TOKEN_PREFIX = 'mru';

/** A user token's text, as the generated types have it: `mru_<public id>_<secret>`. */
export type UserTokenText = `${typeof USER_TOKEN_PREFIX}_${string}`;

const USER_TOKEN = credentialFormat(USER_TOKEN_PREFIX);

/** Creates a new user token: `mru_<8-char public id>_<32 random base62><6-char checksum>`. */
export function generateUserToken(): { plaintext: UserTokenText; publicId: string } {
  return USER_TOKEN.generate();
}

/** Checks a presented user token's shape and checksum without touching storage. */
export function parseUserToken(raw: string): ParsedCredential<typeof USER_TOKEN_PREFIX> {
  return USER_TOKEN.parse(raw);
}

/** Matches a user token anywhere in a text (used to redact tokens from logs). */
export const USER_TOKEN_IN_TEXT = USER_TOKEN.inText;

export { hashCredential as hashUserToken, verifyCredential as verifyUserToken } from './credential.ts';
