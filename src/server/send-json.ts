import express, { type Response } from 'express';

// Writing a JSON answer, for routes (through context.ts's typed `send`), the error handler and idempotent replays: a
// room of its own, below the context and the errors, so neither imports the other for it.

const EXPRESS_JSON = express.response.json;

/**
 * Writes a JSON response: the same bytes as Express's `res.json`, without its content negotiation and freshness
 * machinery, which costs more than the rest of a cached-key request. When something wraps `res.json` (the response
 * validator in tests), the response goes through it.
 */
export function sendJson(res: Response, status: number, body: unknown): void {
  // HEAD answers have no body to validate (and their spec responses declare none).
  if (res.json !== EXPRESS_JSON && res.req.method !== 'HEAD') {
    res.status(status).json(body);
    return;
  }
  const json = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(json));
  res.end(json);
}
