import type { Request } from 'express';
import parsePreferHeader from 'parse-prefer-header';
import { MAX_ACTIVE_KEYS } from '../keys/issue.ts';
import { exhaustedDecision, type LimitDecision, outageDecision } from '../rate-limit/decision.ts';
import type { WindowSubject } from '../rate-limit/limiter.ts';
import {
  DuplicateEmailError,
  DuplicateMemberError,
  DuplicateUserError,
  KeyLimitError,
  LastOwnerError,
  StoreUnavailableError,
} from '../store/types.ts';
import {
  CREDENTIAL_REFUSALS,
  type Principal,
  refusal,
  refuseCredential,
  USER_TOKEN_REFUSALS,
  unauthorized,
  type Verdict,
  withoutRole,
} from './authenticate.ts';
import { ApiError, ERROR_STATUS, type ErrorCode, INVALID_DATA } from './errors.ts';
import { CHUNKED_BODY_MALFORMED, headersTooLarge } from './http-edge.ts';
import { idempotencyKeyInUse, idempotencyKeyReused } from './idempotency.ts';
import {
  BODY_NOT_JSON,
  BODY_TOO_LARGE,
  methodNotAllowed,
  type OpenApiDocument,
  type Operation,
  unsupportedMediaType,
} from './operations.ts';
import { FAILED_LOG_INS, loginFailed } from './routes/accounts.ts';
import { notFound as apiKeyNotFound, keyAlreadyRotated, keyExpired } from './routes/api-keys.ts';
import { notFound as contactNotFound } from './routes/contacts.ts';
import { memberNotFound, noSuchAccount, organizationNotFound, othersMembership } from './routes/organizations.ts';

/**
 * Sandbox scenarios (`mailroom serve --scenarios`): the stateful server honours the Prism mock's own selectors —
 * `Prefer: code=NNN, example=NAME`, or `?__code=NNN&__example=NAME` when there is no `Prefer` header — and produces
 * the documented outcome through the code that produces it for real: the 401 of that cause, the caller's own windows
 * exhausted, the outage decision, the route's own 404, the error handler's unexpected-error path. A forced error
 * changes no stored data; a forced success runs the operation.
 *
 * Selectors are read exactly as Prism 5 reads them (prism-http-server's getHttpConfigFromRequest, with the same
 * parse-prefer-header): a `Prefer` header, whatever it says, is the only source; the code is three digits; `dynamic`
 * is `true` or `false` (accepted and ignored: the sandbox always answers with real data). Where Prism answers an
 * undocumented status or an unknown example with its own problem+json (404, or 500), the sandbox answers 422
 * VALIDATION_ERROR in the envelope, naming what the operation documents.
 */

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

/** A forced outcome and the stage of the pipeline that produces it. */
export type Forced =
  /** A 401, answered once the real credential has been verified (a request without a valid one gets the real 401). */
  | { stage: 'authenticate'; error: ApiError }
  /** A refusal of the rate-limit stage (429, a rate-limit store outage's 503), decided on the caller's windows read without counting. */
  | {
      stage: 'limit';
      decide: (windows: LimitDecision) => LimitDecision;
      /** More windows read (never counted) with the caller's, e.g. log-in's `account` window of failed attempts. */
      also?: WindowSubject[];
      /** What the refusal says was counted, where the pipeline words it (log-in's failed attempts). */
      what?: string;
    }
  /** Any other error, raised where the handler would run, after every real stage has passed. */
  | { stage: 'operation'; error: (req: Request) => Error }
  /** A success status: the operation runs. */
  | { stage: 'success' };

/** What the pipeline knows when it asks for the forced outcome. */
export interface ScenarioRequest {
  operation: Operation;
  params: Record<string, string>;
  principal: Principal | undefined;
  /** The roles the operation's security requirement names (e.g. `write`). */
  roles: string[];
}

/** The sandbox's scenario stage. */
export interface Scenarios {
  /**
   * Reads the request's selectors (taking `__code`/`__example`/`__dynamic`/`__seed` out of its query) and returns the
   * outcome they force; undefined when they force nothing. An invalid selection forces a 422.
   */
  force(req: Request, request: ScenarioRequest): Forced | undefined;
}

/** The error a forced 500 raises: not an ApiError, so the error handler takes its unexpected-error path. */
export class ScenarioFault extends Error {
  override name = 'ScenarioFault';
}

interface ExampleValue {
  error?: { code?: string; message?: string };
}

