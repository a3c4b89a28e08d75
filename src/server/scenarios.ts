import type { Request } from 'express';
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
import { type Caller, refusalWithout } from './caller.ts';
import {
  ApiError,
  apiKeyNotFound,
  BODY_REFUSALS,
  CHUNKED_BODY_MALFORMED,
  CREDENTIAL_REFUSALS,
  contactNotFound,
  ERROR_STATUS,
  type ErrorCode,
  FAILED_LOG_INS,
  FAILED_LOG_INS_FROM_ADDRESS,
  headersTooLarge,
  idempotencyKeyInUse,
  idempotencyKeyReused,
  invalidField,
  keyAlreadyRotated,
  keyExpired,
  loginFailed,
  malformedRequest,
  memberNotFound,
  methodNotAllowed,
  noSuchAccount,
  organizationNotFound,
  othersMembership,
  payloadTooLarge,
  periodOverRetention,
  periodReversed,
  permissionsNotHeld,
  samePassword,
  sessionNotFound,
  USER_TOKEN_REFUSALS,
  unauthorized,
  unsupportedMediaType,
  weakPassword,
  wrongCurrentPassword,
} from './errors.ts';
import type { Operation } from './operations.ts';
import type { Exchange, ForcedRefusal, StageHooks } from './pipeline.ts';
import { readSelection, type Selection, selectorField } from './scenario-selection.ts';
import { type OpenApiDocument, resolveRef } from './spec.ts';
import { DEFAULT_USAGE_OPTIONS } from './usage-recorder.ts';

/**
 * Sandbox scenarios (`mailroom serve --scenarios`): the stateful server honours the Prism mock's own selectors —
 * `Prefer: code=NNN, example=NAME`, or `?__code=NNN&__example=NAME` when there is no `Prefer` header (read in
 * scenario-selection.ts) — and produces the documented outcome through the code that produces it for real, at the
 * stage of the pipeline that produces it (pipeline.ts `StageHooks`): the 401 of that cause once the real credential
 * has been verified, the caller's own windows exhausted at the limit stage, the route's own 404 or the error
 * handler's unexpected-error path where the handler would run. A forced error changes no stored data; a forced
 * success runs the operation. Where Prism answers an undocumented status or an unknown example with its own
 * problem+json (404, or 500), the sandbox answers 422 VALIDATION_ERROR in the envelope, naming what the operation
 * documents.
 */

/** A forced outcome and the stage of the pipeline that produces it. */
type Forced =
  /** A 401, answered once the real credential has been verified (a request without a valid one gets the real 401). */
  | { stage: 'authenticate'; error: ApiError }
  /** A refusal of the rate-limit stage (429, a rate-limit store outage's 503), on windows read without counting. */
  | { stage: 'limit'; refusal: ForcedRefusal }
  /** Any other error, raised where the handler would run, after every real stage has passed. */
  | { stage: 'operation'; error: (req: Request) => Error }
  /** A success status: the operation runs. */
  | { stage: 'success' };

/** The error a forced 500 raises: not an ApiError, so the error handler takes its unexpected-error path. */
export class ScenarioFault extends Error {
  override name = 'ScenarioFault';
}

interface ExampleValue {
  error?: { code?: string; message?: string; details?: { permissions?: string[] } };
}

/** One documented response: its example names in the spec's order (the first is the default) and their values. */
type Documented = Map<number, Map<string, ExampleValue | undefined>>;

/** What a producer is given: the request as the pipeline knows it, the status and the chosen example. */
interface Asked {
  operation: Operation;
  params: Record<string, string>;
  caller: Caller | undefined;
  /** The roles the operation's security requirement names (e.g. `write`). */
  roles: string[];
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
  sessionId: sessionNotFound,
};

/** The 404 examples of the organization operations, by name: the path parameter whose resource is missing. */
const NOT_FOUND_BY_EXAMPLE: Record<string, string> = {
  organizationNotFound: 'organizationId',
  apiKeyNotFound: 'keyId',
  memberNotFound: 'userId',
};

/** The failed-log-in windows a forced `tooManyLogIns…` reads (never counts): an email with no failed log-in. */
const SCENARIO_ACCOUNT_WINDOW: WindowSubject = { window: 'account', id: 'sandbox-scenario' };
const SCENARIO_PAIR_WINDOW: WindowSubject = { window: 'account-address', id: 'sandbox-scenario' };

/** Every window exhausted, the one named binding (the failed-log-in window an example names), its reset the wait. */
function exhaustedIn(name: string): (windows: LimitDecision) => LimitDecision {
  return (windows) => {
    const exhausted = exhaustedDecision(windows);
    const binding = exhausted.windows.find((window) => window.name === name) ?? exhausted.binding;
    return { ...exhausted, binding, retryAfterSeconds: Math.max(1, binding.resetSeconds) };
  };
}

/**
 * The 422s a handler raises itself (a password's own checks, a usage period's), by example name. A usage period over
 * the retention names the default retention: the scenario knows the spec, not the server's settings.
 */
