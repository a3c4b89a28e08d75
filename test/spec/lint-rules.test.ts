// The project's spec-lint rules (openapi/plugins/mailroom-rules.js, enabled in the root redocly.yaml), each proven
// able to fail: every fixture in ./fixtures is good.yaml with one convention broken, linted by the real Redocly CLI
// with the root redocly.yaml, so a rule that is missing, renamed or turned off there makes these tests fail.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { type LintReport, type Problem, repoRoot, runRedocly } from '../helpers/redocly-cli.ts';

const configPath = path.join(repoRoot, 'redocly.yaml');
const pluginPath = path.join(repoRoot, 'openapi/plugins/mailroom-rules.js');
const fixturesDir = fileURLToPath(new URL('./fixtures/', import.meta.url));

const MAILROOM_RULES = [
  'mailroom/secured-declares-401-429',
  'mailroom/secured-rate-limit-headers',
  'mailroom/request-id-header',
  'mailroom/429-retry-after',
  'mailroom/401-www-authenticate',
  'mailroom/405-allow',
  'mailroom/envelope',
  'mailroom/operation-basics',
  'mailroom/response-example',
  'mailroom/idempotency-key-responses',
  'mailroom/error-codes',
  'mailroom/v1-permission',
  'mailroom/sandbox-only',
] as const;

type RuleId = (typeof MAILROOM_RULES)[number];

interface BrokenFixture {
  name: string;
  fixture: string;
  ruleId: RuleId;
  /** Exactly the problems the fixture must produce, all under `ruleId`. */
  messages: string[];
}