/** One documented response: its example names in the spec's order (the first is the default) and their values. */
type Documented = Map<number, Map<string, ExampleValue | undefined>>;

/** What a producer is given: the request, the operation, the status and the chosen example. */
interface Asked extends ScenarioRequest {
  status: number;
  example: string | undefined;
  value: ExampleValue | undefined;
  selection: Selection;
}

type Producer = (asked: Asked) => Forced | undefined;

/** Methods tried, in order, for the method a forced 405 names: the first one the path does not declare. */
const REFUSED_METHODS = ['POST', 'PUT', 'PATCH', 'DELETE', 'GET'];

/** Each resource's own 404, by the path parameter that names it. */
const NOT_FOUND_BY_PARAMETER: Record<string, (id: string) => ApiError> = {
  keyId: apiKeyNotFound,
  contactId: contactNotFound,
  organizationId: organizationNotFound,
  userId: memberNotFound,
};

/** The 404 examples of the organization operations, by name: the path parameter whose resource is missing. */
const NOT_FOUND_BY_EXAMPLE: Record<string, string> = {
  organizationNotFound: 'organizationId',
  apiKeyNotFound: 'keyId',
  memberNotFound: 'userId',
};

/** A credential's refusal: its message and challenge. */
type Refusal = Extract<Verdict, { ok: false }>;

/** The account window a forced `tooManyLogIns` reads (never counts): the state of an email with no failed log-in. */
const SCENARIO_ACCOUNT_WINDOW: WindowSubject = { window: 'account', id: 'sandbox-scenario' };

/** The email a request's body names, if any. */
function bodyEmail(req: Request): string | undefined {
  const email = (req.body as { email?: unknown } | undefined)?.email;
  return typeof email === 'string' ? email : undefined;
}

/** Whether an operation takes a user token (the account operations) rather than an API key. */
function takesUserToken(operation: Operation): boolean {
  return operation.security.some((alternative) => Object.hasOwn(alternative, 'userToken'));
}

