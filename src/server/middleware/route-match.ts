import type { RequestHandler } from 'express';
import { ApiError } from '../errors.ts';
import { scrubKeys } from '../logger.ts';
import { matchPath, type SpecPath } from '../spec.ts';

function safeDecode(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** Answers 404 for a path the spec doesn't have and 405 (with `Allow`) for a method it doesn't declare on the path. */
export function routeMatch(paths: SpecPath[]): RequestHandler {
  return (req, _res, next) => {
    const match = matchPath(paths, req.path);
    if (!match) {
      next(new ApiError('RESOURCE_NOT_FOUND', `No route ${req.method} ${scrubKeys(req.path)}`));
      return;
    }
    if (!match.methods.includes(req.method)) {
      const allow = match.methods.join(', ');
      next(
        new ApiError(
          'METHOD_NOT_ALLOWED',
          `${req.method} is not allowed on ${scrubKeys(req.path)}; allowed: ${allow}`,
          {
            headers: { Allow: allow },
          },
        ),
      );
      return;
    }
    req.specPath = match.path;
    // The pipeline doesn't go through Express's router, so path parameters are set here.
    const groups = match.pattern.exec(req.path)?.groups;
    if (groups) {
      const params: Record<string, string> = {};
      for (const [name, raw] of Object.entries(groups)) {
        params[name] = safeDecode(raw);
      }
      req.params = params;
    }
    next();
  };
}