const INVALID_BY_EXAMPLE: Record<string, (operation: Operation) => ApiError> = {
  commonPassword: (operation) => weakPassword(operation.id === 'changePassword' ? 'newPassword' : 'password', 'common'),
  wrongCurrentPassword: () => wrongCurrentPassword(),
  samePassword: () => samePassword(),
  fromAfterTo: () => periodReversed(),
  overRetention: () => periodOverRetention(DEFAULT_USAGE_OPTIONS.retentionDays),
};

/** The email a request's body names, if any. */
function bodyEmail(req: Request): string | undefined {
  const email = (req.body as { email?: unknown } | undefined)?.email;
  return typeof email === 'string' ? email : undefined;
}

/** The permissions a request's body asks for, if any. */
function bodyPermissions(req: Request): string[] | undefined {
  const permissions = (req.body as { permissions?: unknown } | undefined)?.permissions;
  return Array.isArray(permissions) && permissions.length > 0 ? permissions.map(String) : undefined;
}

/** Whether an operation takes a user token (the account operations) rather than an API key. */
function takesUserToken(operation: Operation): boolean {
  return operation.security.some((alternative) => Object.hasOwn(alternative, 'userToken'));
}

const fail = (error: ApiError): Forced => ({ stage: 'operation', error: () => error });
const raise = (error: (req: Request) => Error): Forced => ({ stage: 'operation', error });
const refuseAtLimit = (refusal: ForcedRefusal): Forced => ({ stage: 'limit', refusal });

/** The 409 each example names, raised as the store or the route raises it. */
const CONFLICT_BY_EXAMPLE: Record<string, (req: Request, clock: () => Date) => Error> = {
  keyLimitReached: () => new KeyLimitError(MAX_ACTIVE_KEYS),
  idempotencyKeyInUse: () => idempotencyKeyInUse(),
  keyAlreadyRotated: (req) => keyAlreadyRotated(String(req.params.keyId), 'key_0000000000000000'),
  keyExpired: (req, clock) => keyExpired(String(req.params.keyId), clock()),
  duplicateAccount: () => new DuplicateUserError(),
  alreadyMember: (req) => new DuplicateMemberError(bodyEmail(req) ?? 'someone@example.com'),
  lastOwner: () => new LastOwnerError(),
};

/** The outcome each documented error status forces, as the real pipeline produces it; undefined: see `fromExample`. */
function producersFor(clock: () => Date): Record<number, Producer> {
  return {
    // The edge's words for a broken framing (it answers before the app runs), else the body parser's.
    400: ({ example }) =>
      fail(example === 'malformedRequest' ? malformedRequest(CHUNKED_BODY_MALFORMED) : BODY_REFUSALS.notJson()),
    401: ({ example, operation }) => {
      if (example === 'invalidCredentials') {
        // Log-in's own refusal, raised where the handler would refuse the password.
        return fail(loginFailed());
      }
      // The authenticator's own refusal of that cause, for the credential the operation takes.
      const refusals: Record<string, (at: Date) => ApiError> = takesUserToken(operation)
        ? USER_TOKEN_REFUSALS
        : CREDENTIAL_REFUSALS;
      const cause = example !== undefined && Object.hasOwn(refusals, example) ? refusals[example] : undefined;
      return cause && operation.security.length > 0 ? { stage: 'authenticate', error: cause(clock()) } : undefined;
    },
    403: ({ example, caller, roles, operation, value }) => {
      if (example === 'othersMembership') {
        return fail(othersMembership());
      }
      if (example === 'permissionNotHeld') {
        // The permissions the request asks for, else the example's own: what a key lacking them would be told.
        const shown = value?.error?.details?.permissions;
        return raise((req) => permissionsNotHeld(bodyPermissions(req) ?? shown ?? roles));
      }
      const required = roles[0];
      // Worded when raised: by then the authorize stage has read a user's membership of the organization in the path.
      return caller && required !== undefined ? raise(() => refusalWithout(caller, required, operation)) : undefined;
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
      const conflict = asked.example === undefined ? undefined : CONFLICT_BY_EXAMPLE[asked.example];
      if (conflict) {
        return raise((req) => conflict(req, clock));
      }
      return asked.example === 'duplicateEmail'
        ? raise((req) => {
            // The email the request names, else the example's own words.
            const email = bodyEmail(req);
            return email !== undefined ? new DuplicateEmailError(email) : exampleError(asked);
          })
        : undefined;
    },
    413: () => fail(payloadTooLarge()),
    415: () => fail(unsupportedMediaType('text/plain')),
    422: ({ selection, status, example, operation }) => {
      if (example === 'idempotencyKeyReused') {
        return fail(idempotencyKeyReused());
      }
      const invalid = example === undefined ? undefined : INVALID_BY_EXAMPLE[example];
      return invalid
        ? fail(invalid(operation))
        : fail(invalidField(selectorField(selection, 'code'), `asks for ${status} (a sandbox scenario)`));
    },
    429: ({ example }) => {
      if (example === 'tooManyLogIns') {
        return refuseAtLimit({ decide: exhaustedIn('account'), also: [SCENARIO_ACCOUNT_WINDOW], what: FAILED_LOG_INS });
      }
      return example === 'tooManyLogInsFromAddress'
        ? refuseAtLimit({
            decide: exhaustedIn('account-address'),
            also: [SCENARIO_PAIR_WINDOW],
            what: FAILED_LOG_INS_FROM_ADDRESS,
          })
        : refuseAtLimit({ decide: exhaustedDecision });
    },
    // Produced by the HTTP edge before the app; forced here with the edge's own words.
    431: () => fail(headersTooLarge()),
    500: ({ status }) =>
      raise(() => new ScenarioFault(`code=${status} forced by a sandbox scenario: the unexpected-error path`)),
    503: ({ example }) => {
      if (example === 'rateLimitStoreDown') {
        return refuseAtLimit({ decide: (windows) => outageDecision(windows.windows) });
      }
      return example === 'serviceUnavailable'
        ? raise(() => new StoreUnavailableError('forced by a sandbox scenario'))
        : undefined;
    },
  };
}

