import { useCallback, useState } from 'preact/hooks';
import { LogInPage, SignUpPage } from './auth/sign-in-pages.tsx';
import { navigate, useRoute } from './router.ts';
import { clearSession, readSession, type StoredSession, sessionExpired, writeSession } from './session.ts';
import { SignedInShell } from './shell.tsx';
import { formatDateTime } from './ui/format.ts';

/** Why the log-in page is showing, when it isn't the first visit: the session's end, or a log-out. */
function initialReason(): string | undefined {
  const expiredAt = sessionExpired();
  return expiredAt ? `Your session expired at ${formatDateTime(expiredAt)}: log in again.` : undefined;
}

/** The console: the sign-in pages without a token, the signed-in shell with one. */
export function App() {
  const route = useRoute();
  const [token, setToken] = useState(() => readSession()?.token);
  const [reason, setReason] = useState(initialReason);

  function signIn(session: StoredSession) {
    writeSession(session);
    setReason(undefined);
    setToken(session.token);
    navigate({ name: 'home' });
  }

  // One function for the app's life: the shell reads the profile again whenever it changes, so a new one each render
  // would send GET /auth/me on every navigation (and one still in flight when the token is revoked ends the session).
  const endSession = useCallback((why: string) => {
    clearSession();
    setToken(undefined);
    setReason(why);
    navigate({ name: 'login' });
  }, []);

  if (!token) {
    return route.name === 'signup' ? (
      <SignUpPage onSignedIn={signIn} />
    ) : (
      <LogInPage reason={reason} onSignedIn={signIn} />
    );
  }
  return <SignedInShell token={token} route={route} onEnd={endSession} />;
}