const brokenFixtures: BrokenFixture[] = [
  {
    name: 'a secured /v1 operation without a 429 response is rejected by mailroom/secured-declares-401-429',
    fixture: 'v1-missing-429.yaml',
    ruleId: 'mailroom/secured-declares-401-429',
    messages: ['GET /v1/contacts is missing response 429'],
  },
  {
    name: 'an operation outside /v1 secured by the root security, without a 429 response, is rejected too',
    fixture: 'secured-non-v1-missing-429.yaml',
    ruleId: 'mailroom/secured-declares-401-429',
    messages: ['GET /auth/session is missing response 429'],
  },
  {
    name: 'a public operation counted per client address (x-rate-limit: address) without a 429 is rejected',
    fixture: 'address-limited-missing-429.yaml',
    ruleId: 'mailroom/secured-declares-401-429',
    messages: ['POST /auth/login is missing response 429'],
  },
  {
    name: 'a public operation counted per client address is held to the rate-limit headers',
    fixture: 'address-limited-200-missing-rate-limit-reset.yaml',
    ruleId: 'mailroom/secured-rate-limit-headers',
    messages: ['POST /auth/login 200 response is missing header X-RateLimit-Reset'],
  },
  {
    name: 'a secured response without X-RateLimit-Reset is rejected by mailroom/secured-rate-limit-headers',
    fixture: 'v1-200-missing-rate-limit-reset.yaml',
    ruleId: 'mailroom/secured-rate-limit-headers',
    messages: ['GET /v1/contacts 200 response is missing header X-RateLimit-Reset'],
  },
  {
    name: 'an operation with its own security requirement (a role) is held to the rate-limit headers',
    fixture: 'role-secured-200-missing-rate-limit-reset.yaml',
    ruleId: 'mailroom/secured-rate-limit-headers',
    messages: ['GET /organizations 200 response is missing header X-RateLimit-Reset'],
  },
  {
    name: 'a /livez response without X-Request-Id is rejected by mailroom/request-id-header',
    fixture: 'livez-missing-request-id.yaml',
    ruleId: 'mailroom/request-id-header',
    messages: ['GET /livez 200 response is missing header X-Request-Id'],
  },
  {
    name: 'a 429 response without Retry-After is rejected by mailroom/429-retry-after',
    fixture: '429-missing-retry-after.yaml',
    ruleId: 'mailroom/429-retry-after',
    messages: ['GET /v1/contacts 429 response is missing header Retry-After'],
  },
  {
    name: 'a shared 429 response without Retry-After is reported once, naming every operation that uses it',
    fixture: 'shared-429-missing-retry-after.yaml',
    ruleId: 'mailroom/429-retry-after',
    messages: [
      'GET /v1/contacts 429 response is missing header Retry-After (shared; also used by GET /v1/contacts/export)',
    ],
  },
  {
    name: 'a 401 response without WWW-Authenticate is rejected by mailroom/401-www-authenticate',
    fixture: '401-missing-www-authenticate.yaml',
    ruleId: 'mailroom/401-www-authenticate',
    messages: ['GET /v1/contacts 401 response is missing header WWW-Authenticate'],
  },
  {
    name: 'a 405 response without Allow is rejected by mailroom/405-allow',
    fixture: '405-missing-allow.yaml',
    ruleId: 'mailroom/405-allow',
    messages: ['GET /livez 405 response is missing header Allow'],
  },
  {
    name: 'an envelope whose success is a plain boolean is rejected by mailroom/envelope',
    fixture: 'envelope-success-not-const.yaml',
    ruleId: 'mailroom/envelope',
    messages: [
      'GET /livez 200 response application/json body is not an envelope: property success is neither const: true (success envelope) nor const: false (error envelope)',
      'GET /v1/contacts 200 response application/json body is not an envelope: property success is neither const: true (success envelope) nor const: false (error envelope)',
    ],
  },
  {
    name: 'a success envelope without data is rejected by mailroom/envelope',
    fixture: 'envelope-success-without-data.yaml',
    ruleId: 'mailroom/envelope',
    messages: [
      'GET /livez 200 response application/json body is a success envelope (success: const true) without property data',
    ],
  },
  {
    name: 'a 405 response with a success envelope is rejected by mailroom/envelope',
    fixture: 'envelope-405-with-success-envelope.yaml',
    ruleId: 'mailroom/envelope',
    messages: [
      'GET /livez 405 response application/json body is an error status but uses the success envelope (success: true)',
    ],
  },
  {
    name: 'a snake_case operationId is rejected by mailroom/operation-basics',
    fixture: 'operation-id-snake-case.yaml',
    ruleId: 'mailroom/operation-basics',
    messages: ['GET /v1/contacts operationId "list_contacts" is not camelCase (^[a-z][a-zA-Z0-9]*$)'],
  },
  {
    name: 'a response with only a bare example is rejected by mailroom/response-example',
    fixture: 'bare-example.yaml',
    ruleId: 'mailroom/response-example',
    messages: [
      'GET /livez 200 response application/json has no named example under examples (a bare `example` has no name for Prefer: example=NAME)',
    ],
  },
  {
    name: 'an operation declaring Idempotency-Key without 409, 422 and Idempotent-Replayed is rejected by mailroom/idempotency-key-responses',
    fixture: 'idempotency-key-without-409-422.yaml',
    ruleId: 'mailroom/idempotency-key-responses',
    messages: [
      'GET /v1/contacts declares Idempotency-Key but is missing response 409 (IDEMPOTENCY_KEY_IN_USE)',
      'GET /v1/contacts declares Idempotency-Key but is missing response 422 (IDEMPOTENCY_KEY_REUSED)',
      'GET /v1/contacts 200 response is missing header Idempotent-Replayed',
    ],
  },
  {
    name: 'an error code without a status is rejected by mailroom/error-codes',
    fixture: 'error-code-without-status.yaml',
    ruleId: 'mailroom/error-codes',
    messages: ['error code RATE_LIMITED has no status'],
  },
  {
    name: 'an error code whose status is not an error status is rejected by mailroom/error-codes',
    fixture: 'error-code-status-not-an-error.yaml',
    ruleId: 'mailroom/error-codes',
    messages: ['error code METHOD_NOT_ALLOWED has status 200, not a 4xx or 5xx integer'],
  },
  {
    name: 'a /v1 operation whose security names no permission is rejected by mailroom/v1-permission',
    fixture: 'v1-operation-without-permission.yaml',
    ruleId: 'mailroom/v1-permission',
    messages: [
      'GET /v1/contacts names no permission: give each security alternative one scope (or mark it x-any-key: true)',
    ],
  },
  {
    name: 'an operation under /sandbox/ without x-sandbox-only: true is rejected by mailroom/sandbox-only',
    fixture: 'sandbox-path-not-marked.yaml',
    ruleId: 'mailroom/sandbox-only',
    messages: ['POST /sandbox/reset is under /sandbox/ but not marked x-sandbox-only: true'],
  },
  {
    name: 'an operation marked x-sandbox-only outside /sandbox/ is rejected by mailroom/sandbox-only',
    fixture: 'sandbox-only-outside-sandbox.yaml',
    ruleId: 'mailroom/sandbox-only',
    messages: ['GET /livez is marked x-sandbox-only: true but is not under /sandbox/'],
  },
];

const GOOD_FIXTURE = 'good.yaml';

/** Fixtures that must lint clean, like good.yaml: each proves a rule leaves something alone. */
const cleanFixtures: { name: string; fixture: string }[] = [
  {
    name: 'a /v1 operation declaring security: [] needs no 401, 429 or rate-limit headers',
    fixture: 'public-v1-operation.yaml',
  },
];

/** `redocly lint a b --format json` prints one JSON report per file, one after the other: split them. */
function parseJsonReports(text: string): LintReport[] {
  const reports: LintReport[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  let escaped = false;
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (inString) {
      if (escaped) {
        escaped = false;
      } else if (char === '\\') {
        escaped = true;
      } else if (char === '"') {
        inString = false;
      }
    } else if (char === '"') {
      inString = true;
    } else if (char === '{') {
      if (depth === 0) {
        start = index;
      }
      depth++;
    } else if (char === '}') {
      depth--;
      if (depth === 0) {
        reports.push(JSON.parse(text.slice(start, index + 1)) as LintReport);
      }
    }
  }
  return reports;
}

function describeProblem(problem: Problem): string {
  const [where] = problem.location;
  const position = where?.start ? `:${where.start.line}:${where.start.col}` : '';
  return `${problem.severity} ${problem.ruleId} ${where?.source.ref ?? '?'}${position} ${problem.message}`;
}