/**
 * The sandbox's hooks into the pipeline's stages, from the bundled spec: every operation's documented statuses and
 * examples. The selectors are read once, as the caller is verified; the outcome they force is produced at its stage.
 */
export function createScenarioHooks(
  spec: OpenApiDocument,
  operations: readonly Operation[],
  clock: () => Date,
): StageHooks {
  const catalog = new Map<string, Documented>();
  for (const operation of operations) {
    catalog.set(operation.id, documentedResponses(spec, operation));
  }
  const producers = producersFor(clock);
  const forcedOf = new WeakMap<Exchange, Forced>();
  return {
    authenticated(exchange) {
      const forced = force(exchange, catalog, producers);
      if (forced) {
        forcedOf.set(exchange, forced);
      }
      return forced?.stage === 'authenticate' ? forced.error : undefined;
    },
    limiting(exchange) {
      const forced = forcedOf.get(exchange);
      return forced?.stage === 'limit' ? forced.refusal : undefined;
    },
    running(exchange) {
      const forced = forcedOf.get(exchange);
      return forced?.stage === 'operation' ? forced.error(exchange.req) : undefined;
    },
  };
}

/**
 * Reads the request's selectors (taking `__code`/`__example`/`__dynamic`/`__seed` out of its query) and returns the
 * outcome they force; undefined when they force nothing. An invalid selection forces a 422.
 */
function force(
  exchange: Exchange,
  catalog: Map<string, Documented>,
  producers: Record<number, Producer>,
): Forced | undefined {
  const { req, operation } = exchange;
  const selection = operation ? readSelection(req) : undefined;
  if (!operation || selection === undefined) {
    return undefined;
  }
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
      invalidField(
        selectorField(selection, 'code'),
        `${selection.code} is not a status ${operation.id} documents; it documents ${statuses.join(', ')}`,
      ),
    );
  }
  const names = [...examples.keys()];
  if (selection.example !== undefined && !examples.has(selection.example)) {
    return refuse(
      invalidField(
        selectorField(selection, 'example'),
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
    operation,
    params: exchange.params,
    caller: exchange.caller,
    roles: exchange.roles,
    status,
    example,
    value: example === undefined ? undefined : examples.get(example),
    selection,
  };
  const forced = producers[status]?.(asked) ?? fromExample(asked);
  // An operation that counts nothing has no rate-limit stage to refuse at.
  return forced.stage === 'limit' && operation.rateLimit === 'none' ? raise(() => exampleError(asked)) : forced;
}

/**
 * A documented error with no producer of its own (a cause this module doesn't know yet): the example's code and
 * message, through the real error handler, with the real rate-limit headers; a 401 with its challenge.
 */
function fromExample(asked: Asked): Forced {
  const error = exampleError(asked);
  if (asked.status === 401) {
    return { stage: 'authenticate', error: unauthorized(error.message) };
  }
  if (asked.status === 429) {
    return refuseAtLimit({ decide: exhaustedDecision });
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
    return invalidField(selectorField(asked.selection, 'code'), `${asked.status} has no error code to answer with`);
  }
  return new ApiError(code, given?.message ?? `${code} (a sandbox scenario)`);
}

/** The first code the spec lists for a status: its generic code. */
function genericCode(status: number): ErrorCode | undefined {
  return (Object.keys(ERROR_STATUS) as ErrorCode[]).find((code) => ERROR_STATUS[code] === status);
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
    const resolved = resolveRef(spec, response) as {
      content?: Record<string, { examples?: Record<string, unknown> }>;
    };
    const examples = new Map<string, ExampleValue | undefined>();
    for (const [name, example] of Object.entries(resolved?.content?.['application/json']?.examples ?? {})) {
      examples.set(name, (resolveRef(spec, example) as { value?: ExampleValue } | undefined)?.value);
    }
    documented.set(Number(status), examples);
  }
  return documented;
}
