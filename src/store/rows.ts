// What every SQL module of the store needs to read rows and driver errors, written once.

// Both drivers parse timestamptz into Date; this only guards against a process-wide pg type parser override.
/** A timestamp column as a Date. */
export function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}

/** A nullable timestamp column as a Date or null. */
export function toDateOrNull(value: Date | string | null): Date | null {
  return value === null ? null : toDate(value);
}

/** The one row of a statement that always returns exactly one (INSERT ... RETURNING, count(*)). */
export function single<T>(rows: T[]): T {
  const row = rows[0];
  if (row === undefined) {
    throw new Error('expected one row, got none');
  }
  return row;
}

/** SQLSTATE of a driver error (PGlite and pg errors both carry `code`), or ''. */
export function sqlStateOf(err: unknown): string {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : '';
}

/** True when `err` is a unique violation (SQLSTATE 23505) of `index` (or one of them), named by the constraint. */
export function isUniqueViolation(err: unknown, index: string | ReadonlySet<string>): boolean {
  const constraint = typeof err === 'object' && err !== null ? (err as { constraint?: unknown }).constraint : undefined;
  if (sqlStateOf(err) !== '23505' || typeof constraint !== 'string') {
    return false;
  }
  return typeof index === 'string' ? constraint === index : index.has(constraint);
}