const reports = new Map<string, LintReport>();
let lintStderr = '';

// One CLI call lints every fixture (about a second); the reports come back in argument order.
beforeAll(async () => {
  const fixtures = [
    GOOD_FIXTURE,
    ...cleanFixtures.map(({ fixture }) => fixture),
    ...brokenFixtures.map(({ fixture }) => fixture),
  ];
  const lintRun = await runRedocly([
    'lint',
    ...fixtures.map((fixture) => path.join(fixturesDir, fixture)),
    '--config',
    configPath,
    '--format',
    'json',
    '--max-problems',
    '1000',
  ]);
  lintStderr = lintRun.stderr;
  const parsed = parseJsonReports(lintRun.stdout);
  if (parsed.length !== fixtures.length) {
    throw new Error(
      `expected ${fixtures.length} JSON reports from redocly lint, got ${parsed.length}\nstdout:\n${lintRun.stdout}\nstderr:\n${lintRun.stderr}`,
    );
  }
  fixtures.forEach((fixture, index) => {
    const report = parsed[index] as LintReport;
    for (const problem of report.problems) {
      const source = problem.location[0]?.source.ref ?? '';
      if (!source.endsWith(fixture)) {
        throw new Error(`report ${index} should be about ${fixture} but has a problem in ${source}`);
      }
    }
    reports.set(fixture, report);
  });
});

function reportFor(fixture: string): LintReport {
  const report = reports.get(fixture);
  if (report === undefined) {
    throw new Error(`no lint report for ${fixture}`);
  }
  return report;
}

describe('root redocly.yaml', () => {
  const config = parse(readFileSync(configPath, 'utf8')) as {
    apis?: Record<string, { root?: string }>;
    extends?: string[];
    plugins?: string[];
    rules?: Record<string, unknown>;
    decorators?: Record<string, unknown>;
  };

  test('lints openapi/openapi.yaml by default, on top of the recommended ruleset', () => {
    expect(config.apis?.mailroom?.root).toBe('openapi/openapi.yaml');
    expect(config.extends).toContain('recommended');
    expect(config.rules?.['no-unused-components']).toBe('error');
  });

  test('loads the mailroom plugin and enables every mailroom rule as an error', () => {
    expect(config.plugins?.map((plugin) => path.resolve(repoRoot, plugin))).toContain(pluginPath);
    const configured = Object.fromEntries(
      Object.entries(config.rules ?? {}).filter(([ruleId]) => ruleId.startsWith('mailroom/')),
    );
    expect(configured).toEqual(Object.fromEntries(MAILROOM_RULES.map((ruleId) => [ruleId, 'error'])));
  });

  test('turns on the mailroom decorators, which `redocly bundle` applies and `redocly lint` does not', () => {
    expect(config.decorators).toEqual({
      'mailroom/expand-error-codes': 'on',
      'mailroom/expand-permissions': 'on',
      'mailroom/package-version': 'on',
    });
  });

  test('is a configuration Redocly accepts without warnings', () => {
    expect(lintStderr).not.toMatch(/Your config has|Deprecated plugin format|Failed to load plugin/);
  });
});

describe('mailroom spec-lint rules', () => {
  test('the plugin defines exactly the mailroom rules, and each one has a fixture that trips it', async () => {
    const module = (await import(pathToFileURL(pluginPath).href)) as {
      default: () => { id: string; rules: { oas3: Record<string, unknown> } };
    };
    const plugin = module.default();
    expect(plugin.id).toBe('mailroom');
    const defined = Object.keys(plugin.rules.oas3).map((rule) => `${plugin.id}/${rule}`);
    expect(defined.sort()).toEqual([...MAILROOM_RULES].sort());
    expect(new Set(brokenFixtures.map(({ ruleId }) => ruleId))).toEqual(new Set(MAILROOM_RULES));
  });

  test('a spec that follows every convention lints with no errors and no warnings', () => {
    const report = reportFor(GOOD_FIXTURE);
    expect(report.problems.map(describeProblem), 'good.yaml must lint clean').toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  });

  for (const { name, fixture } of cleanFixtures) {
    test(name, () => {
      const report = reportFor(fixture);
      expect(report.problems.map(describeProblem), `${fixture} must lint clean`).toEqual([]);
      expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
    });
  }

  // A plain loop rather than test.each: vitest truncates `$name` to 40 characters in test titles.
  for (const { name, fixture, ruleId, messages } of brokenFixtures) {
    test(name, () => {
      const report = reportFor(fixture);
      // The fixture breaks one convention: every problem is that rule's (no other mailroom rule, nor a built-in one).
      const byMessage = (a: { message: string }, b: { message: string }) => a.message.localeCompare(b.message);
      const found = report.problems.map((problem) => ({ ruleId: problem.ruleId, message: problem.message }));
      expect(found.sort(byMessage)).toEqual(messages.map((message) => ({ ruleId, message })).sort(byMessage));
      expect(report.problems.map(({ severity }) => severity)).toEqual(messages.map(() => 'error'));
    });
  }
});
