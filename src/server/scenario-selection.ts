import type { Request } from 'express';
import parsePreferHeader from 'parse-prefer-header';
import { type ApiError, invalidData } from './errors.ts';

// What a sandbox scenario asks for, read exactly as Prism 5 reads it (prism-http-server's getHttpConfigFromRequest,
// with the same parse-prefer-header): a `Prefer` header, whatever it says, is the only source; else `__code`,
// `__example` (and `__dynamic`, `__seed`, accepted and ignored) from the query. The code is three digits; `dynamic`
// is `true` or `false` (accepted and ignored: the sandbox always answers with real data).

/** The query parameters Prism reads selectors from; with scenarios on they never reach the input check. */
const SELECTOR_PARAMETERS = new Set(['__code', '__example', '__dynamic', '__seed']);
/** A URL that may carry one of them (`__`, or its percent-encoded form). */
const SELECTOR_HINT = /__|%5f/i;

/** What a request asks for, and where it said so. */
export interface Selection {
  code?: number;
  example?: string;
  /** `headers.prefer` or `query`, as a 422's details name a field. */
  source: 'headers.prefer' | 'query';
}

/** The field a selector came from: `headers.prefer`, or `query.__code` / `query.__example`. */
export function selectorField(selection: Pick<Selection, 'source'>, selector: 'code' | 'example'): string {
  return selection.source === 'query' ? `query.__${selector}` : 'headers.prefer';
}

/**
 * The selectors of a request: the `Prefer` header when there is one (whatever it says), else the query. Takes Prism's
 * selector parameters out of the query either way, so the input check never sees them. Undefined when nothing is
 * selected; a 422 for a selector Prism would refuse too.
 */
export function readSelection(req: Request): Selection | ApiError | undefined {
  const prefer = req.headers.prefer;
  if (prefer === undefined && !SELECTOR_HINT.test(req.url)) {
    return undefined;
  }
  const query = takeSelectorParameters(req);
  if (prefer) {
    const preferences = parsePreferHeader(prefer);
    return decodeSelection(
      { code: preferences.code, example: preferences.example, dynamic: preferences.dynamic, seed: preferences.seed },
      'headers.prefer',
    );
  }
  if (query === undefined) {
    return undefined;
  }
  const value = (name: string) => {
    const all = query.getAll(name);
    return all.length > 1 ? all : all[0];
  };
  return decodeSelection(
    { code: value('__code'), example: value('__example'), dynamic: value('__dynamic'), seed: value('__seed') },
    'query',
  );
}

type RawSelector = string | string[] | true | undefined;

function decodeSelection(
  raw: { code: RawSelector; example: RawSelector; dynamic: RawSelector; seed: RawSelector },
  source: Selection['source'],
): Selection | ApiError | undefined {
  const field = (name: string) => (source === 'query' ? `query.__${name}` : 'headers.prefer');
  const problems: Record<string, string[]> = {};
  const problem = (name: string, message: string) => {
    const messages = problems[field(name)] ?? [];
    messages.push(message);
    problems[field(name)] = messages;
  };
  const text = (name: string, value: RawSelector): string | undefined => {
    if (value === undefined || typeof value === 'string') {
      return value;
    }
    problem(name, Array.isArray(value) ? `${name} must be given once` : `${name} must have a value`);
    return undefined;
  };
  const code = text('code', raw.code);
  const example = text('example', raw.example);
  const dynamic = text('dynamic', raw.dynamic);
  text('seed', raw.seed);
  if (code !== undefined && !/^\d{3}$/.test(code)) {
    problem('code', `code must be a three-digit HTTP status, not ${JSON.stringify(code)}`);
  }
  if (dynamic !== undefined && dynamic !== 'true' && dynamic !== 'false') {
    problem('dynamic', `dynamic must be true or false, not ${JSON.stringify(dynamic)}`);
  }
  if (Object.keys(problems).length > 0) {
    return invalidData(problems);
  }
  if (code === undefined && example === undefined) {
    return undefined;
  }
  return {
    ...(code === undefined ? {} : { code: Number(code) }),
    ...(example === undefined ? {} : { example }),
    source,
  };
}

/** Removes Prism's selector parameters from the request's query (the rest stays byte for byte) and returns them. */
function takeSelectorParameters(req: Request): URLSearchParams | undefined {
  const at = req.url.indexOf('?');
  if (at < 0) {
    return undefined;
  }
  const kept: string[] = [];
  const taken: string[] = [];
  for (const part of req.url.slice(at + 1).split('&')) {
    const name = part.split('=', 1)[0] ?? '';
    (SELECTOR_PARAMETERS.has(decodeName(name)) ? taken : kept).push(part);
  }
  if (taken.length === 0) {
    return undefined;
  }
  const rest = kept.filter((part) => part !== '');
  req.url = rest.length > 0 ? `${req.url.slice(0, at)}?${rest.join('&')}` : req.url.slice(0, at);
  return new URLSearchParams(taken.join('&'));
}

function decodeName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '));
  } catch {
    return name;
  }
}
