// Header checks for the responses Prism cannot validate: a request sent past it (malformed JSON, which Prism
// would answer itself) or to a method the path does not declare (a 405: Prism finds no operation to
// validate against). Their declared headers are still required, and a 405's Allow must name exactly the
// methods the spec documents for the path.
import { type Json, pathPattern, responseFor, type SpecOperation } from './spec.ts';

/** The check class this module adds, as the report names it. */
export const DECLARED_HEADER_CHECKS = {
  allow: 'a 405 carries Allow naming exactly the methods the spec documents for the path (HEAD and OPTIONS aside)',
} as const;

/** Something wrong with a declared header. */
export interface DeclaredHeaderFinding {
  check: 'header-schema' | 'allow';
  message: string;
}

const METHODS_ANY_SERVER_MAY_ADD = new Set(['HEAD', 'OPTIONS']);

/** Checks `status`'s declared headers on a response to `method url` that Prism did not validate. */
export function checkDeclaredHeaders(
  operations: SpecOperation[],
  method: string,
  url: string,
  status: number,
  headers: Record<string, string | undefined>,
): DeclaredHeaderFinding[] {
  const path = url.split('?')[0] ?? url;
  // The documented path this URL is: a literal path wins over a templated one (`/v1/api-keys/validate`).
  const templates = (p: string) => (p.match(/\{/g) ?? []).length;
  const specPath = operations
    .map((op) => op.path)
    .filter((p) => pathPattern(p).test(path))
    .sort((a, b) => templates(a) - templates(b))[0];
  const onPath = operations.filter((op) => op.path === specPath);
  if (onPath.length === 0) {
    return [];
  }
  const operation =
    onPath.find((op) => op.method === method.toUpperCase()) ?? onPath.find((op) => responseFor(op, status));
  const response: Json = operation ? responseFor(operation, status) : undefined;
  const findings: DeclaredHeaderFinding[] = [];
  for (const [name, header] of Object.entries<Json>(response?.headers ?? {})) {
    const value = headers[name.toLowerCase()];
    if (value === undefined) {
      if (header?.required) {
        findings.push({ check: 'header-schema', message: `required header ${name} is missing` });
      }
      continue;
    }
    const type = header?.schema?.type;
    if ((type === 'integer' || type === 'number') && !/^-?\d+(\.\d+)?$/.test(value.trim())) {
      findings.push({ check: 'header-schema', message: `header ${name} must be ${type}, got "${value}"` });
    }
  }
  if (status === 405) {
    const documented = new Set(onPath.map((op) => op.method));
    const allow = headers.allow;
    if (allow === undefined) {
      findings.push({
        check: 'allow',
        message: `a 405 without Allow (the path documents ${[...documented].join(', ')})`,
      });
    } else {
      const allowed = new Set(
        allow
          .split(',')
          .map((m) => m.trim().toUpperCase())
          .filter(Boolean),
      );
      const missing = [...documented].filter((m) => !allowed.has(m));
      const extra = [...allowed].filter((m) => !documented.has(m) && !METHODS_ANY_SERVER_MAY_ADD.has(m));
      if (missing.length > 0 || extra.length > 0) {
        findings.push({
          check: 'allow',
          message: `Allow "${allow}" but the spec documents ${[...documented].join(', ')} for ${path}`,
        });
      }
    }
  }
  return findings;
}
