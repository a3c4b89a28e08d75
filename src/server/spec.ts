import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { SecurityRequirement } from './credentials.ts';

// The bundled spec as the server reads it: where it lives, the few shapes the server looks at, and `$ref` resolution.

/** Where the generated (bundled) spec and docs live. */
export const GENERATED_DIR = resolve(import.meta.dirname, '../../generated');

/**
 * How an operation spends from rate-limit windows (`x-rate-limit` in the spec): `count` (the default for a secured
 * operation) and `peek` use the caller's windows; `address` counts a public operation against the client address's
 * window (sign-up, log-in); `none` (the default for a public operation) counts nothing.
 */
export type RateLimitMode = 'count' | 'peek' | 'address' | 'none';

/** A minimal view of the bundled OpenAPI document: what the server reads from it. */
export interface OpenApiDocument {
  info: { version: string };
  paths: Record<string, Record<string, unknown>>;
  security?: SecurityRequirement[];
  components?: { parameters?: Record<string, unknown> };
  [key: string]: unknown;
}

/** A parameter of an operation (or of its path). */
export interface ParameterObject {
  name: string;
  in: string;
  required?: boolean;
  schema?: { type?: string; [keyword: string]: unknown };
  $ref?: string;
}

/** An operation of the spec, as far as the server reads it. */
export interface OperationObject {
  operationId?: string;
  security?: SecurityRequirement[];
  parameters?: ParameterObject[];
  requestBody?: { required?: boolean };
  responses?: Record<string, unknown>;
  'x-rate-limit'?: RateLimitMode;
  'x-eov-allow-unknown-query-parameters'?: boolean;
  /** Exists only on a sandbox (`mailroom serve --sandbox`): any other server answers it 404, as an unknown path. */
  'x-sandbox-only'?: boolean;
}

/** The HTTP methods an OpenAPI path item may declare, lower-case as the spec writes them. */
export const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** Reads the bundled spec from generated/openapi.json. */
export function loadSpec(): OpenApiDocument {
  return JSON.parse(readFileSync(resolve(GENERATED_DIR, 'openapi.json'), 'utf8')) as OpenApiDocument;
}

/**
 * The spec a server serves: the bundled one, without the operations marked `x-sandbox-only` unless it is a sandbox (a
 * path left with no operation goes too, so it is an unknown path, 404, like any other).
 */
export function servedSpec(spec: OpenApiDocument, options: { sandbox: boolean }): OpenApiDocument {
  if (options.sandbox) {
    return spec;
  }
  const paths: OpenApiDocument['paths'] = {};
  for (const [path, item] of Object.entries(spec.paths)) {
    const kept = Object.fromEntries(
      Object.entries(item).filter(
        ([key, op]) => !(METHODS as readonly string[]).includes(key) || !(op as OperationObject)['x-sandbox-only'],
      ),
    );
    if (METHODS.some((method) => method in kept)) {
      paths[path] = kept;
    }
  }
  return { ...spec, paths };
}

/** Follows a local `$ref` (`#/components/...`) of the bundled spec; anything else is returned as it is. */
export function resolveRef(spec: OpenApiDocument, node: unknown): unknown {
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
