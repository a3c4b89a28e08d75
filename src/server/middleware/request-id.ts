import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';

/** What a caller's `X-Request-Id` must look like to be kept. */
export const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Keeps a caller's sane `X-Request-Id` or makes a UUID, and echoes it on the response. */
export function requestId(): RequestHandler {
  return (req, res, next) => {
    const given = req.get('x-request-id');
    const id = given && SANE_REQUEST_ID.test(given) ? given : randomUUID();
    req.id = id;
    res.setHeader('X-Request-Id', id);
    next();
  };
}
