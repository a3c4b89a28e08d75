import pg from 'pg';

/** The machine's PostgreSQL for tests (trust auth, database `test`); override with MAILROOM_TEST_DATABASE_URL. */
export const PG_URL = process.env.MAILROOM_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Runs `fn` on a direct admin connection to PostgreSQL (never through a relay), closing it afterwards. */
export async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
