import { z } from 'zod';

/** One counting window: at most `limit` requests per `windowSeconds`. */
export interface WindowConfig {
  name: string;
  limit: number;
  windowSeconds: number;
}

/** A plan is a set of windows that must all admit a request. */
export interface PlanConfig {
  windows: WindowConfig[];
}

/** Plans by name, as stored on the organization. */
export type PlanTable = Record<string, PlanConfig>;

/** Name of the per-key window added when a key has its own `rateLimit` (requests per minute). */
export const KEY_WINDOW_NAME = 'key';

/** Length of the per-key window: a key's `rateLimit` is a per-minute budget. */
export const KEY_WINDOW_SECONDS = 60;

/** Name of the window counting failed authentications per client address. */
export const FAILED_AUTH_WINDOW_NAME = 'auth-failures';

/** Built-in plans, used when MAILROOM_PLANS does not override them. */
export const DEFAULT_PLANS: PlanTable = {
  free: {
    windows: [
      { name: 'burst', limit: 10, windowSeconds: 1 },
      { name: 'minute', limit: 100, windowSeconds: 60 },
    ],
  },
  pro: {
    windows: [
      { name: 'burst', limit: 50, windowSeconds: 1 },
      { name: 'minute', limit: 1000, windowSeconds: 60 },
    ],
  },
  enterprise: {
    windows: [
      { name: 'burst', limit: 200, windowSeconds: 1 },
      { name: 'minute', limit: 10000, windowSeconds: 60 },
    ],
  },
};

/** Failed authentications allowed per client address: 20 per minute. */
export const DEFAULT_FAILED_AUTH_WINDOW: WindowConfig = { name: FAILED_AUTH_WINDOW_NAME, limit: 20, windowSeconds: 60 };

/** The windows of requests that are not counted against an organization's plan (see AccountWindows). */
export type AccountWindowName = 'user' | 'address' | 'account-address' | 'account';

/**
 * The account side's windows, each counted per subject: `user`, every request made with a user token, per user
 * (wherever the user works, so belonging to many organizations adds no budget, and dashboard traffic never drains an
 * organization's API pool); `address`, sign-up and log-in per client address; `account-address`, failed log-ins per
 * email and client address; `account`, failed log-ins per email from addresses that have not signed in to it lately
 * (whether or not an account has the email, so neither window says anything about which emails are registered).
 */
export type AccountWindows = Record<AccountWindowName, WindowConfig>;

/**
 * The windows of failed log-ins, counted in slots aligned to the server's clock (a 15-minute window runs from :00,
 * :15, :30 and :45) rather than from the first failure: a slot is computed from the clock the server is given, so the
 * proofs of the throttle run an hour in a second.
 */
export const ALIGNED_WINDOWS: ReadonlySet<AccountWindowName> = new Set(['account-address', 'account']);

/**
 * Default account windows: 120 user-token requests a minute per user; 20 sign-ups or log-ins a minute per address;
 * 5 failed log-ins per email and address in 15 minutes (that pair only is refused); 10 failed log-ins per email an
 * hour from addresses without a sign-in to it in the last 30 days (those addresses are refused; the others are not).
 */
export const DEFAULT_ACCOUNT_WINDOWS: AccountWindows = {
  user: { name: 'user', limit: 120, windowSeconds: 60 },
  address: { name: 'address', limit: 20, windowSeconds: 60 },
  'account-address': { name: 'account-address', limit: 5, windowSeconds: 900 },
  account: { name: 'account', limit: 10, windowSeconds: 3600 },
};

/** Thrown for an invalid plan table; the message is one line naming the source, plan, window and field. */
export class PlanConfigError extends Error {
  override name = 'PlanConfigError';
}

// Names end up in Redis keys and in quoted structured-field strings (RateLimit-Policy), so keep them to a safe,
// unambiguous alphabet: no colons, quotes, backslashes or spaces.
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const NAME_RULE = 'must be 1-64 characters of letters, digits, "_", "." or "-", starting with a letter or digit';
const RESERVED_WINDOW_NAMES = new Set([KEY_WINDOW_NAME, FAILED_AUTH_WINDOW_NAME]);

// Whole seconds only: the Redis store sets expiry with EX (seconds), so a sub-second window would never expire.
const positiveInteger = z
  .number({ required_error: 'is required', invalid_type_error: 'must be a positive integer' })
  .int('must be a positive integer')
  .positive('must be a positive integer')
  .max(Number.MAX_SAFE_INTEGER, 'must be a positive integer');

const windowSchema = z
  .object({
    name: z
      .string({ required_error: 'is required', invalid_type_error: 'must be a string' })
      .regex(NAME_PATTERN, NAME_RULE),
    limit: positiveInteger,
    windowSeconds: positiveInteger,
  })
  .strict();

