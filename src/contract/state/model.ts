// The passive half of the state model: it sees every exchange of a run (the observer hands each one over) and
// checks it against what the run has seen so far. It never sends anything. Where it cannot be sure (requests
// side by side, a window that may have reset, a credential it did not see issued) it does not judge: a state
// check must never fail a conforming server.
import { type Item, parseList } from 'structured-headers';
import type { ExchangeWatcher, SeenExchange } from '../observer.ts';
import type { StateCheck, StateFinding } from './checks.ts';
import { matchRule, type StateRules } from './rules.ts';

interface Ticket {
  method: string;
  url: string;
  started: number;
  ended?: number;
  /** Its place among every begin and end the model saw: orders events within the same millisecond. */
  startSeq: number;
  endSeq?: number;
  /** Requests in flight when it started (itself not included). */
  concurrent: number;
}

interface KnownSecret {
  secret: string;
  /** The public part (the masked field without its stars), if any. */
  publicPart: string;
  kind: string;
  /** The answer that issued it: its own exchange and its replays (same credential, key, method and URL). */
  origin: { ticket: number; credential?: string; idempotencyKey?: string; method: string; url: string };
}

interface KeyState {
  keyId: string;
  /** When (event sequence) its rotation's answer arrived, and the end of its grace (previousKey.expirationTs). */
  rotatedAt?: number;
  graceEnd?: number;
}

interface CounterPoint {
  ticket: number;
  remaining: number;
  limit: number;
  policy: string;
  resetSeconds: number;
  windowSeconds: number;
  ended: number;
}

/** An answered request with an Idempotency-Key; `ended` is its event sequence. */
interface Replayable {
  ticket: number;
  status: number;
  ended: number;
}

/** How many judgements each class made (a check that never judged proves nothing). */
export type StateTally = Record<StateCheck, number>;

const header = (headers: Record<string, string | undefined>, name: string) => headers[name.toLowerCase()];

function credentialOf(headers: Record<string, string | undefined>): string | undefined {
  const apiKey = headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey.trim() !== '') {
    return apiKey.trim();
  }
  return /^Bearer\s+(\S+)/i.exec(headers.authorization ?? '')?.[1];
}

/** Every object in a JSON value. */
function eachObject(value: unknown, visit: (object: Record<string, unknown>) => void): void {
  if (Array.isArray(value)) {
    for (const item of value) {
      eachObject(item, visit);
    }
  } else if (value && typeof value === 'object') {
    visit(value as Record<string, unknown>);
    for (const inner of Object.values(value)) {
      eachObject(inner, visit);
    }
  }
}

/** The binding window of a response: RateLimit's name, r and t, and the policy's w for that name. */
function bindingWindow(
  headers: Record<string, string | undefined>,
): { policy: string; remaining: number; reset: number; window: number; limit: number } | undefined {
  const remaining = Number(header(headers, 'x-ratelimit-remaining'));
  const limit = Number(header(headers, 'x-ratelimit-limit'));
  const rateLimit = header(headers, 'ratelimit');
  const policyHeader = header(headers, 'ratelimit-policy');
  if (!Number.isInteger(remaining) || !Number.isInteger(limit) || !rateLimit || !policyHeader) {
    return undefined;
  }
  try {
    const [item] = parseList(rateLimit) as Item[];
    const name = item?.[0];
    const r = Number(item?.[1].get('r'));
    const t = Number(item?.[1].get('t'));
    if (typeof name !== 'string' || r !== remaining || !Number.isInteger(t)) {
      return undefined; // ratelimit-consistency reports a RateLimit that disagrees with X-RateLimit-*
    }
    const policy = (parseList(policyHeader) as Item[]).find((entry) => entry[0] === name);
    const window = Number(policy?.[1].get('w'));
    return Number.isInteger(window) ? { policy: name, remaining, reset: t, window, limit } : undefined;
  } catch {
    return undefined; // ratelimit-syntax reports it
  }
}

