import type { components } from '../../generated/schema.d.ts';

/** What the console keeps of a sign-in: the user token and when it expires (a new tab signs in again). */
export interface StoredSession {
  token: components['schemas']['UserSession']['token'];
  expiresAt: string;
}

/** The sessionStorage entry that holds the user token: gone when the tab closes, never in localStorage or a cookie. */
export const SESSION_STORAGE_KEY = 'mailroom.console.session';

/** The stored session, or undefined when there is none, it is unreadable, or it has expired. */
export function readSession(now = Date.now()): StoredSession | undefined {
  const text = sessionStorage.getItem(SESSION_STORAGE_KEY);
  if (text === null) {
    return undefined;
  }
  try {
    const value = JSON.parse(text) as Partial<StoredSession>;
    if (typeof value.token === 'string' && typeof value.expiresAt === 'string') {
      return Date.parse(value.expiresAt) > now ? { token: value.token, expiresAt: value.expiresAt } : undefined;
    }
  } catch {
    // an entry another script wrote: treated as no session
  }
  return undefined;
}

/** Whether a stored session exists but has expired (the log-in page then says so). */
export function sessionExpired(now = Date.now()): string | undefined {
  const text = sessionStorage.getItem(SESSION_STORAGE_KEY);
  try {
    const value = text === null ? undefined : (JSON.parse(text) as Partial<StoredSession>);
    if (typeof value?.expiresAt === 'string' && Date.parse(value.expiresAt) <= now) {
      return value.expiresAt;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** Stores the token of a sign-up or log-in for this tab. */
export function writeSession(session: StoredSession): void {
  sessionStorage.setItem(SESSION_STORAGE_KEY, JSON.stringify({ token: session.token, expiresAt: session.expiresAt }));
}

/** Forgets the token. */
export function clearSession(): void {
  sessionStorage.removeItem(SESSION_STORAGE_KEY);
}