const planSchema = z
  .object({
    windows: z
      .array(windowSchema, { required_error: 'is required', invalid_type_error: 'must be an array' })
      .min(1, 'must list at least one window'),
  })
  .strict()
  .superRefine((plan, ctx) => {
    const seen = new Set<string>();
    plan.windows.forEach((window, index) => {
      if (RESERVED_WINDOW_NAMES.has(window.name)) {
        ctx.addIssue({ code: 'custom', path: ['windows', index, 'name'], message: 'is reserved' });
      } else if (seen.has(window.name)) {
        ctx.addIssue({ code: 'custom', path: ['windows', index, 'name'], message: 'is used twice in this plan' });
      }
      seen.add(window.name);
    });
  });

const planTableSchema = z.record(planSchema, { invalid_type_error: 'must be an object of plans by name' });

/** Validates a plan table (e.g. built in code or read from a file); throws PlanConfigError naming `source`. */
export function validatePlanTable(value: unknown, source = 'plans'): PlanTable {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const planName of Object.keys(value)) {
      if (!NAME_PATTERN.test(planName)) {
        throw new PlanConfigError(`${source}: plan "${planName}": name ${NAME_RULE}`);
      }
    }
  }
  const result = planTableSchema.safeParse(value);
  if (!result.success) {
    throw new PlanConfigError(describeIssue(source, value, result.error.issues[0]));
  }
  return result.data;
}

/** Validates one window (e.g. the failed-authentication window); throws PlanConfigError naming `source`. */
export function validateWindow(value: unknown, source = 'window'): WindowConfig {
  const result = windowSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue?.path.join('.') ?? '';
    throw new PlanConfigError(`${source}: ${formatFieldMessage(field, issue, WINDOW_FIELDS)}`);
  }
  return result.data;
}

/**
 * Parses MAILROOM_PLANS (JSON of the PlanTable shape). Plans it names replace the same-named plans of `base`; the
 * others are kept, so overriding "pro" alone never drops "free". Pass `{}` as `base` for a full replacement.
 */
export function parsePlans(json: string, base: PlanTable = DEFAULT_PLANS, source = 'MAILROOM_PLANS'): PlanTable {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new PlanConfigError(`${source}: invalid JSON: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new PlanConfigError(`${source}: must be a JSON object of plans by name, e.g. {"pro":{"windows":[...]}}`);
  }
  return { ...base, ...validatePlanTable(value, source) };
}

/** Turns a zod issue into `source: plan "pro" window "burst": limit must be a positive integer`. */
function describeIssue(source: string, input: unknown, issue: z.ZodIssue | undefined): string {
  if (issue === undefined) {
    return `${source}: invalid plan table`;
  }
  const [planName, windowsKey, windowIndex, ...rest] = issue.path;
  if (planName === undefined) {
    return `${source}: ${issue.message}`;
  }
  let where = `${source}: plan "${planName}"`;
  if (windowsKey !== 'windows') {
    // Issue on the plan object itself (unknown field, missing "windows").
    return `${where}: ${formatFieldMessage(windowsKey === undefined ? '' : String(windowsKey), issue, PLAN_FIELDS)}`;
  }
  if (windowIndex === undefined) {
    return `${where}: ${formatFieldMessage('windows', issue)}`;
  }
  where += ` window ${windowLabel(input, String(planName), Number(windowIndex))}`;
  return `${where}: ${formatFieldMessage(rest.join('.'), issue, WINDOW_FIELDS)}`;
}

/** Names a window by its `name` when it has a usable one, else by its 1-based position. */
function windowLabel(input: unknown, planName: string, index: number): string {
  const plans = input as Record<string, { windows?: unknown[] } | undefined>;
  const window = plans[planName]?.windows?.[index] as { name?: unknown } | undefined;
  return typeof window?.name === 'string' && window.name !== '' ? `"${window.name}"` : `#${index + 1}`;
}

const PLAN_FIELDS = 'windows';
const WINDOW_FIELDS = 'name, limit, windowSeconds';

/** "limit must be …", or for unknown fields `unknown field "points" (expected name, limit, windowSeconds)`. */
function formatFieldMessage(field: string, issue: z.ZodIssue | undefined, expected?: string): string {
  if (issue === undefined) {
    return 'invalid';
  }
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((key) => `"${key}"`).join(', ');
    const hint = expected === undefined ? '' : ` (expected ${expected})`;
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${keys}${hint}`;
  }
  if (issue.code === 'invalid_type' && issue.received === 'undefined') {
    return `${field} is required`.trim();
  }
  return field === '' ? issue.message : `${field} ${issue.message}`;
}
