// The spec, read independently of the server's own routing code: the typed bodies the tests narrow replies to, and
// every operation with the statuses it documents.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { components, operations } from '../../../generated/schema.d.ts';

/** The spec's error body. */
export type ErrorBody = components['schemas']['ErrorEnvelope'];

/** The JSON body an operation answers with for a status, as the spec (generated/schema.d.ts) types it. */
export type Body<
  Op extends keyof operations,
  Status extends keyof operations[Op]['responses'],
> = operations[Op]['responses'][Status] extends { content: { 'application/json': infer B } } ? B : never;

/** What a body is known to be before a test narrows it: one of the two envelopes. */
export interface Envelope {
  success: boolean;
  data?: unknown;
  meta?: Record<string, unknown>;
  error?: ErrorBody['error'];
}

interface SpecOperationObject {
  operationId?: string;
  responses?: Record<string, { $ref?: string; headers?: Record<string, unknown> }>;
  requestBody?: unknown;
  security?: Record<string, string[]>[];
  'x-sandbox-only'?: boolean;
  'x-envelope'?: boolean;
}

interface SpecDocument {
  paths: Record<string, Record<string, SpecOperationObject | unknown>>;
  security?: Record<string, string[]>[];
  components: {
    schemas: { ErrorCode: { 'x-error-statuses': Record<string, number> } };
    responses: Record<string, { headers?: Record<string, unknown> }>;
  };
}

/** generated/openapi.json, the bundled contract. */
export const SPEC = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../../generated/openapi.json', import.meta.url)), 'utf8'),
) as SpecDocument;

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** One operation of the spec with the statuses it documents. */
export interface SpecOperation {
  method: string;
  path: string;
  operationId: string;
  statuses: number[];
  /** The statuses whose response declares the rate-limit headers. */
  rateLimited: number[];
  /** The security scheme names its effective security requirement names (empty: public). */
  schemes: string[];
  /** What its security requirement names: a permission (`contacts:write`) or a role (`owner`). */
  roles: string[];
  /** Whether it takes a request body. */
  takesBody: boolean;
  /** Exists only on a sandbox (`x-sandbox-only`): any other server answers it 404. */
  sandboxOnly: boolean;
  /** Its success answers are a partner's format, not the envelope (`x-envelope: false`: GitHub's feedback array). */
  unenveloped: boolean;
}

/** The headers a response of the bundled spec declares (following a $ref to components/responses). */
function declaredHeaders(response: { $ref?: string; headers?: Record<string, unknown> }): string[] {
  const resolved = response.$ref
    ? SPEC.components.responses[response.$ref.replace('#/components/responses/', '')]
    : response;
  return Object.keys(resolved?.headers ?? {}).map((name) => name.toLowerCase());
}

/** Every operation of the spec. */
export const SPEC_OPERATIONS: SpecOperation[] = Object.entries(SPEC.paths).flatMap(([path, item]) =>
  HTTP_METHODS.filter((m) => m in item).map((m) => {
    const op = item[m] as SpecOperationObject;
    const responses = Object.entries(op.responses ?? {});
    return {
      method: m.toUpperCase(),
      path,
      operationId: String(op.operationId),
      statuses: responses.map(([status]) => Number(status)),
      rateLimited: responses
        .filter(([, response]) => declaredHeaders(response).includes('x-ratelimit-limit'))
        .map(([status]) => Number(status)),
      schemes: [...new Set((op.security ?? SPEC.security ?? []).flatMap((alternative) => Object.keys(alternative)))],
      roles: [
        ...new Set((op.security ?? SPEC.security ?? []).flatMap((alternative) => Object.values(alternative).flat())),
      ],
      takesBody: op.requestBody !== undefined,
      sandboxOnly: op['x-sandbox-only'] === true,
      unenveloped: op['x-envelope'] === false,
    };
  }),
);

/** Each error code's one status, from the spec's `x-error-statuses`. */
export const ERROR_STATUSES: Record<string, number> = SPEC.components.schemas.ErrorCode['x-error-statuses'];

interface PathMatcher {
  path: string;
  methods: string[];
  pattern: RegExp;
}

// Literal paths first, so /v1/api-keys/validate is not taken for /v1/api-keys/{keyId}.
const PATH_MATCHERS: PathMatcher[] = Object.keys(SPEC.paths)
  .map((path) => ({
    path,
    methods: SPEC_OPERATIONS.filter((op) => op.path === path).map((op) => op.method),
    pattern: new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{\w+\}/g, '[^/]+')}$`),
  }))
  .sort((a, b) => Number(a.path.includes('{')) - Number(b.path.includes('{')));

/** The `Allow` of a path whose operations are `methods`: those methods, and HEAD wherever GET is (RFC 9110). */
export function allowOf(methods: string[]): string {
  return methods
    .flatMap((method) => (method === 'GET' && !methods.includes('HEAD') ? ['GET', 'HEAD'] : [method]))
    .join(', ');
}

/** The spec path template a URL path belongs to (`/v1/contacts/ct_x` → `/v1/contacts/{contactId}`), if any. */
export function specPathOf(urlPath: string): PathMatcher | undefined {
  return PATH_MATCHERS.find((p) => p.pattern.test(urlPath));
}