/** Creates the scenario stage from the bundled spec: every operation's documented statuses and examples. */
export function createScenarios(spec: OpenApiDocument, operations: readonly Operation[], clock: () => Date): Scenarios {
  const catalog = new Map<string, Documented>();
  for (const operation of operations) {
    catalog.set(operation.id, documentedResponses(spec, operation));
  }

  const fail = (error: ApiError): Forced => ({ stage: 'operation', error: () => error });
  const raise = (error: (req: Request) => Error): Forced => ({ stage: 'operation', error });

  /** The outcome each documented error status forces, as the real pipeline produces it; undefined: see `fromExample`. */
  const byStatus: Record<number, Producer> = {
    // The edge's words for a broken framing (it answers before the app runs), else the body parser's.
    400: ({ example }) =>
      fail(new ApiError('BAD_REQUEST', example === 'malformedRequest' ? CHUNKED_BODY_MALFORMED : BODY_NOT_JSON)),
    401: ({ example, operation }) => {
      if (example === 'invalidCredentials') {
        // Log-in's own refusal, raised where the handler would refuse the password.
        return fail(loginFailed());
      }
      // The authenticator's own refusal of that cause, for the credential the operation takes.
      const refusals: Record<string, (at: Date) => Refusal> = takesUserToken(operation)
        ? USER_TOKEN_REFUSALS
        : CREDENTIAL_REFUSALS;
      const cause = example !== undefined && Object.hasOwn(refusals, example) ? refusals[example] : undefined;
      return cause && operation.security.length > 0
        ? { stage: 'authenticate', error: unauthorized(cause(clock())) }
        : undefined;
    },
    403: ({ example, principal, roles }) => {
      if (example === 'othersMembership') {
        return fail(othersMembership());
      }
      const role = roles[0];
      // Worded when raised: by then the pipeline has read a user's membership of the organization in the path.
      return principal && role !== undefined
        ? raise(() => new ApiError('FORBIDDEN', refusal(withoutRole(principal, role), role)))
        : undefined;
    },
    404: ({ example, operation, params }) => {
      if (example === 'noSuchAccount') {
        return raise((req) => noSuchAccount(bodyEmail(req) ?? 'someone@example.com'));
      }
      const named = example === undefined ? undefined : NOT_FOUND_BY_EXAMPLE[example];
      const parameter = named ?? [...operation.path.matchAll(/\{(\w+)\}/g)].at(-1)?.[1];
      const notFound = parameter === undefined ? undefined : NOT_FOUND_BY_PARAMETER[parameter];
      return notFound && parameter !== undefined ? fail(notFound(params[parameter] ?? '')) : undefined;
    },
    405: ({ operation }) => {
      const declared = operation.allow.split(', ');
      const method = REFUSED_METHODS.find((m) => !declared.includes(m)) ?? 'TRACE';
      return raise((req) => methodNotAllowed(method, req.path, operation.allow));
    },
    409: (asked) => {
      if (asked.example === 'keyLimitReached') {
        return raise(() => new KeyLimitError(MAX_ACTIVE_KEYS));
      }
      if (asked.example === 'idempotencyKeyInUse') {
        return fail(idempotencyKeyInUse());
      }
      if (asked.example === 'keyAlreadyRotated') {
        return raise((req) => keyAlreadyRotated(String(req.params.keyId), 'key_0000000000000000'));
      }
      if (asked.example === 'keyExpired') {
        return raise((req) => keyExpired(String(req.params.keyId), clock()));
      }
      if (asked.example === 'duplicateAccount') {
        return raise(() => new DuplicateUserError());
      }
      if (asked.example === 'alreadyMember') {
        return raise((req) => new DuplicateMemberError(bodyEmail(req) ?? 'someone@example.com'));
      }
      if (asked.example === 'lastOwner') {
        return raise(() => new LastOwnerError());
      }
      return asked.example === 'duplicateEmail'
        ? raise((req) => {
            // The email the request names, else the example's own words.
            const email = (req.body as { email?: unknown } | undefined)?.email;
            return typeof email === 'string' ? new DuplicateEmailError(email) : exampleError(asked);
          })
        : undefined;
    },
    413: () => fail(new ApiError('PAYLOAD_TOO_LARGE', BODY_TOO_LARGE)),
    415: () => fail(unsupportedMediaType('text/plain')),
    422: ({ selection, status, example }) =>
      example === 'idempotencyKeyReused'
        ? fail(idempotencyKeyReused())
        : fail(
            new ApiError('VALIDATION_ERROR', INVALID_DATA, {
              details: { [fieldOf(selection, 'code')]: [`asks for ${status} (a sandbox scenario)`] },
            }),
          ),
    429: ({ example }) =>
      example === 'tooManyLogIns'
        ? { stage: 'limit', decide: exhaustedDecision, also: [SCENARIO_ACCOUNT_WINDOW], what: FAILED_LOG_INS }
        : { stage: 'limit', decide: exhaustedDecision },
    // Produced by the HTTP edge before the app; forced here with the edge's own words.
    431: () => fail(new ApiError('HEADERS_TOO_LARGE', headersTooLarge())),
    500: ({ status }) =>
      raise(() => new ScenarioFault(`code=${status} forced by a sandbox scenario: the unexpected-error path`)),
    503: ({ example }) => {
      if (example === 'rateLimitStoreDown') {
        return { stage: 'limit', decide: (windows) => outageDecision(windows.windows) };
      }
      return example === 'serviceUnavailable'
        ? raise(() => new StoreUnavailableError('forced by a sandbox scenario'))
        : undefined;
    },
  };

  return {
    force(req, request) {
      const selection = readSelection(req);
      if (selection === undefined) {
        return undefined;
      }
      const { operation } = request;
      const documented = catalog.get(operation.id) ?? new Map();
      // A selection the operation can't honour is a 422 where the operation documents one; where it doesn't (the
      // liveness probe, which ignores its query), the selectors are ignored: the sandbox answers only documented statuses.
      const refuse = (error: ApiError) => (documented.has(422) ? fail(error) : undefined);
      if (selection instanceof ApiError) {
        return refuse(selection);
      }
      const statuses = [...documented.keys()];
      // Prism: no code means the lowest 2xx the operation documents (else its first response).
      const status = selection.code ?? statuses.filter((s) => s >= 200 && s < 300).sort()[0] ?? statuses[0];
      const examples = status === undefined ? undefined : documented.get(status);
      if (status === undefined || examples === undefined) {
        return refuse(
          invalidSelection(
            fieldOf(selection, 'code'),
            `${selection.code} is not a status ${operation.id} documents; it documents ${statuses.join(', ')}`,
          ),
        );
      }
      const names = [...examples.keys()];
      if (selection.example !== undefined && !examples.has(selection.example)) {
        return refuse(
          invalidSelection(
            fieldOf(selection, 'example'),
            `${selection.example} is not an example of the ${status} response of ${operation.id}; its examples: ${names.join(', ') || 'none'}`,
          ),
        );
      }
      const example = selection.example ?? names[0];
      req.scenario = { status, example };
      if (status < 400) {
        return { stage: 'success' };
      }
      const asked: Asked = {
        ...request,
        status,
        example,
        value: example === undefined ? undefined : examples.get(example),
        selection,
      };
      const forced = byStatus[status]?.(asked) ?? fromExample(asked);
      // An operation that counts nothing has no rate-limit stage to refuse at.
      return forced.stage === 'limit' && operation.rateLimit === 'none' ? raise(() => exampleError(asked)) : forced;
    },
  };
}

