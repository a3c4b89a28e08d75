import { ALL_KEYS } from '../../store/index.ts';
import type { StoreState } from '../../store/types.ts';
import type { AppContext } from '../context.ts';
import type { SandboxClock } from './clock.ts';
import { createRequestGate, type RequestGate } from './gate.ts';

// Sandbox mode (`mailroom serve --sandbox`): the state a reset goes back to, and the reset itself. What a reset
// restores is every data table of the store (captured from the catalog by the store: src/store/sql-state.ts, so a
// table a later migration adds is covered without a line here). What it clears is the server's own memory of that
// data, listed here, one line each: a new in-memory cache of stored records belongs in `reset` too.

/** What a reset put back, counted by kind of record (the `SandboxReset` schema of the spec). */
export interface SandboxResetOutcome {
  seed: string | null;
  restored: { organizations: number; users: number; apiKeys: number; contacts: number };
  resetAt: Date;
}

/** A sandbox's reset state and its reset. */
export interface Sandbox {
  /** Holds requests while a reset runs (app.ts passes every request through it). */
  readonly gate: RequestGate;
  /** Makes the store's data as it is now the state every reset restores (at start, after the fixture). */
  capture(): Promise<void>;
  /**
   * Restores the captured state and forgets what the server kept in memory about the data since: cached keys and
   * tokens, `lastUsed` times not yet written, rate-limit counts. `fromRequest`: called by a request (the reset route).
   */
  reset(options?: { fromRequest?: boolean }): Promise<SandboxResetOutcome>;
  /** The sandbox's clock (`POST /sandbox/clock` moves it forward; a reset returns it to the real time). */
  readonly clock: SandboxClock;
}

/** The record counts a reset reports, from the tables that hold them. */
const COUNTED = { organizations: 'organizations', users: 'users', apiKeys: 'api_keys', contacts: 'contacts' } as const;

/**
 * The sandbox of a server: `seed` is the fixture file it was seeded from, if any (reported by every reset); `clock` is
 * the one the server's context reads.
 */
export function createSandbox(ctx: AppContext, seed: string | undefined, clock: SandboxClock): Sandbox {
  const gate = createRequestGate();
  let state: StoreState | undefined;

  return {
    gate,
    clock,
    async capture() {
      state = await ctx.store.captureState();
    },
    async reset(options = {}) {
      const captured = state;
      if (captured === undefined) {
        throw new Error('the sandbox has no captured state to reset to');
      }
      return gate.exclusive(
        async () => {
          // Written before the rows go, so no lastUsed time (nor a session's last use) of the old state lands on a
          // restored key or session afterwards.
          await ctx.lastUsed.flush();
          await ctx.sessionUse.flush();
          await ctx.usage.flush();
          // One transaction: when it fails (the database is down) nothing changed, and the caches stay right.
          await ctx.store.restoreState(captured);
          // No key or token the restored state lacks (or holds revoked) may stay cached.
          ctx.keys.invalidate(ALL_KEYS);
          ctx.tokens.invalidate(ALL_KEYS);
          await ctx.limiter.reset();
          clock.reset();
          const count = (table: string) => captured.tables.find((t) => t.name === table)?.count ?? 0;
          return {
            seed: seed ?? null,
            restored: {
              organizations: count(COUNTED.organizations),
              users: count(COUNTED.users),
              apiKeys: count(COUNTED.apiKeys),
              contacts: count(COUNTED.contacts),
            },
            resetAt: ctx.clock(),
          };
        },
        { fromRequest: options.fromRequest ?? false },
      );
    },
  };
}
