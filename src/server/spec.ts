import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** Where the generated (bundled) spec and docs live. */
export const GENERATED_DIR = resolve(import.meta.dirname, '../../generated');

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** A minimal view of the bundled OpenAPI document: what routing needs. */
export interface OpenApiDocument {
  info: { version: string };
  paths: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
}

/** One operation of the spec, as the router sees it. */
export interface SpecOperation {
  method: string;
  path: string;
  operationId: string;
}

/** A spec path with its methods and a matcher. */
export interface SpecPath {
  path: string;
  methods: string[];
  pattern: RegExp;
}

/** True for the versioned API's paths (`/v1` and below), which need a key and carry rate-limit headers. */
export function isV1Path(path: string): boolean {
  return path === '/v1' || path.startsWith('/v1/');
}

/** Reads the bundled spec from generated/openapi.json. */
export function loadSpec(): OpenApiDocument {
  return JSON.parse(readFileSync(resolve(GENERATED_DIR, 'openapi.json'), 'utf8')) as OpenApiDocument;
}

/** Every operation of the spec, with its Express path. */
export function listOperations(spec: OpenApiDocument): SpecOperation[] {
  const operations: SpecOperation[] = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of METHODS) {
      const op = item[method] as { operationId?: string } | undefined;
      if (op?.operationId) {
        operations.push({ method, path, operationId: op.operationId });
      }
    }
  }
  return operations;
}

/** Matchers for every spec path, literal paths first so `/v1/api-keys/validate` wins over `/v1/api-keys/{keyId}`. */
export function compilePaths(spec: OpenApiDocument): SpecPath[] {
  const compiled = Object.entries(spec.paths).map(([path, item]) => ({
    path,
    methods: METHODS.filter((m) => m in item).map((m) => m.toUpperCase()),
    pattern: new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{(\w+)\\?\}/g, '(?<$1>[^/]+)')}/?$`),
  }));
  const templated = (p: SpecPath) => (p.path.includes('{') ? 1 : 0);
  return compiled.sort((a, b) => templated(a) - templated(b));
}

/** The spec path a URL path belongs to, if any. */
export function matchPath(paths: SpecPath[], urlPath: string): SpecPath | undefined {
  return paths.find((p) => p.pattern.test(urlPath));
}