/**
 * A documented error with no producer of its own (a cause this module doesn't know yet): the example's code and
 * message, through the real error handler, with the real rate-limit headers; a 401 with its challenge.
 */
function fromExample(asked: Asked): Forced {
  const error = exampleError(asked);
  if (asked.status === 401) {
    return { stage: 'authenticate', error: unauthorized(refuseCredential(error.message)) };
  }
  if (asked.status === 429) {
    return { stage: 'limit', decide: exhaustedDecision };
  }
  return { stage: 'operation', error: () => error };
}

/** The example's code (when it belongs to the status) and message, else the status's generic code. */
function exampleError(asked: Asked): ApiError {
  const given = asked.value?.error;
  const code =
    given?.code !== undefined && ERROR_STATUS[given.code as ErrorCode] === asked.status
      ? (given.code as ErrorCode)
      : genericCode(asked.status);
  if (code === undefined) {
    return invalidSelection(fieldOf(asked.selection, 'code'), `${asked.status} has no error code to answer with`);
  }
  return new ApiError(code, given?.message ?? `${code} (a sandbox scenario)`);
}

/** The first code the spec lists for a status: its generic code. */
function genericCode(status: number): ErrorCode | undefined {
  return (Object.keys(ERROR_STATUS) as ErrorCode[]).find((code) => ERROR_STATUS[code] === status);
}

function invalidSelection(field: string, message: string): ApiError {
  return new ApiError('VALIDATION_ERROR', INVALID_DATA, { details: { [field]: [message] } });
}

/** The field a selector came from: `headers.prefer`, or `query.__code` / `query.__example`. */
function fieldOf(selection: Pick<Selection, 'source'>, selector: 'code' | 'example'): string {
  return selection.source === 'query' ? `query.__${selector}` : 'headers.prefer';
}

/**
 * The selectors of a request, read as Prism reads them: the `Prefer` header when there is one (whatever it says),
 * else the query. Takes Prism's selector parameters out of the query either way, so the input check never sees them.
 * Undefined when nothing is selected; a 422 for a selector Prism would refuse too.
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
    return new ApiError('VALIDATION_ERROR', INVALID_DATA, { details: problems });
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

/** The statuses an operation documents, each with its examples by name, from the bundled spec. */
function documentedResponses(spec: OpenApiDocument, operation: Operation): Documented {
  const item = spec.paths[operation.path] ?? {};
  const op = item[operation.method.toLowerCase()] as { responses?: Record<string, unknown> } | undefined;
  const documented: Documented = new Map();
  for (const [status, response] of Object.entries(op?.responses ?? {})) {
    if (!/^\d{3}$/.test(status)) {
      continue;
    }
    const resolved = resolve(spec, response) as { content?: Record<string, { examples?: Record<string, unknown> }> };
    const examples = new Map<string, ExampleValue | undefined>();
    for (const [name, example] of Object.entries(resolved?.content?.['application/json']?.examples ?? {})) {
      examples.set(name, (resolve(spec, example) as { value?: ExampleValue } | undefined)?.value);
    }
    documented.set(Number(status), examples);
  }
  return documented;
}

/** Follows a local `$ref` (`#/components/...`) of the bundled spec. */
function resolve(spec: OpenApiDocument, node: unknown): unknown {
  let current = node;
  for (let hops = 0; hops < 10; hops++) {
    const ref = (current as { $ref?: unknown } | null)?.$ref;
    if (typeof ref !== 'string' || !ref.startsWith('#/')) {
      return current;
    }
    current = ref
      .slice(2)
      .split('/')
      .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce<unknown>((at, segment) => (at as Record<string, unknown> | undefined)?.[segment], spec);
  }
  return current;
}
