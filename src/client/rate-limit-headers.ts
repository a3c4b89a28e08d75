/** The binding rate-limit window as the server last announced it (see the spec's *Rate limits* section). */
export interface RateLimitState {
  /** Requests allowed in the binding window (`X-RateLimit-Limit`). */
  limit: number;
  /** Requests left in it after the request that carried these headers (`X-RateLimit-Remaining`). */
  remaining: number;
  /** Seconds until it resets, as sent (`X-RateLimit-Reset`, a delta). */
  resetSeconds: number;
  /** When it resets: the time the headers were read plus `resetSeconds`. */
  resetAt: Date;
  /** Every window that applies, verbatim (`RateLimit-Policy`), e.g. `"burst";q=10;w=1, "minute";q=100;w=60`. */
  policy?: string;
  /** Name of the binding window, from the `RateLimit` header (e.g. `minute`). */
  window?: string;
}

/** Anything headers can be read from: a fetch `Headers` or a plain record (names matched case-insensitively). */
export type HeaderSource = Headers | Readonly<Record<string, string | null | undefined>>;

/**
 * Reads the rate-limit headers of one response. `X-RateLimit-*` win; when one is missing it is taken from the IETF
 * draft headers (`RateLimit` for remaining/reset, `RateLimit-Policy` for the limit). Returns null unless limit,
 * remaining and reset are all known non-negative integers.
 */
export function parseRateLimitHeaders(headers: HeaderSource, now: number = Date.now()): RateLimitState | null {
  const policy = header(headers, 'RateLimit-Policy');
  const binding = pickBinding(parseSfList(header(headers, 'RateLimit')));
  const limit =
    parseNonNegativeInteger(header(headers, 'X-RateLimit-Limit')) ??
    (binding?.name === undefined ? undefined : policyQuota(policy, binding.name));
  const remaining = parseNonNegativeInteger(header(headers, 'X-RateLimit-Remaining')) ?? binding?.params.get('r');
  const resetSeconds = parseNonNegativeInteger(header(headers, 'X-RateLimit-Reset')) ?? binding?.params.get('t');
  if (limit === undefined || remaining === undefined || resetSeconds === undefined) {
    return null;
  }
  const state: RateLimitState = { limit, remaining, resetSeconds, resetAt: new Date(now + resetSeconds * 1000) };
  if (policy !== undefined) {
    state.policy = policy;
  }
  if (binding?.name !== undefined) {
    state.window = binding.name;
  }
  return state;
}

/**
 * Parses `Retry-After` (RFC 9110 §10.2.3) into milliseconds from `now`: delay-seconds, or an HTTP-date (IMF-fixdate,
 * RFC 850 or asctime; a date in the past is 0). Anything else, including fractions and negatives, is undefined.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  const text = value?.trim();
  if (!text) {
    return undefined;
  }
  const seconds = parseNonNegativeInteger(text);
  if (seconds !== undefined) {
    return seconds * 1000;
  }
  let date: number;
  if (/^[A-Za-z]+, /.test(text) && /GMT$/.test(text)) {
    date = Date.parse(text);
  } else if (/^[A-Za-z]{3} [A-Za-z]{3} +\d{1,2} \d{2}:\d{2}:\d{2} \d{4}$/.test(text)) {
    date = Date.parse(`${text} GMT`);
  } else {
    return undefined;
  }
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function header(headers: HeaderSource, name: string): string | undefined {
  if (headers instanceof Headers) {
    return headers.get(name) ?? undefined;
  }
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted && typeof value === 'string') {
      return value;
    }
  }
  return undefined;
}

function parseNonNegativeInteger(value: string | undefined): number | undefined {
  const text = value?.trim();
  if (text === undefined || !/^\d{1,15}$/.test(text)) {
    return undefined;
  }
  return Number(text);
}

interface SfItem {
  name: string | undefined;
  params: Map<string, number>;
}

// A small reader for the Structured Fields lists the server sends: `"name";key=int;key=int, "other";key=int`.
// Quoted names may contain commas and semicolons; parameters that are not non-negative integers are ignored.
function parseSfList(value: string | undefined): SfItem[] {
  if (value === undefined) {
    return [];
  }
  const items: SfItem[] = [];
  for (const member of splitOutsideQuotes(value, ',')) {
    const [bare = '', ...params] = splitOutsideQuotes(member, ';').map((part) => part.trim());
    const item: SfItem = { name: unquote(bare), params: new Map() };
    for (const param of params) {
      const eq = param.indexOf('=');
      const number = eq === -1 ? undefined : parseNonNegativeInteger(param.slice(eq + 1));
      if (number !== undefined) {
        item.params.set(param.slice(0, eq).trim(), number);
      }
    }
    items.push(item);
  }
  return items;
}

function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i] as string;
    if (quoted && char === '\\' && i + 1 < text.length) {
      current += char + text[i + 1];
      i++;
      continue;
    }
    if (char === '"') {
      quoted = !quoted;
    }
    if (char === separator && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  parts.push(current);
  return parts;
}

function unquote(bare: string): string | undefined {
  if (bare.length >= 2 && bare.startsWith('"') && bare.endsWith('"')) {
    return bare.slice(1, -1).replace(/\\(.)/g, '$1');
  }
  return /^[A-Za-z*][A-Za-z0-9_.:%*/-]*$/.test(bare) ? bare : undefined;
}

// With several `RateLimit` items, the binding one is the item with the fewest requests remaining.
function pickBinding(items: SfItem[]): SfItem | undefined {
  let best: SfItem | undefined;
  for (const item of items) {
    const remaining = item.params.get('r');
    if (remaining !== undefined && (best === undefined || remaining < (best.params.get('r') ?? Infinity))) {
      best = item;
    }
  }
  return best;
}

function policyQuota(policy: string | undefined, name: string): number | undefined {
  return parseSfList(policy)
    .find((item) => item.name === name)
    ?.params.get('q');
}
