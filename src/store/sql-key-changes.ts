import { randomUUID } from 'node:crypto';
import type { Db } from './db.ts';

/** Channel on which key changes are broadcast to every server instance. */
export const KEY_CHANGES_CHANNEL = 'mailroom_key_changes';

/** Channel on which instances confirm they dropped a changed key. */
export const KEY_ACKS_CHANNEL = 'mailroom_key_acks';

/** Payload telling listeners to drop every cached key (notifications may have been missed). */
export const ALL_KEYS = '*';

/** The broadcast that tells every server instance a key (or token) changed, so each drops its cached copy. */
export interface KeyChangeStore {
  /** Broadcasts on channel 'mailroom_key_changes' that a key changed, with the publicId as payload. */
  notifyKeyChange(publicId: string): Promise<void>;
  /** Subscribes to key changes; the listener gets '*' ("drop everything") after a reconnect. Returns an unsubscribe function. */
  onKeyChange(listener: (publicId: string) => void): Promise<() => Promise<void>>;
}

/** `publicId` or `publicId:nonce` (a nonce asks every listener to acknowledge). */
function parseKeyChange(payload: string): { publicId: string; nonce?: string } {
  const colon = payload.indexOf(':');
  return colon === -1 ? { publicId: payload } : { publicId: payload.slice(0, colon), nonce: payload.slice(colon + 1) };
}

/**
 * Acknowledged key-change broadcasts for PostgreSQL. NOTIFY is delivered asynchronously, so an
 * instance could serve one more request with a key another instance has just revoked. The
 * revoking instance therefore counts the other listening connections (every server instance
 * holds one, named `<app>:listen`), sends `publicId:nonce`, and returns once each has
 * acknowledged — or after `timeoutMs`, since an unreachable instance drops its whole cache when
 * it reconnects anyway.
 */
function createAckWaiter(db: Db, instanceId: string, timeoutMs: number) {
  const waiting = new Map<string, { from: Set<string>; expected: number; done: () => void }>();
  let subscription: Promise<() => Promise<void>> | undefined;

  const subscribe = () => {
    subscription ??= db.listen(
      KEY_ACKS_CHANNEL,
      (payload) => {
        const [nonce, from] = payload.split(':');
        const wait = nonce ? waiting.get(nonce) : undefined;
        if (wait && from && from !== instanceId) {
          wait.from.add(from);
          if (wait.from.size >= wait.expected) {
            wait.done();
          }
        }
      },
      () => {},
    );
    return subscription;
  };

  return {
    async broadcast(publicId: string): Promise<void> {
      await subscribe();
      const [row] = (
        await db.query<{ listeners: string }>(
          `SELECT count(*) AS listeners FROM pg_stat_activity
           WHERE datname = current_database() AND application_name LIKE '%:listen' AND pid <> pg_backend_pid()`,
        )
      ).rows;
      // Our own LISTEN connection is among them and doesn't acknowledge to itself.
      const expected = Math.max(0, Number(row?.listeners ?? 0) - 1);
      const nonce = randomUUID();
      let timer: NodeJS.Timeout | undefined;
      const acknowledged = new Promise<void>((resolve) => {
        waiting.set(nonce, { from: new Set(), expected, done: resolve });
        timer = setTimeout(resolve, timeoutMs);
      });
      try {
        // pg_notify takes parameters, unlike the NOTIFY statement.
        await db.query('SELECT pg_notify($1, $2)', [KEY_CHANGES_CHANNEL, `${publicId}:${nonce}`]);
        if (expected > 0) {
          await acknowledged;
        }
      } finally {
        clearTimeout(timer);
        waiting.delete(nonce);
      }
    },
    async close(): Promise<void> {
      if (subscription) {
        const unsubscribe = await subscription.catch(() => undefined);
        await unsubscribe?.();
      }
    },
  };
}

/**
 * The key-change broadcast over `db`'s LISTEN/NOTIFY, and `close` for its acknowledgement subscription (the store's
 * close calls it before closing the database).
 */
export function keyChangeStatements(
  db: Db,
  options: { ackTimeoutMs: number },
): { statements: KeyChangeStore; close(): Promise<void> } {
  const instanceId = randomUUID();
  const acks = createAckWaiter(db, instanceId, options.ackTimeoutMs);
  const statements: KeyChangeStore = {
    async notifyKeyChange(publicId) {
      if (db.kind !== 'postgres') {
        // PGlite is one process: its listeners run in-process, so there is no one else to wait for.
        await db.query('SELECT pg_notify($1, $2)', [KEY_CHANGES_CHANNEL, publicId]);
        return;
      }
      await acks.broadcast(publicId);
    },

    async onKeyChange(listener) {
      return db.listen(
        KEY_CHANGES_CHANNEL,
        (payload) => {
          const { publicId, nonce } = parseKeyChange(payload);
          listener(publicId);
          if (nonce && db.kind === 'postgres') {
            // Tell the revoking instance this one has dropped the key, so it can answer only when every instance has.
            db.query('SELECT pg_notify($1, $2)', [KEY_ACKS_CHANNEL, `${nonce}:${instanceId}`]).catch(() => {});
          }
        },
        () => listener(ALL_KEYS),
      );
    },
  };
  return { statements, close: () => acks.close() };
}
