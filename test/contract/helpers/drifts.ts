// The drifts the contract run must catch on its own, in both directions: the server changed while the spec
// stayed (a response rewritten by test/contract/helpers/drift-proxy.ts), and the spec changed while the server
// stayed (a modified copy of the bundled spec). Each names the check classes expected to catch it; the
// drift test asserts the run fails and that one of those classes is among its failures.
import { eachObject, type HopRequest, type HopResponse, newRequestId } from './drift-proxy.ts';

// biome-ignore lint/suspicious/noExplicitAny: spec documents are edited field by field.
type Doc = any;

interface DriftBase {
  name: string;
  /** What changed, as a reviewer would put it. */
  description: string;
  /** Check classes of the run (report.checks) any of which may catch it. */
  caughtBy: string[];
}

export interface ServerDrift extends DriftBase {
  kind: 'server';
  apply(response: HopResponse, request: HopRequest): void;
}

export interface SpecDrift extends DriftBase {
  kind: 'spec';
  apply(doc: Doc): void;
}

export type Drift = ServerDrift | SpecDrift;

const header = (response: HopResponse, name: string): string | undefined => {
  const value = response.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
};

function schema(doc: Doc, name: string): Doc {
  const found = doc.components?.schemas?.[name];
  if (!found) {
    throw new Error(`the bundled spec has no schema ${name}: update this drift`);
  }
  return found;
}

function componentHeader(doc: Doc, name: string): Doc {
  const found = doc.components?.headers?.[name];
  if (!found) {
    throw new Error(`the bundled spec has no header component ${name}: update this drift`);
  }
  return found;
}

/** The error-code table on ErrorCode, whichever extension carries it. */
function errorTable(doc: Doc): Record<string, unknown> {
  const errorCode = schema(doc, 'ErrorCode');
  const table = errorCode['x-error-statuses'] ?? errorCode['x-error-codes'];
  if (!table || Array.isArray(table)) {
    throw new Error('the bundled spec has no error-code table on ErrorCode: update this drift');
  }
  return table;
}

