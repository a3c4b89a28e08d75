// Accounts for server tests: fresh emails and client addresses, sign-up and log-in through the API.
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { TestServer } from './server.ts';
import type { Body } from './spec.ts';

let addressCounter = 0;

/**
 * Headers that make the request come from a client address no other request used (needs `trustProxy: true`), so
 * per-address failed-auth counting doesn't couple tests that share a server.
 */
export function fromNewAddress(): Record<string, string> {
  addressCounter++;
  return { 'x-forwarded-for': `10.${process.pid % 256}.${(addressCounter >> 8) & 255}.${addressCounter & 255}` };
}

/** A fresh, valid contact email. */
export function newEmail(prefix = 'contact'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}@example.com`;
}

/** The password of every account the server tests sign up. */
export const PASSWORD = 'correct horse battery staple';

/** What a sign-up answers: the user, their first organization and a user token. */
export type Session = Body<'signUp', 201>['data'];

/**
 * Signs a new user up (an email of its own tagged `tag`, {@link PASSWORD}, plus `body`) and returns their session.
 * `fromNewAddress`: from an address of its own (on a server that trusts X-Forwarded-For), so the per-address window of
 * sign-up couples no other requests.
 */
export async function signUp(
  server: Pick<TestServer, 'call'>,
  options: { tag?: string; body?: Record<string, unknown>; fromNewAddress?: boolean } = {},
): Promise<Session> {
  const reply = await server.call<Body<'signUp', 201>>('POST', '/auth/signup', {
    ...(options.fromNewAddress ? { headers: fromNewAddress() } : {}),
    body: { email: newEmail(options.tag ?? 'user'), password: PASSWORD, ...options.body },
  });
  expect(reply.status, reply.text).toBe(201);
  return reply.body.data;
}

/** A new session of `email` (logged in from an address of its own): its token and id, e.g. to end it. */
export async function newSession(
  server: Pick<TestServer, 'call'>,
  email: string,
): Promise<{ token: string; sessionId: string }> {
  const reply = await server.call<Body<'logIn', 200>>('POST', '/auth/login', {
    headers: fromNewAddress(),
    body: { email, password: PASSWORD },
  });
  expect(reply.status, reply.text).toBe(200);
  return { token: reply.body.data.token, sessionId: reply.body.data.sessionId };
}

/** A new user token for `email` (logged in from an address of its own): a session to spend, e.g. on a log-out. */
export async function logIn(server: Pick<TestServer, 'call'>, email: string): Promise<string> {
  return (await newSession(server, email)).token;
}
