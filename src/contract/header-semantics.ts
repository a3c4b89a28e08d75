// What the header schemas cannot say: the meaning of the rate-limit and request-id headers, checked on every
// response of a contract run. Structured fields are parsed with a real RFC 9651 (RFC 8941) parser.
import { type Item, type List, ParseError, parseList } from 'structured-headers';
import type { Json } from './spec.ts';

/** The semantic check classes, as the report names and explains them. */
export const SEMANTIC_CHECKS = {
  'request-id':
    'X-Request-Id keeps a caller-supplied id the spec allows, replaces one it does not, and equals meta.requestId',
  'ratelimit-syntax':
    'RateLimit-Policy and RateLimit parse as RFC 9651 lists of "name" strings with integer q and w, or r and t',
  'ratelimit-consistency':
    'RateLimit names a listed policy; its r, t and q equal X-RateLimit-Remaining, -Reset and -Limit; remaining ≤ limit',
  'reset-window': 'X-RateLimit-Reset and t lie within the binding window (at most its w seconds)',
  'retry-after': 'a 429 carries Retry-After (whole seconds ≥ 1) no shorter than t, and nothing remaining',
} as const;

/** A semantic check class. */
export type SemanticCheck = keyof typeof SEMANTIC_CHECKS;

/** Something a semantic check found. */
export interface SemanticFinding {
  check: SemanticCheck;
  message: string;
}

/** What the checks need to know about one exchange. */
export interface ExchangeFacts {
  status: number;
  /** Response headers, names in lower case. */
  headers: Record<string, string | undefined>;
  /** The parsed JSON body, if it was JSON. */
  body?: Json;
  /** The X-Request-Id the caller sent, if any. */
  sentRequestId?: string;
}

/** The spec's rule for X-Request-Id values (from its header schema). */
export interface RequestIdRule {
  pattern?: RegExp;
  minLength?: number;
  maxLength?: number;
}

/** True when `id` is a value the spec's X-Request-Id schema allows, so a server must keep it. */
export function allowedRequestId(id: string, rule: RequestIdRule): boolean {
  const length = [...id].length;
  return (
    (rule.minLength === undefined || length >= rule.minLength) &&
    (rule.maxLength === undefined || length <= rule.maxLength) &&
    (rule.pattern === undefined || rule.pattern.test(id))
  );
}

interface NamedItem {
  name: string;
  params: Map<string, unknown>;
}

/** Parses a header as an RFC 9651 List of parameterised String items; a message on failure. */
function parseNamedList(field: string, value: string): { items: NamedItem[] } | { error: string } {
  let list: List;
  try {
    list = parseList(value);
  } catch (error) {
    const why = error instanceof ParseError || error instanceof Error ? error.message : String(error);
    return { error: `${field} is not an RFC 9651 list (${why}): ${value}` };
  }
  const items: NamedItem[] = [];
  for (const member of list) {
    if (Array.isArray(member[0])) {
      return { error: `${field} has an inner list where a policy item belongs: ${value}` };
    }
    const [bare, params] = member as Item;
    if (typeof bare !== 'string') {
      return { error: `${field} item ${String(bare)} is not a quoted string naming the policy: ${value}` };
    }
    items.push({ name: bare, params });
  }
  if (items.length === 0) {
    return { error: `${field} is empty` };
  }
  return { items };
}

const isWholeNumber = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value);

function integerParam(field: string, item: NamedItem, key: string, min: number): number | string {
  const value = item.params.get(key);
  if (!isWholeNumber(value) || value < min) {
    return `${field} "${item.name}" needs ${key} as an integer ≥ ${min}, got ${value === undefined ? 'none' : String(value)}`;
  }
  return value;
}

/** X-RateLimit-* as integers (undefined when absent or not a plain integer; the header schemas judge those). */
function headerInteger(value: string | undefined): number | undefined {
  return value !== undefined && /^\d+$/.test(value.trim()) ? Number(value.trim()) : undefined;
}

/** Checks the rate-limit and request-id headers of one response. */
export function checkSemantics(facts: ExchangeFacts, rule: RequestIdRule): SemanticFinding[] {
  const findings: SemanticFinding[] = [];
  const add = (check: SemanticCheck, message: string) => findings.push({ check, message });
  checkRequestId(facts, rule, add);
  checkRateLimit(facts, add);
  return findings;
}

function checkRequestId(
  facts: ExchangeFacts,
  rule: RequestIdRule,
  add: (check: SemanticCheck, message: string) => void,
): void {
  const id = facts.headers['x-request-id'];
  if (id === undefined) {
    add('request-id', 'no X-Request-Id header');
    return;
  }
  // A 431 refuses a head too large to read: the caller's id is in what was never read, so a new one is right.
  if (facts.sentRequestId !== undefined && facts.status !== 431) {
    const allowed = allowedRequestId(facts.sentRequestId, rule);
    if (allowed && id !== facts.sentRequestId) {
      add('request-id', `sent X-Request-Id ${facts.sentRequestId}, which the spec allows, got back ${id}`);
    }
    if (!allowed && id === facts.sentRequestId) {
      add(
        'request-id',
        `kept the caller's X-Request-Id ${facts.sentRequestId}, which the spec's schema does not allow`,
      );
    }
  }
  const bodyId = facts.body?.meta?.requestId;
  if (bodyId !== undefined && bodyId !== id) {
    add('request-id', `X-Request-Id ${id} differs from meta.requestId ${String(bodyId)}`);
  }
}

