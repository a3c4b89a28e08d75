// The errors the store throws, each named where the database reports it: nothing above the store reads SQLSTATEs.

/** Another contact of the organization already has this email (compared without case). */
export class DuplicateEmailError extends Error {
  override readonly name = 'DuplicateEmailError';
  /** The email as the caller gave it. */
  readonly email: string;

  constructor(email: string, options?: ErrorOptions) {
    super(`A contact with email ${email} already exists`, options);
    this.email = email;
  }
}

/**
 * The database refused a value as data (SQLSTATE class 22: NUL in text, an invalid byte sequence, a timestamp or
 * number out of range): the input was invalid, not the store.
 */
export class InvalidValueError extends Error {
  override readonly name = 'InvalidValueError';
  /** The SQLSTATE the database reported. */
  readonly sqlState: string;

  constructor(sqlState: string, options?: ErrorOptions) {
    super(
      sqlState === '22021' || sqlState === '22P05'
        ? 'must not contain the NUL character (U+0000) or invalid UTF-8'
        : 'is out of the range the database can store',
      options,
    );
    this.sqlState = sqlState;
  }
}

/** The organization already holds as many active keys as it may. */
export class KeyLimitError extends Error {
  override readonly name = 'KeyLimitError';
  readonly limit: number;

  constructor(limit: number) {
    super(`This organization already has ${limit} active API keys, the most it may hold: revoke one first`);
    this.limit = limit;
  }
}

/** Another user already signed up with this email (compared without case). */
export class DuplicateUserError extends Error {
  override readonly name = 'DuplicateUserError';

  constructor(options?: ErrorOptions) {
    super('An account with this email already exists', options);
  }
}

/** The user is already a member of the organization. */
export class DuplicateMemberError extends Error {
  override readonly name = 'DuplicateMemberError';

  constructor(email: string, options?: ErrorOptions) {
    super(`${email} is already a member of this organization`, options);
  }
}

/** The change would leave an organization without an owner. */
export class LastOwnerError extends Error {
  override readonly name = 'LastOwnerError';

  constructor(options?: ErrorOptions) {
    super('An organization must keep at least one owner: make another member owner first', options);
  }
}

/** A key with this keyId or publicId already exists: the caller should generate new ids and retry. */
export class DuplicateApiKeyError extends Error {
  override readonly name = 'DuplicateApiKeyError';
}

/** The database cannot be reached in time (refused, reset, timed out, pool exhausted, closed). */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}