export const SERVER_DRIFTS: ServerDrift[] = [
  {
    kind: 'server',
    name: 'contact-extra-field',
    description: 'every contact gains an undeclared field (`nickname`)',
    caughtBy: ['undeclared-field'],
    apply: (response) =>
      eachObject(response.body, (o) => {
        if ('contactId' in o && 'email' in o) {
          o.nickname = 'Ada';
        }
      }),
  },
  {
    kind: 'server',
    name: 'key-hash-exposed',
    description: "every key object carries the key's stored hash (`keyHash`)",
    caughtBy: ['undeclared-field'],
    apply: (response) =>
      eachObject(response.body, (o) => {
        if ('keyId' in o && 'keyPrefix' in o) {
          o.keyHash = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
        }
      }),
  },
  {
    kind: 'server',
    name: 'duplicate-as-validation-error',
    description: 'a 409 says VALIDATION_ERROR instead of DUPLICATE_RESOURCE',
    caughtBy: ['error-code', 'dredd'],
    apply: (response) => {
      const error = (response.body as { error?: { code?: string } })?.error;
      if (response.status === 409 && error) {
        error.code = 'VALIDATION_ERROR';
      }
    },
  },
  {
    kind: 'server',
    name: 'reset-as-epoch',
    description: 'X-RateLimit-Reset is sent as a Unix time instead of seconds from now',
    caughtBy: ['reset-window', 'ratelimit-consistency'],
    apply: (response) => {
      const reset = header(response, 'x-ratelimit-reset');
      if (reset !== undefined) {
        response.headers['x-ratelimit-reset'] = String(Math.floor(Date.now() / 1000) + Number(reset));
      }
    },
  },
  {
    kind: 'server',
    name: 'policy-not-structured',
    description: 'RateLimit-Policy writes windows as `w=60s`, which is not a structured field',
    caughtBy: ['ratelimit-syntax'],
    apply: (response) => {
      const policy = header(response, 'ratelimit-policy');
      if (policy !== undefined) {
        response.headers['ratelimit-policy'] = policy.replace(/;w=(\d+)/g, ';w=$1s');
      }
    },
  },
  {
    kind: 'server',
    name: 'request-id-differs-from-meta',
    description: "an error's X-Request-Id differs from its meta.requestId",
    caughtBy: ['request-id'],
    apply: (response) => {
      if ((response.body as { meta?: { requestId?: string } })?.meta?.requestId !== undefined) {
        response.headers['x-request-id'] = newRequestId();
      }
    },
  },
  {
    kind: 'server',
    name: 'timestamps-with-offset',
    description: 'timestamps are written `+00:00` instead of `Z`',
    caughtBy: ['utc-timestamp'],
    apply: (response) => {
      if (typeof response.body === 'object') {
        response.body = JSON.parse(JSON.stringify(response.body).replace(/(T\d\d:\d\d:\d\d\.\d{3})Z"/g, '$1+00:00"'));
      }
    },
  },
  {
    kind: 'server',
    name: 'retry-after-shorter',
    description: "a 429's Retry-After is 1 second whatever the window says",
    caughtBy: ['retry-after'],
    apply: (response) => {
      if (response.status === 429) {
        response.headers['retry-after'] = '1';
      }
    },
  },
  {
    kind: 'server',
    name: 'remaining-dropped-on-404',
    description: '404s lose X-RateLimit-Remaining',
    caughtBy: ['header-schema'],
    apply: (response) => {
      if (response.status === 404) {
        delete response.headers['x-ratelimit-remaining'];
      }
    },
  },
  {
    kind: 'server',
    name: 'total-as-string',
    description: 'meta.total is sent as a string',
    caughtBy: ['body-schema', 'dredd'],
    apply: (response) => {
      const meta = (response.body as { meta?: { total?: unknown } })?.meta;
      if (meta && typeof meta.total === 'number') {
        meta.total = String(meta.total);
      }
    },
  },
  {
    kind: 'server',
    name: 'www-authenticate-dropped',
    description: '401s lose WWW-Authenticate',
    caughtBy: ['header-schema'],
    apply: (response) => {
      if (response.status === 401) {
        delete response.headers['www-authenticate'];
      }
    },
  },
  {
    kind: 'server',
    name: 'created-as-200',
    description: 'creates answer 200 instead of 201',
    caughtBy: ['expectation', 'status', 'dredd'],
    apply: (response) => {
      if (response.status === 201) {
        response.status = 200;
      }
    },
  },
  {
    kind: 'server',
    name: 'ratelimit-r-out-of-step',
    description: "RateLimit's r says the window is full while X-RateLimit-Remaining says otherwise",
    caughtBy: ['ratelimit-consistency'],
    apply: (response) => {
      const state = header(response, 'ratelimit');
      const limit = header(response, 'x-ratelimit-limit');
      if (state !== undefined && limit !== undefined && response.status !== 429) {
        response.headers.ratelimit = state.replace(/;r=\d+/, `;r=${limit}`);
      }
    },
  },
  {
    kind: 'server',
    name: 'caller-request-id-ignored',
    description: "the server always makes its own request id, ignoring the caller's",
    caughtBy: ['request-id'],
    apply: (response) => {
      const id = newRequestId();
      response.headers['x-request-id'] = id;
      const meta = (response.body as { meta?: { requestId?: string } })?.meta;
      if (meta?.requestId !== undefined) {
        meta.requestId = id;
      }
    },
  },
  {
    kind: 'server',
    name: 'allow-dropped-on-405',
    description: '405s lose Allow',
    caughtBy: ['allow'],
    apply: (response) => {
      if (response.status === 405) {
        delete response.headers.allow;
      }
    },
  },
  {
    kind: 'server',
    name: 'forbidden-as-not-found',
    description: 'a read_only key writing gets 404 RESOURCE_NOT_FOUND instead of 403 FORBIDDEN',
    caughtBy: ['expectation', 'dredd'],
    apply: (response) => {
      const error = (response.body as { error?: { code?: string } })?.error;
      if (response.status === 403 && error) {
        response.status = 404;
        error.code = 'RESOURCE_NOT_FOUND';
      }
    },
  },
];

// biome-ignore lint/suspicious/noExplicitAny: answers are edited field by field.
type Envelope = { data?: any; meta?: Record<string, unknown> };
const pathOf = (request: HopRequest) => request.url.split('?')[0] ?? request.url;
const ok = (response: HopResponse) => response.status >= 200 && response.status < 300;
const apiKeyOf = (request: HopRequest) => {
  const value = request.headers['x-api-key'];
  return typeof value === 'string' ? value : undefined;
};

/** Rewrites X-RateLimit-Remaining and RateLimit's r together, so the headers stay consistent with each other. */
function setRemaining(response: HopResponse, remaining: (current: number, limit: number) => number): void {
  const current = Number(header(response, 'x-ratelimit-remaining'));
  const limit = Number(header(response, 'x-ratelimit-limit'));
  const rateLimit = header(response, 'ratelimit');
  if (response.status === 429 || !Number.isInteger(current) || !Number.isInteger(limit) || rateLimit === undefined) {
    return;
  }
  const next = Math.max(0, Math.min(limit, remaining(current, limit)));
  response.headers['x-ratelimit-remaining'] = String(next);
  response.headers.ratelimit = rateLimit.replace(/;r=\d+/, `;r=${next}`);
}

/**
 * Drifts of state across requests: every answer stays well formed, but what it says no longer agrees with what came
 * before. Only the state model (src/contract/state) can see them. Each keeps what it remembers in its own closure.
 */
export const STATE_DRIFTS: ServerDrift[] = [
  (() => {
    const recent = new Map<string, number>();
    return {
      kind: 'server' as const,
      name: 'list-omits-new-contact',
      description: 'the contact list lags: a contact created in the last 30 seconds is missing from it',
      caughtBy: ['read-after-write', 'expectation', 'dredd'],
      apply: (response: HopResponse, request: HopRequest) => {
        const body = response.body as Envelope;
        if (request.method === 'POST' && pathOf(request) === '/v1/contacts' && response.status === 201) {
          recent.set(String(body.data?.contactId), Date.now());
        }
        if (request.method === 'GET' && pathOf(request) === '/v1/contacts' && Array.isArray(body?.data)) {
          body.data = body.data.filter(
            (c: { contactId?: string }) => Date.now() - (recent.get(String(c.contactId)) ?? 0) > 30_000,
          );
        }
      },
    };
  })(),
  (() => {
    const known = new Map<string, unknown>();
    const deleted = new Set<string>();
    return {
      kind: 'server' as const,
      name: 'deleted-contact-readable',
      description: 'a deleted contact is still answered 200 by id (a stale cache)',
      caughtBy: ['read-after-write', 'expectation', 'dredd'],
      apply: (response: HopResponse, request: HopRequest) => {
        const match = /^\/v1\/contacts\/([^/]+)$/.exec(pathOf(request));
        const body = response.body as Envelope;
        if (request.method === 'POST' && pathOf(request) === '/v1/contacts' && response.status === 201) {
          known.set(String(body.data?.contactId), body.data);
        } else if (match && request.method === 'DELETE' && response.status === 200) {
          deleted.add(match[1] as string);
        } else if (match && request.method === 'GET' && response.status === 404 && deleted.has(match[1] as string)) {
          response.status = 200;
          response.body = { success: true, data: known.get(match[1] as string), meta: body.meta };
        } else if (match && request.method === 'GET' && response.status === 200) {
          known.set(match[1] as string, body.data);
        }
      },
    };
  })(),
  {
    kind: 'server',
    name: 'deprecation-on-fresh-key',
    description: 'every answer to a key carries Deprecation and Sunset, rotated or not',
    caughtBy: ['state-header'],
    apply: (response, request) => {
      if (apiKeyOf(request) !== undefined && response.status < 400) {
        response.headers.deprecation = `@${Math.floor(Date.now() / 1000)}`;
        response.headers.sunset = new Date(Date.now() + 86_400_000).toUTCString();
      }
    },
  },
  {
    kind: 'server',
    name: 'replayed-on-first-request',
    description: 'every 201 says Idempotent-Replayed, first requests included',
    caughtBy: ['state-header'],
    apply: (response) => {
      if (response.status === 201) {
        response.headers['idempotent-replayed'] = 'true';
      }
    },
  },
  {
    kind: 'server',
    name: 'retry-after-on-success',
    description: 'successful answers carry Retry-After',
    caughtBy: ['state-header'],
    apply: (response) => {
      if (ok(response)) {
        response.headers['retry-after'] = '1';
      }
    },
  },
  {
    kind: 'server',
    name: 'remaining-stuck',
    description: 'X-RateLimit-Remaining and RateLimit r never fall (always the limit less one)',
    caughtBy: ['counter'],
    apply: (response) => setRemaining(response, (_current, limit) => limit - 1),
  },
  (() => {
    const seen = new Map<string, number>();
    return {
      kind: 'server' as const,
      name: 'remaining-falls-by-two',
      description: "each request takes two from its credential's remaining count",
      caughtBy: ['counter'],
      apply: (response: HopResponse, request: HopRequest) => {
        const key = apiKeyOf(request) ?? request.headers.authorization;
        if (key === undefined) {
          return;
        }
        const n = (seen.get(key) ?? 0) + 1;
        seen.set(key, n);
        setRemaining(response, (current) => current - n + 1);
      },
    };
  })(),
  (() => {
    let refusals = 0;
    return {
      kind: 'server' as const,
      name: 'refused-request-counts',
      description: "a request refused with 401 is taken from the next request's remaining count anyway",
      caughtBy: ['counter'],
      apply: (response: HopResponse, request: HopRequest) => {
        if (response.status === 401) {
          refusals += 1;
        } else if (apiKeyOf(request) !== undefined && refusals > 0) {
          setRemaining(response, (current) => current - refusals);
        }
      },
    };
  })(),
  (() => {
    const secrets = new Map<string, string>();
    return {
      kind: 'server' as const,
      name: 'secret-echoed-on-read',
      description: 'reading a key by id shows its full secret (in its name)',
      caughtBy: ['secret-exposure', 'read-after-write'],
      apply: (response: HopResponse, request: HopRequest) => {
        const data = (response.body as Envelope)?.data as Record<string, unknown> | undefined;
        if (request.method === 'POST' && response.status === 201 && typeof data?.apiKey === 'string') {
          secrets.set(String(data.keyId), data.apiKey);
        }
        const match = /^\/v1\/api-keys\/(key_[a-z0-9]+)$/.exec(pathOf(request));
        const secret = match ? secrets.get(match[1] as string) : undefined;
        if (request.method === 'GET' && response.status === 200 && data && secret) {
          data.name = secret;
        }
      },
    };
  })(),
  {
    kind: 'server',
    name: 'rotate-drops-permission',
    description: "a rotation's replacement loses one of the rotated key's permissions",
    caughtBy: ['read-after-write'],
    apply: (response, request) => {
      const data = (response.body as Envelope)?.data;
      if (/\/rotate$/.test(pathOf(request)) && response.status === 201 && Array.isArray(data?.permissions)) {
        if (data.permissions.length > 1) {
          data.permissions = data.permissions.slice(0, -1);
          data.access = 'restricted';
        }
      }
    },
  },
  {
    kind: 'server',
    name: 'last-used-backwards',
    description: 'the key list shows lastUsed as null (never used) for keys that have been used',
    caughtBy: ['state-header'],
    apply: (response, request) => {
      if (request.method === 'GET' && pathOf(request) === '/v1/api-keys') {
        eachObject(response.body, (o) => {
          if ('keyId' in o && 'lastUsed' in o) {
            o.lastUsed = null;
          }
        });
      }
    },
  },
  {
    kind: 'server',
    name: 'token-echoed-in-header',
    description: 'every answer to a user token echoes the token back in X-Session-Token',
    caughtBy: ['secret-exposure'],
    apply: (response, request) => {
      const token = /^Bearer\s+(\S+)/i.exec(String(request.headers.authorization ?? ''))?.[1];
      if (token !== undefined && !token.startsWith('mr_')) {
        response.headers['x-session-token'] = token;
      }
    },
  },
  (() => {
    let revoked = 0;
    return {
      kind: 'server' as const,
      name: 'total-kept-after-revoke',
      description: "the key list's meta.total keeps counting revoked keys",
      caughtBy: ['read-after-write', 'body-schema', 'dredd'],
      apply: (response: HopResponse, request: HopRequest) => {
        if (request.method === 'DELETE' && /^\/v1\/api-keys\/[^/]+$/.test(pathOf(request)) && response.status === 200) {
          revoked += 1;
        }
        const meta = (response.body as Envelope)?.meta;
        if (request.method === 'GET' && pathOf(request) === '/v1/api-keys' && typeof meta?.total === 'number') {
          meta.total += revoked;
        }
      },
    };
  })(),
];

export const SPEC_DRIFTS: SpecDrift[] = [
  {
    kind: 'spec',
    name: 'first-name-narrowed',
    description: 'firstName maxLength 100 → 50 in the requests and in Contact (the server accepts and echoes 100)',
    caughtBy: ['expectation', 'body-schema'],
    apply: (doc) => {
      for (const name of ['CreateContactRequest', 'UpdateContactRequest', 'Contact']) {
        schema(doc, name).properties.firstName.maxLength = 50;
      }
    },
  },
  {
    kind: 'spec',
    name: 'last-name-narrowed-in-responses',
    description: 'Contact.lastName maxLength 100 → 50 in responses only',
    caughtBy: ['body-schema'],
    apply: (doc) => {
      schema(doc, 'Contact').properties.lastName.maxLength = 50;
    },
  },
  {
    kind: 'spec',
    name: 'request-id-uuid-only',
    description: 'X-Request-Id narrowed to a UUID (the server keeps any sane caller-supplied id)',
    caughtBy: ['request-id', 'header-schema'],
    apply: (doc) => {
      const xRequestId = componentHeader(doc, 'XRequestId');
      xRequestId.schema.pattern = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
    },
  },
  {
    kind: 'spec',
    name: 'key-field-added',
    description: 'ApiKey requires a `description` the server never sends',
    caughtBy: ['body-schema', 'dredd'],
    apply: (doc) => {
      const apiKey = schema(doc, 'ApiKey');
      apiKey.properties.description = { type: 'string' };
      apiKey.required.push('description');
    },
  },
  {
    kind: 'spec',
    name: 'contact-field-undocumented',
    description: 'Contact no longer documents `subscribed`, which the server still sends',
    caughtBy: ['undeclared-field'],
    apply: (doc) => {
      const contact = schema(doc, 'Contact');
      delete contact.properties.subscribed;
      contact.required = contact.required.filter((field: string) => field !== 'subscribed');
    },
  },
  {
    kind: 'spec',
    name: 'error-table-changed',
    description: 'the error-code table gives DUPLICATE_RESOURCE status 422 instead of 409',
    caughtBy: ['error-code', 'dredd'],
    apply: (doc) => {
      const table = errorTable(doc);
      const entry = table.DUPLICATE_RESOURCE;
      table.DUPLICATE_RESOURCE = typeof entry === 'object' && entry !== null ? { ...entry, status: 422 } : 422;
    },
  },
  {
    kind: 'spec',
    name: 'limit-maximum-narrowed',
    description: 'the `limit` query parameter maximum 100 → 50 (the server accepts 100)',
    caughtBy: ['expectation'],
    apply: (doc) => {
      const limit = doc.components?.parameters?.Limit;
      if (!limit) {
        throw new Error('the bundled spec has no Limit parameter: update this drift');
      }
      limit.schema.maximum = 50;
    },
  },
  {
    kind: 'spec',
    name: 'expiration-days-narrowed',
    description: 'expirationDays maximum 365 → 30 (the server accepts 365)',
    caughtBy: ['expectation', 'request-valid'],
    apply: (doc) => {
      schema(doc, 'CreateApiKeyRequest').properties.expirationDays.maximum = 30;
    },
  },
  {
    kind: 'spec',
    name: 'conflict-undocumented',
    description: 'creating a contact no longer documents 409 (the server answers it for a duplicate email)',
    caughtBy: ['status'],
    apply: (doc) => {
      delete doc.paths['/v1/contacts'].post.responses['409'];
    },
  },
  {
    kind: 'spec',
    name: 'first-name-not-nullable',
    description: 'Contact.firstName is no longer nullable (the server sends null for a contact without one)',
    caughtBy: ['body-schema'],
    apply: (doc) => {
      schema(doc, 'Contact').properties.firstName.type = 'string';
    },
  },
  {
    kind: 'spec',
    name: 'retry-after-as-http-date',
    description: 'Retry-After documented as an HTTP-date (the server sends delay-seconds)',
    caughtBy: ['header-schema'],
    apply: (doc) => {
      componentHeader(doc, 'RetryAfter').schema = { type: 'string', pattern: '^[A-Z][a-z]{2}, \\d{2} ' };
    },
  },
];

/**
 * What the drift test runs the whole contract against, one run each: every drift, the state drifts only the state
 * phase sees included (a whole run reaches that phase after Dredd), and the remaining count that takes refused requests
 * (the run's pacing gives up on it with a counter finding instead of waiting for a count that never comes back).
 */
export const DRIFTS: Drift[] = [...SERVER_DRIFTS, ...STATE_DRIFTS, ...SPEC_DRIFTS];

/**
 * A server that locks an account's owner out, as Mailroom did before issue 27: once a spray's failed log-ins reach the
 * per-email limit, every log-in of the account is refused, the owner's right password included. Stateful (it counts
 * the failed log-ins it has seen), so each hop gets its own; test/contract/state.test.ts runs the sign-in spray alone
 * through it (the whole-run drift test's hops would each need one, for a case of a few seconds).
 */
export function ownerLockedOut(): ServerDrift {
  let failed = 0;
  return {
    kind: 'server',
    name: 'owner-locked-out',
    description: "after 10 failed log-ins at an account, its owner's right password is refused too (429)",
    caughtBy: ['owner-sign-in'],
    apply: (response, request) => {
      if (request.method !== 'POST' || !request.url.startsWith('/auth/login')) {
        return;
      }
      if (response.status === 401 || response.status === 429) {
        failed += 1;
      } else if (response.status === 200 && failed >= 10) {
        const requestId = header(response, 'x-request-id') ?? newRequestId();
        response.status = 429;
        response.headers['retry-after'] = '900';
        response.body = {
          success: false,
          error: { code: 'RATE_LIMITED', message: 'Too many failed log-ins for this account' },
          meta: { requestId },
        };
      }
    },
  };
}