function checkRateLimit(facts: ExchangeFacts, add: (check: SemanticCheck, message: string) => void): void {
  const h = facts.headers;
  const limit = headerInteger(h['x-ratelimit-limit']);
  const remaining = headerInteger(h['x-ratelimit-remaining']);
  const reset = headerInteger(h['x-ratelimit-reset']);
  if (limit !== undefined && remaining !== undefined && remaining > limit) {
    add('ratelimit-consistency', `X-RateLimit-Remaining ${remaining} is above X-RateLimit-Limit ${limit}`);
  }
  const bindingReset = checkPolicies(facts, { limit, remaining, reset }, add) ?? reset;
  if (facts.status === 429) {
    checkRetryAfter(h['retry-after'], bindingReset, remaining, add);
  }
}

/** Checks RateLimit-Policy and RateLimit; returns the binding window's t when it could be read. */
function checkPolicies(
  facts: ExchangeFacts,
  { limit, remaining, reset }: { limit?: number; remaining?: number; reset?: number },
  add: (check: SemanticCheck, message: string) => void,
): number | undefined {
  const h = facts.headers;
  const policyValue = h['ratelimit-policy'];
  const stateValue = h.ratelimit;
  if (policyValue === undefined || stateValue === undefined) {
    return undefined; // required-ness is the header schemas' business
  }
  const policies = parseNamedList('RateLimit-Policy', policyValue);
  const state = parseNamedList('RateLimit', stateValue);
  if ('error' in policies) {
    add('ratelimit-syntax', policies.error);
  }
  if ('error' in state) {
    add('ratelimit-syntax', state.error);
  }
  if ('error' in policies || 'error' in state) {
    return undefined;
  }
  let bindingReset: number | undefined;
  const windows = new Map<string, { q: number; w: number }>();
  for (const policy of policies.items) {
    const q = integerParam('RateLimit-Policy', policy, 'q', 1);
    const w = integerParam('RateLimit-Policy', policy, 'w', 1);
    for (const problem of [q, w].filter((v): v is string => typeof v === 'string')) {
      add('ratelimit-syntax', problem);
    }
    if (typeof q === 'number' && typeof w === 'number') {
      windows.set(policy.name, { q, w });
    }
  }
  for (const [index, item] of state.items.entries()) {
    const r = integerParam('RateLimit', item, 'r', 0);
    const t = integerParam('RateLimit', item, 't', 0);
    for (const problem of [r, t].filter((v): v is string => typeof v === 'string')) {
      add('ratelimit-syntax', problem);
    }
    const window = windows.get(item.name);
    if (!window) {
      add(
        'ratelimit-consistency',
        `RateLimit names "${item.name}", which RateLimit-Policy does not list (${policyValue})`,
      );
      continue;
    }
    if (typeof r !== 'number' || typeof t !== 'number') {
      continue;
    }
    if (r > window.q) {
      add('ratelimit-consistency', `RateLimit "${item.name}" r=${r} is above the policy's q=${window.q}`);
    }
    if (t > window.w) {
      add('reset-window', `RateLimit "${item.name}" t=${t} is beyond its ${window.w}-second window`);
    }
    if (index > 0) {
      continue; // X-RateLimit-* describe the first (binding) window
    }
    bindingReset = t;
    if (remaining !== undefined && r !== remaining) {
      add('ratelimit-consistency', `RateLimit r=${r} but X-RateLimit-Remaining is ${remaining}`);
    }
    if (reset !== undefined && t !== reset) {
      add('ratelimit-consistency', `RateLimit t=${t} but X-RateLimit-Reset is ${reset}`);
    }
    if (limit !== undefined && limit !== window.q) {
      add(
        'ratelimit-consistency',
        `X-RateLimit-Limit ${limit} but the binding policy "${item.name}" has q=${window.q}`,
      );
    }
    if (reset !== undefined && reset > window.w) {
      add('reset-window', `X-RateLimit-Reset ${reset} is beyond the binding ${window.w}-second window`);
    }
    if (facts.status === 429 && r !== 0) {
      add('retry-after', `a 429 whose RateLimit r=${r} is not 0`);
    }
  }
  return bindingReset;
}

function checkRetryAfter(
  value: string | undefined,
  bindingReset: number | undefined,
  remaining: number | undefined,
  add: (check: SemanticCheck, message: string) => void,
): void {
  if (value === undefined) {
    add('retry-after', 'a 429 without Retry-After');
    return;
  }
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1) {
    add('retry-after', `Retry-After "${value}" is not whole seconds ≥ 1 (delay-seconds)`);
    return;
  }
  if (bindingReset !== undefined && Number(value) < bindingReset) {
    add('retry-after', `Retry-After ${value} is shorter than the binding window's reset t=${bindingReset}`);
  }
  if (remaining !== undefined && remaining !== 0) {
    add('retry-after', `a 429 with X-RateLimit-Remaining ${remaining}`);
  }
}