/** The state model of one run; `watcher` is what the observer is given. */
export class StateModel {
  readonly tally: StateTally = { 'read-after-write': 0, 'state-header': 0, counter: 0, 'secret-exposure': 0 };
  private readonly tickets = new Map<number, Ticket>();
  private nextTicket = 1;
  private inFlight = 0;
  private readonly secrets: KnownSecret[] = [];
  private readonly keysBySecret = new Map<string, KeyState>();
  private readonly keysById = new Map<string, KeyState>();
  /** Key ids with a rotate request seen (answered or not): their state is not certain until answered. */
  private readonly rotating = new Set<string>();
  private readonly counters = new Map<string, CounterPoint>();
  /** Lone requests refused before they were counted (401s). */
  private readonly uncounted = new Set<number>();
  private readonly replayable = new Map<string, Replayable>();
  /** Credential and Idempotency-Key of every answered request that sent one. */
  private readonly idempotencyKeys = new Set<string>();
  private readonly lastUsed = new Map<string, Array<{ ended: number; value: number | null }>>();
  /** Things deleted (by path) and when (event sequence) the delete's answer arrived. */
  private readonly deleted = new Map<string, number>();
  /** When the last sandbox reset (`x-rate-limit: peek` POST that empties state) answered. */
  private lastReset = 0;
  private events = 0;
  private resetsInFlight = 0;

