import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { NextFunction, Request, Response } from 'express';

/** Where `npm run build` puts the console (scripts/build-console.mjs): the same path from src/server and dist/server. */
export const CONSOLE_DIR = resolve(import.meta.dirname, '../../dist/console');

/**
 * The console's Content-Security-Policy: its own scripts, styles, icon and API calls (same origin), and nothing else:
 * no inline script or style, no eval, no other host, no plugin, no framing, no form posting anywhere, no `<base>`, and
 * no HTML parsed from strings (Trusted Types, with no policy allowed).
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  // DOM sinks that parse HTML (innerHTML and the like) refuse strings: the app renders through Preact's DOM calls only.
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

/** The headers of every console file: the CSP, and no sniffing, framing, referrer or cross-origin embedding. */
const CONSOLE_HEADERS = {
  'Content-Security-Policy': CONSOLE_CSP,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  // Rebuilt files keep their names (console.js): revalidate each load rather than run yesterday's bundle.
  'Cache-Control': 'no-cache',
};

/** A built file's name under /console/: the bundle's names (console.js, chunks/x-HASH.js), never a path out of it. */
const ASSET = /^(?:chunks\/)?[A-Za-z0-9_-]+(?:\.[A-Za-z0-9]+)+$/;

/**
 * Serves the console on GET and HEAD: the page at `/console` and `/console/`, its built files under `/console/`.
 * Returns false for anything else (another method, a name it doesn't have), which the API's pipeline then answers
 * (404 or 405 in the envelope). The console is a file server only: it reaches the API through the client, like any
 * other caller.
 */
export function serveConsole(req: Request, res: Response, next: NextFunction, dir = CONSOLE_DIR): boolean {
  if (
    (req.method !== 'GET' && req.method !== 'HEAD') ||
    !(req.path === '/console' || req.path.startsWith('/console/'))
  ) {
    return false;
  }
  const name = req.path === '/console' || req.path === '/console/' ? 'index.html' : req.path.slice('/console/'.length);
  const file = join(dir, name);
  if (!ASSET.test(name) || !existsSync(file)) {
    return false;
  }
  res.set(CONSOLE_HEADERS);
  res.sendFile(file, { dotfiles: 'deny' }, (err) => err && next(err));
  return true;
}
