import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useState } from 'preact/hooks';
import type { components } from '../../generated/schema.d.ts';
import { endsSession, type MailroomAccountClient } from './api.ts';
import { type Failure, toFailure } from './ui/failure.ts';

/** The signed-in user and their organizations (`GET /auth/me`). */
export type Profile = components['schemas']['UserProfile'];

/** An organization as its member sees it, with their role in it. */
export type Organization = components['schemas']['Organization'];

/** What every signed-in page reads: the client with the user's token, the profile, and the session's ends. */
export interface SignedIn {
  client: MailroomAccountClient;
  profile: Profile;
  /** Reads the profile again (after an organization is created, renamed or left). */
  refreshProfile(): Promise<void>;
  /** Back to log-in, saying why (the server's message when the token was refused). */
  endSession(reason: string): void;
}

/** The signed-in session, provided by the app shell. */
export const SignedInContext = createContext<SignedIn | undefined>(undefined);

/** The signed-in session; only pages under the shell call it. */
export function useSignedIn(): SignedIn {
  const value = useContext(SignedInContext);
  if (!value) {
    throw new Error('useSignedIn outside the signed-in shell');
  }
  return value;
}

/**
 * Runs a request for a form or a button: `pending` while it runs, `failure` when it fails. A refused user token ends
 * the session (back to log-in with the server's reason) instead of showing an error on a page that can't recover.
 */
export function useAction() {
  const session = useContext(SignedInContext);
  const [pending, setPending] = useState(false);
  const [failure, setFailure] = useState<Failure>();
  const run = useCallback(
    async <T>(task: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false }> => {
      setPending(true);
      setFailure(undefined);
      try {
        return { ok: true, value: await task() };
      } catch (error) {
        if (session && endsSession(error)) {
          session.endSession(error.message);
        } else {
          setFailure(toFailure(error));
        }
        return { ok: false };
      } finally {
        setPending(false);
      }
    },
    [session],
  );
  return { run, pending, failure, clearFailure: () => setFailure(undefined) };
}

/** Loads data for a page (again whenever `deps` change, or on `reload()`), through {@link useAction}. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]) {
  const { run, pending, failure } = useAction();
  const [data, setData] = useState<T>();
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let current = true;
    run(load).then((result) => {
      if (current && result.ok) {
        setData(result.value);
      }
    });
    return () => {
      current = false;
    };
  }, [...deps, generation]);
  return { data, loading: pending, failure, reload: () => setGeneration((n) => n + 1) };
}