  constructor(
    private readonly rules: StateRules,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The hook the observer calls for every exchange. It never throws: a request the model cannot read (a malformed
   * URL, say) is left unjudged rather than left unanswered.
   */
  readonly watcher: ExchangeWatcher = {
    begin: (method, url) => {
      try {
        return this.begin(method, url);
      } catch {
        return 0;
      }
    },
    end: (ticket, seen) => {
      try {
        return seen ? this.end(ticket, seen) : this.abandon(ticket);
      } catch {
        return [];
      }
    },
  };

  /** True when a credential is one the run saw issued (a key's create or rotate answer). */
  knowsKey(secret: string): boolean {
    return this.keysBySecret.has(secret);
  }

  private begin(method: string, url: string): number {
    const ticket = this.nextTicket++;
    this.tickets.set(ticket, { method, url, started: this.now(), startSeq: ++this.events, concurrent: this.inFlight });
    this.inFlight += 1;
    const op = matchRule(this.rules.operations, method, url);
    if (op?.operationId === 'resetSandbox' || /\/sandbox\/reset$/.test(url.split('?')[0] ?? '')) {
      this.resetsInFlight += 1;
    }
    for (const resource of this.rules.resources) {
      const rotate = resource.operations.rotate;
      if (rotate && rotate.method === method.toUpperCase() && rotate.pattern.test(url.split('?')[0] ?? '')) {
        const keyId = safeDecode((url.split('?')[0] ?? '').split('/').at(-2) ?? '');
        this.rotating.add(keyId);
      }
    }
    return ticket;
  }

  private abandon(ticket: number): StateFinding[] {
    const t = this.tickets.get(ticket);
    if (t && t.ended === undefined) {
      t.ended = this.now();
      t.endSeq = ++this.events;
      this.inFlight -= 1;
    }
    return [];
  }

  private end(ticket: number, seen: SeenExchange): StateFinding[] {
    const t = this.tickets.get(ticket) ?? {
      method: seen.method,
      url: seen.url,
      started: this.now(),
      startSeq: ++this.events,
      concurrent: 1,
    };
    t.ended = this.now();
    t.endSeq = ++this.events;
    this.inFlight -= 1;
    const findings: StateFinding[] = [];
    const flag = (check: StateCheck, message: string) => findings.push({ check, message });
    const credential = credentialOf(seen.requestHeaders);
    const path = seen.url.split('?')[0] ?? seen.url;
    const op = matchRule(this.rules.operations, seen.method, seen.url);
    if (op?.operationId === 'resetSandbox' || /\/sandbox\/reset$/.test(path)) {
      this.resetsInFlight -= 1;
      this.lastReset = t.endSeq;
    }
    const quiet = this.resetsInFlight === 0 && this.lastReset < t.startSeq;
    // Alone on the wire: nothing in flight when it started, nothing started since.
    const alone = t.concurrent === 0 && this.nextTicket === ticket + 1;

    this.checkSecrets(ticket, t, seen, credential, flag);
    this.checkRetryAfter(seen, flag);
    this.checkReplay(ticket, t, seen, credential, flag, quiet);
    this.checkRotationHeaders(t, seen, credential, flag);
    this.checkLastUsed(t, seen, flag, quiet);
    this.checkCounter(ticket, t, seen, credential, op, flag);
    this.checkDeleted(t, seen, path, flag, quiet && alone);
    return findings;
  }

  private checkSecrets(
    ticket: number,
    t: Ticket,
    seen: SeenExchange,
    credential: string | undefined,
    flag: (check: StateCheck, message: string) => void,
  ): void {
    const idempotencyKey = header(seen.requestHeaders, 'idempotency-key');
    const text = `${Object.values(seen.headers).join('\n')}\n${seen.body}`;
    for (const known of this.secrets) {
      const o = known.origin;
      const replayOfOrigin =
        o.ticket === ticket ||
        (o.idempotencyKey !== undefined &&
          o.idempotencyKey === idempotencyKey &&
          o.credential === credential &&
          o.method === seen.method &&
          o.url === seen.url);
      // An answer echoing a secret its own request carried in the body (a secret scanner's report, answered with
      // GitHub's feedback labels) tells the caller nothing it did not send.
      const echoOfRequest = seen.requestBody.includes(known.secret);
      if (replayOfOrigin || echoOfRequest) {
        continue;
      }
      this.tally['secret-exposure'] += 1;
      const tail = known.secret.slice(known.publicPart.length);
      if (text.includes(known.secret)) {
        flag('secret-exposure', `the ${known.kind} issued by an earlier answer appears whole in this answer`);
      } else if (known.publicPart !== '' && text.includes(known.publicPart + tail.slice(0, 4))) {
        flag('secret-exposure', `the ${known.kind} issued by an earlier answer appears past its masked prefix`);
      } else if (tail.length >= 16 && text.includes(tail.slice(-16))) {
        flag('secret-exposure', `part of the ${known.kind} issued by an earlier answer appears in this answer`);
      }
    }
    if (seen.status < 200 || seen.status >= 300) {
      return;
    }
    const rule = matchRule(this.rules.secrets, seen.method, seen.url);
    const data = (seen.json as { data?: Record<string, unknown> } | undefined)?.data;
    const secret = rule && data ? data[rule.field] : undefined;
    if (!rule || typeof secret !== 'string' || secret === '' || this.secrets.some((s) => s.secret === secret)) {
      return;
    }
    const masked = rule.masked ? data?.[rule.masked] : undefined;
    const publicPart = typeof masked === 'string' ? masked.replace(/\*+$/, '') : '';
    this.secrets.push({
      secret,
      publicPart: secret.startsWith(publicPart) ? publicPart : '',
      kind: rule.masked ? 'key secret' : 'user token',
      origin: { ticket, credential, idempotencyKey, method: seen.method, url: seen.url },
    });
    if (typeof data?.keyId === 'string') {
      const key: KeyState = { keyId: data.keyId };
      this.keysBySecret.set(secret, key);
      this.keysById.set(data.keyId, key);
    }
    const previous = data?.previousKey as { keyId?: unknown; expirationTs?: unknown } | undefined;
    if (previous && typeof previous.keyId === 'string') {
      const old = this.keysById.get(previous.keyId) ?? { keyId: previous.keyId };
      this.keysById.set(previous.keyId, old);
      old.rotatedAt = t.endSeq;
      old.graceEnd = typeof previous.expirationTs === 'string' ? Date.parse(previous.expirationTs) : undefined;
    }
  }

  private checkRetryAfter(seen: SeenExchange, flag: (check: StateCheck, message: string) => void): void {
    const code = (seen.json as { error?: { code?: unknown } } | undefined)?.error?.code;
    const allowed =
      seen.status === 429 || seen.status === 503 || (seen.status === 409 && code === 'IDEMPOTENCY_KEY_IN_USE');
    this.tally['state-header'] += 1;
    if (!allowed && header(seen.headers, 'retry-after') !== undefined) {
      flag('state-header', `Retry-After on a ${seen.status}: only 429, 503 and 409 IDEMPOTENCY_KEY_IN_USE carry it`);
    }
  }

  private checkReplay(
    ticket: number,
    t: Ticket,
    seen: SeenExchange,
    credential: string | undefined,
    flag: (check: StateCheck, message: string) => void,
    quiet: boolean,
  ): void {
    const replayed = header(seen.headers, 'idempotent-replayed');
    const idempotencyKey = header(seen.requestHeaders, 'idempotency-key');
    const id = `${credential ?? ''}\u0000${idempotencyKey ?? ''}\u0000${seen.method}\u0000${seen.url}\u0000${seen.requestBody}`;
    const earlier = idempotencyKey === undefined ? undefined : this.replayable.get(id);
    if (replayed !== undefined) {
      this.tally['state-header'] += 1;
      if (idempotencyKey === undefined) {
        flag('state-header', 'Idempotent-Replayed on a request without an Idempotency-Key');
      } else if (
        // Only a credential issued in this run has no history the run did not see (an earlier run's requests).
        credential !== undefined &&
        this.secrets.some((known) => known.secret === credential) &&
        !this.idempotencyKeys.has(`${credential}\u0000${idempotencyKey}`)
      ) {
        flag('state-header', 'Idempotent-Replayed on the first request with its Idempotency-Key');
      }
    } else if (earlier && earlier.ended < t.startSeq && quiet && seen.status >= 200 && seen.status < 300) {
      this.tally['state-header'] += 1;
      flag('state-header', 'a repeated request with the same Idempotency-Key was answered without Idempotent-Replayed');
    }
    if (idempotencyKey !== undefined) {
      this.idempotencyKeys.add(`${credential ?? ''}\u0000${idempotencyKey}`);
    }
    if (idempotencyKey !== undefined && !this.replayable.has(id) && seen.status >= 200 && seen.status < 300) {
      this.replayable.set(id, { ticket, status: seen.status, ended: t.endSeq ?? this.events });
    }
  }

  private checkRotationHeaders(
    t: Ticket,
    seen: SeenExchange,
    credential: string | undefined,
    flag: (check: StateCheck, message: string) => void,
  ): void {
    const key = credential === undefined ? undefined : this.keysBySecret.get(credential);
    if (!key || header(seen.headers, 'idempotent-replayed') !== undefined) {
      return; // a key the run did not see issued may be in a grace period the run knows nothing of
    }
    const notice = header(seen.headers, 'deprecation') ?? header(seen.headers, 'sunset');
    const now = t.ended ?? this.now();
    if (key.rotatedAt === undefined) {
      if (notice !== undefined && !this.rotating.has(key.keyId)) {
        this.tally['state-header'] += 1;
        flag('state-header', 'Deprecation/Sunset on a key that was never rotated');
      } else if (notice === undefined) {
        this.tally['state-header'] += 1;
      }
      return;
    }
    if (
      notice === undefined &&
      key.rotatedAt < t.startSeq &&
      key.graceEnd !== undefined &&
      key.graceEnd > now + 5000 &&
      seen.status >= 200 &&
      seen.status < 300
    ) {
      this.tally['state-header'] += 1;
      flag('state-header', 'a key inside its rotation grace was answered without Deprecation and Sunset');
    } else if (notice !== undefined && key.graceEnd !== undefined && key.graceEnd + 5000 < t.started) {
      this.tally['state-header'] += 1;
      flag('state-header', 'Deprecation/Sunset on a key past the end of its rotation grace');
    }
  }

  private checkLastUsed(
    t: Ticket,
    seen: SeenExchange,
    flag: (check: StateCheck, message: string) => void,
    quiet: boolean,
  ): void {
    if (header(seen.headers, 'idempotent-replayed') !== undefined || seen.status < 200 || seen.status >= 300) {
      return; // a replay repeats an old answer, lastUsed included
    }
    const found: Array<[string, number | null]> = [];
    eachObject(seen.json, (o) => {
      if (typeof o.keyId === 'string' && 'lastUsed' in o && (o.lastUsed === null || typeof o.lastUsed === 'string')) {
        const value = o.lastUsed === null ? null : Date.parse(o.lastUsed);
        if (!Number.isNaN(value)) {
          found.push([o.keyId, value]);
        }
      }
    });
    for (const [keyId, value] of found) {
      const history = this.lastUsed.get(keyId) ?? [];
      this.lastUsed.set(keyId, history);
      const before = history.filter((h) => h.ended < t.startSeq && h.value !== null);
      if (quiet && before.length > 0) {
        const latest = Math.max(...before.map((h) => h.value as number));
        this.tally['state-header'] += 1;
        if (value === null || value < latest) {
          flag(
            'state-header',
            `lastUsed of ${keyId} moved backwards: ${value === null ? 'null' : new Date(value).toISOString()} after ${new Date(latest).toISOString()}`,
          );
        }
      }
      history.push({ ended: t.endSeq ?? this.events, value });
    }
  }

  private checkCounter(
    ticket: number,
    t: Ticket,
    seen: SeenExchange,
    credential: string | undefined,
    op: { rateLimit?: string; refundsOnSuccess?: string[] } | undefined,
    flag: (check: StateCheck, message: string) => void,
  ): void {
    const rateLimit = op?.rateLimit;
    // A refused request (401 before counting, 429, an outage) says nothing about the count.
    if (seen.status === 401 || seen.status === 429 || seen.status >= 500) {
      if (seen.status === 401 && t.concurrent === 0) {
        // Refused before it was counted: a failed authentication counts against no credential's windows, so
        // two counted requests around it (nothing else on the wire) still differ by exactly one.
        this.uncounted.add(ticket);
      }
      return;
    }
    // Not judged: operations counted per client address (sign-up, log-in), whose answers may describe account
    // windows a successful log-in gives back; only a credential's own windows count one per request.
    const subject = rateLimit === 'address' ? undefined : credential;
    const window = bindingWindow(seen.headers);
    if (subject === undefined || window === undefined) {
      return;
    }
    const point: CounterPoint = {
      ticket,
      remaining: window.remaining,
      limit: window.limit,
      policy: window.policy,
      resetSeconds: window.reset,
      windowSeconds: window.window,
      ended: t.ended ?? this.now(),
    };
    const previous = this.counters.get(subject);
    this.counters.set(subject, point);
    const p = previous === undefined ? undefined : this.tickets.get(previous.ticket);
    // Judged only when the two requests were alone on the wire, one after the other, in the same binding window
    // of at least two seconds, well before it was announced to reset.
    const between = previous === undefined ? [] : range(previous.ticket + 1, ticket);
    const alone =
      previous !== undefined &&
      p !== undefined &&
      between.every((k) => this.uncounted.has(k)) &&
      p.concurrent === 0 &&
      t.concurrent === 0 &&
      this.nextTicket === ticket + 1 &&
      (p.endSeq ?? Number.POSITIVE_INFINITY) < t.startSeq;
    if (
      !alone ||
      previous.policy !== point.policy ||
      previous.limit !== point.limit ||
      previous.windowSeconds < 2 ||
      previous.resetSeconds < 2 ||
      point.ended >= p.started + (previous.resetSeconds - 1) * 1000 ||
      previous.remaining === 0
    ) {
      return;
    }
    // A window the operation declares refunded on success (`x-mailroom-refunds-on-success`: a right password takes
    // back the count a log-in attempt took) keeps its remaining on a 2xx, and loses one otherwise.
    const refunded = seen.status < 300 && (op?.refundsOnSuccess ?? []).includes(point.policy);
    const expected = rateLimit === 'peek' || refunded ? previous.remaining : previous.remaining - 1;
    this.tally.counter += 1;
    if (point.remaining !== expected) {
      const how =
        point.remaining > previous.remaining
          ? `rose from ${previous.remaining} to ${point.remaining} before the announced reset (${previous.resetSeconds} s)`
          : `went from ${previous.remaining} to ${point.remaining}`;
      flag(
        'counter',
        `the "${point.policy}" window's remaining ${how}; ${rateLimit === 'peek' ? 'a peek (x-rate-limit: peek) must not count' : refunded ? 'a success in a window refunded on success (x-mailroom-refunds-on-success) must leave it' : 'one counted request must take exactly one'}`,
      );
    }
  }

  private checkDeleted(
    t: Ticket,
    seen: SeenExchange,
    path: string,
    flag: (check: StateCheck, message: string) => void,
    certain: boolean,
  ): void {
    // A thing is named by its path (`/organizations/org_1/members/usr_2`): the same user in another organization's
    // member list is another thing. A list's items live at the list's path plus their id.
    const base = path.replace(/\/$/, '');
    for (const resource of this.rules.resources) {
      const { create, read, list, delete: remove } = resource.operations;
      const idField = resource.idField;
      if (!idField) {
        continue;
      }
      const made = (seen.json as { data?: Record<string, unknown> } | undefined)?.data?.[idField];
      if (create && create.method === seen.method && create.pattern.test(path) && typeof made === 'string') {
        this.deleted.delete(`${base}/${made}`); // made again (a member added back)
      }
      if (remove && remove.method === seen.method && remove.pattern.test(path) && seen.status === 200) {
        this.deleted.set(base, t.endSeq ?? this.events);
        continue;
      }
      const gone = (itemPath: string) => {
        const when = this.deleted.get(itemPath);
        return when !== undefined && when < t.startSeq && certain;
      };
      if (read && read.method === seen.method && read.pattern.test(path) && gone(base)) {
        this.tally['read-after-write'] += 1;
        if (seen.status >= 200 && seen.status < 300) {
          flag('read-after-write', `${base} was deleted, yet reading it answered ${seen.status}`);
        }
      }
      const items = (seen.json as { data?: unknown } | undefined)?.data;
      if (list && list.method === seen.method && list.pattern.test(path) && Array.isArray(items)) {
        if (certain && [...this.deleted.entries()].some(([k, when]) => k.startsWith(`${base}/`) && when < t.startSeq)) {
          this.tally['read-after-write'] += 1;
        }
        for (const item of items) {
          const id = (item as Record<string, unknown>)?.[idField];
          if (typeof id === 'string' && gone(`${base}/${encodeURIComponent(id)}`)) {
            flag('read-after-write', `${base}/${id} was deleted, yet ${seen.method} ${base} still lists it`);
          }
        }
      }
    }
  }
}

/** The integers from `from` up to, not including, `to`. */
function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
}

/** `decodeURIComponent`, or the text as it is when it is not valid percent-encoding. */
function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
