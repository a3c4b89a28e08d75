import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * scrypt's cost: N = 2^logN (CPU and memory), block size r, parallelism p. Memory per hash is 128 × N × r bytes.
 * The default, logN 15 / r 8 / p 3 (32 MiB, about 0.1–0.3 s on one core), is one of the equivalent minimums of the
 * OWASP Password Storage Cheat Sheet; it is written into every stored hash, so raising it later keeps old hashes
 * verifiable.
 */
export interface ScryptCost {
  logN: number;
  r: number;
  p: number;
}

/** The cost of new hashes unless the server is given another (tests use a cheaper one to run quickly). */
export const DEFAULT_SCRYPT_COST: ScryptCost = { logN: 15, r: 8, p: 3 };

/** Password length policy, in characters (Unicode code points): long enough to resist guessing, short enough to hash. */
export const PASSWORD_LENGTH = { min: 10, max: 256 } as const;

const SALT_BYTES = 16;
const HASH_BYTES = 32;
const PHC = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

/** Hashes and checks passwords. Runs on libuv's thread pool (node's scrypt), never on the event loop. */
export interface PasswordHasher {
  /** A PHC-style string `$scrypt$ln=…,r=…,p=…$<salt>$<hash>` with a fresh random salt. */
  hash(password: string): Promise<string>;
  /**
   * Whether `password` matches `stored`. With `stored` null (no such user) it hashes against a dummy of the same cost
   * and answers false, so an unknown email takes as long as a wrong password.
   */
  verify(password: string, stored: string | null): Promise<boolean>;
}

function derive(password: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  const N = 2 ** cost.logN;
  const options: ScryptOptions = { N, r: cost.r, p: cost.p, maxmem: 256 * N * cost.r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    // NFKC first: the same password typed on another keyboard or OS (composed or decomposed accents) still matches.
    scrypt(password.normalize('NFKC'), salt, HASH_BYTES, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

const b64 = (bytes: Buffer) => bytes.toString('base64').replace(/=+$/, '');

/** Creates a hasher making new hashes at `cost`. */
export function createPasswordHasher(cost: ScryptCost = DEFAULT_SCRYPT_COST): PasswordHasher {
  const hash = async (password: string) => {
    const salt = randomBytes(SALT_BYTES);
    const key = await derive(password, salt, cost);
    return `$scrypt$ln=${cost.logN},r=${cost.r},p=${cost.p}$${b64(salt)}$${b64(key)}`;
  };
  // Made once, up front, so the first log-in with an unknown email does not pay for it (and stand out by it).
  const dummy = hash(randomBytes(32).toString('base64'));
  dummy.catch(() => {});

  return {
    hash,
    async verify(password, stored) {
      const phc = PHC.exec(stored ?? (await dummy));
      if (!phc) {
        // Not a hash this server made: compare against the dummy anyway, so the answer takes the usual time.
        await verifyAgainst(password, PHC.exec(await dummy));
        return false;
      }
      const matches = await verifyAgainst(password, phc);
      return stored !== null && matches;
    },
  };
}

async function verifyAgainst(password: string, phc: RegExpExecArray | null): Promise<boolean> {
  if (!phc) {
    return false;
  }
  const [, logN, r, p, salt, expected] = phc;
  const want = Buffer.from(expected as string, 'base64');
  const got = await derive(password, Buffer.from(salt as string, 'base64'), {
    logN: Number(logN),
    r: Number(r),
    p: Number(p),
  });
  return got.length === want.length && timingSafeEqual(got, want);
}
