// The Prism mock (`npm run mock`) serves what the contract documents. The test table is derived from
// the BUNDLED spec (generated/openapi.yaml): every path × method × documented status, every named
// example of a response that has several, so a new operation or status is covered without editing
// this file.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import type { ExpectStatic } from 'vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type PrismHandle, startPrism } from '../helpers/prism.ts';

const root = resolve(import.meta.dirname, '../..');
const specPath = join(root, 'generated', 'openapi.yaml');

// ---------------------------------------------------------------------------------------------
// The bundled spec, with just enough typing to walk it.

type HttpMethod = 'get' | 'put' | 'post' | 'delete' | 'options' | 'head' | 'patch' | 'trace';
const httpMethods: readonly HttpMethod[] = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

interface SchemaObject {
  $ref?: string;
  type?: string | string[];
  [keyword: string]: unknown;
}
interface ExampleObject {
  summary?: string;
  value?: unknown;
}
interface MediaTypeObject {
  schema?: SchemaObject;
  example?: unknown;
  examples?: Record<string, unknown>;
}
interface HeaderObject {
  required?: boolean;
  schema?: SchemaObject;
}
interface ParameterObject {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: SchemaObject;
  example?: unknown;
  examples?: Record<string, unknown>;
}
interface RequestBodyObject {
  required?: boolean;
  content?: Record<string, MediaTypeObject>;
}
interface ResponseObject {
  description?: string;
  headers?: Record<string, unknown>;
  content?: Record<string, MediaTypeObject>;
}
type SecurityRequirement = Record<string, string[]>;
interface OperationObject {
  operationId?: string;
  security?: SecurityRequirement[];
  parameters?: unknown[];
  requestBody?: unknown;
  responses?: Record<string, unknown>;
}
type PathItemObject = Partial<Record<HttpMethod, OperationObject>> & { parameters?: unknown[] };
interface OpenApiDocument {
  paths: Record<string, PathItemObject>;
  security?: SecurityRequirement[];
  components?: { schemas?: Record<string, SchemaObject> };
}

const spec = parse(readFileSync(specPath, 'utf8')) as OpenApiDocument;

/** A node of the spec and the JSON pointer it lives at (after following `$ref`s). */
interface Located<T> {
  node: T;
  pointer: string;
}

const escapeSegment = (segment: string) => segment.replaceAll('~', '~0').replaceAll('/', '~1');
const unescapeSegment = (segment: string) => segment.replaceAll('~1', '/').replaceAll('~0', '~');

function atPointer(pointer: string): unknown {
  let node: unknown = spec;
  for (const segment of pointer.split('/').slice(1)) {
    if (node === null || typeof node !== 'object') {
      throw new Error(`${pointer} does not exist in ${specPath}`);
    }
    node = (node as Record<string, unknown>)[unescapeSegment(segment)];
  }
  if (node === undefined) {
    throw new Error(`${pointer} does not exist in ${specPath}`);
  }
  return node;
}

/** Follows local `$ref`s until it reaches a real node. */
function deref<T>(node: unknown, pointer: string): Located<T> {
  let current = node;
  let at = pointer;
  for (let hops = 0; hops < 20; hops += 1) {
    const ref = (current as { $ref?: unknown } | null)?.$ref;
    if (typeof ref !== 'string') {
      return { node: current as T, pointer: at };
    }
    if (!ref.startsWith('#/')) {
      throw new Error(`${at}: only local $refs are expected in the bundled spec, got ${ref}`);
    }
    at = ref.slice(1);
    current = atPointer(at);
  }
  throw new Error(`${pointer}: $ref chain too long`);
}

/** The value of a named example (an Example Object, possibly a $ref to components/examples). */
function exampleValue(example: unknown, pointer: string): unknown {
  const { node } = deref<ExampleObject>(example, pointer);
  if (!('value' in node)) {
    throw new Error(`${pointer} has no value (externalValue is not supported by the mock)`);
  }
  return node.value;
}

// ---------------------------------------------------------------------------------------------
// The test table.

interface Operation {
  label: string;
  method: HttpMethod;
  path: string;
  operationId: string;
  /** The path with every parameter filled from its example, plus the query examples. */
  url: string;
  /** The first named request-body example, for operations that take a body. */
  body: unknown;
  secured: boolean;
  /** Takes a user token (the `userToken` scheme) rather than an API key. */
  userToken: boolean;
  /** Takes GitHub's secret-scanning signature headers (the `githubSecretScanning` scheme). */
  scanner: boolean;
  /** Its success answers are a partner's format, not the envelope (`x-envelope: false`). */
  unenveloped: boolean;
  responses: ResponseCase[];
}

interface DeclaredHeader {
  name: string;
  header: HeaderObject;
  pointer: string;
}

interface ResponseCase {
  operation: Operation;
  status: number;
  label: string;
  pointer: string;
  response: ResponseObject;
  /** Named examples of the application/json content, in document order. */
  examples: Array<[name: string, value: unknown]>;
  headers: DeclaredHeader[];
}

function parameterExample(parameter: ParameterObject, pointer: string): unknown {
  if (parameter.example !== undefined) {
    return parameter.example;
  }
  const first = Object.entries(parameter.examples ?? {})[0];
  if (first) {
    return exampleValue(first[1], `${pointer}/examples/${escapeSegment(first[0])}`);
  }
  const schemaExamples = parameter.schema?.examples;
  if (Array.isArray(schemaExamples) && schemaExamples.length > 0) {
    return schemaExamples[0];
  }
  return undefined;
}

function buildUrl(path: string, parameters: Array<Located<ParameterObject>>): string {
  let url = path;
  const query = new URLSearchParams();
  for (const { node: parameter, pointer } of parameters) {
    const value = parameterExample(parameter, pointer);
    if (parameter.in === 'path') {
      if (value === undefined) {
        throw new Error(`${pointer}: path parameter ${parameter.name} needs an example for the mock tests`);
      }
      url = url.replace(`{${parameter.name}}`, encodeURIComponent(String(value)));
    } else if (parameter.in === 'query' && value !== undefined) {
      query.set(parameter.name, String(value));
    } else if (parameter.in === 'query' && parameter.required) {
      throw new Error(`${pointer}: required query parameter ${parameter.name} needs an example for the mock tests`);
    }
  }
  const search = query.toString();
  return search ? `${url}?${search}` : url;
}

function requestBodyExample(operation: OperationObject, pointer: string): unknown {
  if (operation.requestBody === undefined) {
    return undefined;
  }
  const { node: requestBody, pointer: bodyPointer } = deref<RequestBodyObject>(
    operation.requestBody,
    `${pointer}/requestBody`,
  );
  const media = requestBody.content?.['application/json'];
  const first = Object.entries(media?.examples ?? {})[0];
  if (first) {
    return exampleValue(first[1], `${bodyPointer}/content/application~1json/examples/${escapeSegment(first[0])}`);
  }
  if (media?.example !== undefined) {
    return media.example;
  }
  if (requestBody.required) {
    throw new Error(`${bodyPointer}: a required request body needs a named example for the mock tests`);
  }
  return undefined;
}

function buildTable(): Operation[] {
  const operations: Operation[] = [];
  for (const [path, pathItem] of Object.entries(spec.paths)) {
    const pathPointer = `/paths/${escapeSegment(path)}`;
    for (const method of httpMethods) {
      const operationObject = pathItem[method];
      if (!operationObject) {
        continue;
      }
      const pointer = `${pathPointer}/${method}`;
      const parameters = [
        ...(pathItem.parameters ?? []).map((p, i) => deref<ParameterObject>(p, `${pathPointer}/parameters/${i}`)),
        ...(operationObject.parameters ?? []).map((p, i) => deref<ParameterObject>(p, `${pointer}/parameters/${i}`)),
      ];
      const security = operationObject.security ?? spec.security ?? [];
      const operation: Operation = {
        label: `${method.toUpperCase()} ${path}`,
        method,
        path,
        operationId: operationObject.operationId ?? `${method} ${path}`,
        url: buildUrl(path, parameters),
        body: requestBodyExample(operationObject, pointer),
        secured: security.length > 0 && !security.some((requirement) => Object.keys(requirement).length === 0),
        userToken: security.some((requirement) => 'userToken' in requirement),
        scanner: security.some((requirement) => 'githubSecretScanning' in requirement),
        unenveloped: (operationObject as { 'x-envelope'?: boolean })['x-envelope'] === false,
        responses: [],
      };
      for (const [status, raw] of Object.entries(operationObject.responses ?? {})) {
        if (!/^\d{3}$/.test(status)) {
          continue; // `default` / `4XX` cannot be asked for with Prefer: code=
        }
        const located = deref<ResponseObject>(raw, `${pointer}/responses/${status}`);
        const media = located.node.content?.['application/json'];
        const examples = Object.entries(media?.examples ?? {}).map(([name, example]): [string, unknown] => [
          name,
          exampleValue(example, `${located.pointer}/content/application~1json/examples/${escapeSegment(name)}`),
        ]);
        const headers = Object.entries(located.node.headers ?? {}).map(([name, header]): DeclaredHeader => {
          const resolved = deref<HeaderObject>(header, `${located.pointer}/headers/${escapeSegment(name)}`);
          return { name, header: resolved.node, pointer: resolved.pointer };
        });
        operation.responses.push({
          operation,
          status: Number(status),
          label: `${operation.label} ${status}`,
          pointer: located.pointer,
          response: located.node,
          examples,
          headers,
        });
      }
      operations.push(operation);
    }
  }
  return operations;
}

const operations = buildTable();
const responseCases = operations.flatMap((operation) => operation.responses);
const v1Operations = operations.filter((operation) => operation.path.startsWith('/v1/'));
const publicOperations = operations.filter((operation) => !operation.secured);
const successCase = (operation: Operation) =>
  operation.responses.filter((r) => r.status >= 200 && r.status < 300).sort((a, b) => a.status - b.status)[0];
const multiExampleCases = responseCases.filter((responseCase) => responseCase.examples.length > 1);
const findOperation = (operationId: string) => {
  const operation = operations.find((candidate) => candidate.operationId === operationId);
  if (!operation) {
    throw new Error(`the spec has no operation ${operationId}; update test/mock/mock.test.ts`);
  }
  return operation;
};
const responseOf = (operation: Operation, status: number) => {
  const responseCase = operation.responses.find((candidate) => candidate.status === status);
  if (!responseCase) {
    throw new Error(`${operation.label} does not declare ${status}`);
  }
  return responseCase;
};

/** `ErrorCode`'s code → status table, when the spec declares one. */
const errorStatuses = (spec.components?.schemas?.ErrorCode?.['x-error-statuses'] ?? {}) as Record<string, number>;

// ---------------------------------------------------------------------------------------------
// JSON Schema validation against the bundled spec itself, so every `$ref` resolves as written.

const specId = 'https://mailroom.test/openapi.json';
const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
// ajv-formats is CommonJS: under NodeNext its default import is module.exports, whose .default is the plugin.
ajvFormats.default(ajv);
ajv.addSchema(spec as object, specId);
const validators = new Map<string, ValidateFunction>();

function validatorAt(pointer: string): ValidateFunction {
  let validate = validators.get(pointer);
  if (!validate) {
    const fragment = pointer
      .split('/')
      .map((segment) => encodeURIComponent(segment))
      .join('/');
    validate = ajv.compile({ $ref: `${specId}#${fragment}` });
    validators.set(pointer, validate);
  }
  return validate;
}

/** Header values are strings on the wire; read them the way the schema types them. */
function typedHeaderValue(value: string, schema: SchemaObject): unknown {
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  if ((types.includes('integer') || types.includes('number')) && /^-?\d+(\.\d+)?$/.test(value)) {
    return Number(value);
  }
  if (types.includes('boolean') && (value === 'true' || value === 'false')) {
    return value === 'true';
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Requests.

const exampleKey = 'mr_a1b2c3d4_Xk3PqR7sT1uVwY9zA2bC4dE6fG8hJ0kL1mN3pQ';
const exampleToken = 'mru_k3m9p2x7_Vb7nQ2wE5rT8yU1iO4pA6sD9fG3hJ0kL15Fq2w';
type Credentials = 'X-API-Key' | 'Bearer' | 'both' | 'user token' | 'scanner signature' | 'none';

interface Served {
  status: number;
  headers: Headers;
  text: string;
  body: unknown;
}

interface CallOptions {
  credentials: Credentials;
  prefer?: string;
  /** Overrides the operation's example body; a string is sent as is. */
  body?: unknown;
  contentType?: string;
  method?: string;
  url?: string;
}

let mock: PrismHandle | undefined;
let dynamicMock: PrismHandle | undefined;

async function call(prism: PrismHandle | undefined, operation: Operation, options: CallOptions): Promise<Served> {
  if (!prism) {
    throw new Error('Prism did not start');
  }
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.credentials === 'X-API-Key' || options.credentials === 'both') {
    headers['x-api-key'] = exampleKey;
  }
  if (options.credentials === 'Bearer' || options.credentials === 'both') {
    headers.authorization = `Bearer ${exampleKey}`;
  }
  if (options.credentials === 'user token') {
    headers.authorization = `Bearer ${exampleToken}`;
  }
  if (options.credentials === 'scanner signature') {
    // The mock checks the headers are there (the scheme names one); only the sandbox verifies the signature.
    headers['github-public-key-identifier'] = 'bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c';
    headers['github-public-key-signature'] =
      'MEUCIQDx9Lk3vX0Sd5z2Tn1aA0wVh6bTn4bq7F3y0xq5GmWfGAIgY6y1nD7qYw0o2b3m2lWcS4kV6b1p3u0uX0tWl8h9s5E=';
  }
  if (options.prefer) {
    headers.prefer = options.prefer;
  }
  const payload = options.body ?? operation.body;
  let body: string | undefined;
  if (payload !== undefined) {
    body = typeof payload === 'string' ? payload : JSON.stringify(payload);
    headers['content-type'] = options.contentType ?? 'application/json';
  }
  const response = await fetch(`${prism.url}${options.url ?? operation.url}`, {
    method: (options.method ?? operation.method).toUpperCase(),
    headers,
    body,
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, text, body: parsed };
}

/**
 * The credential an operation takes: a user token for the account side; for the API, the two key headers in turn
 * over the table so both are exercised everywhere; nothing for a public operation.
 */
const credentialsFor = (operation: Operation, index: number): Credentials => {
  if (!operation.secured) {
    return 'none';
  }
  if (operation.userToken) {
    return 'user token';
  }
  if (operation.scanner) {
    return 'scanner signature';
  }
  return index % 2 === 0 ? 'X-API-Key' : 'Bearer';
};

interface Violation {
  location?: string[];
  code?: string | number;
  message?: string;
}

function violations(served: Served): Violation[] {
  const header = served.headers.get('sl-violations');
  return header ? (JSON.parse(header) as Violation[]) : [];
}

// ---------------------------------------------------------------------------------------------
// Assertions.

function expectEnvelope(check: ExpectStatic, served: Served, label: string) {
  const body = served.body as Record<string, unknown> | undefined;
  check(body, `${label}: body is JSON`).toBeTypeOf('object');
  if (served.status < 400) {
    check(body, `${label}: success envelope`).toMatchObject({ success: true });
    check(body, `${label}: success envelope has data`).toHaveProperty('data');
    return;
  }
  check(body, `${label}: error envelope`).toMatchObject({
    success: false,
    error: { code: check.any(String), message: check.any(String) },
    meta: { requestId: check.any(String) },
  });
  const envelope = body as { error: { code: string }; meta: { requestId: string } };
  const expectedStatus = errorStatuses[envelope.error.code];
  if (expectedStatus !== undefined) {
    check(served.status, `${label}: ${envelope.error.code} always comes with ${expectedStatus}`).toBe(expectedStatus);
  }
  const requestId = served.headers.get('x-request-id');
  if (requestId !== null) {
    check(envelope.meta.requestId, `${label}: meta.requestId equals X-Request-Id`).toBe(requestId);
  }
}

function expectDeclaredHeaders(check: ExpectStatic, served: Served, responseCase: ResponseCase, label: string) {
  for (const { name, header, pointer } of responseCase.headers) {
    const value = served.headers.get(name);
    if (header.required) {
      check(value, `${label}: required header ${name}`).not.toBeNull();
    }
    if (value === null || header.schema === undefined) {
      continue;
    }
    const schema = deref<SchemaObject>(header.schema, `${pointer}/schema`);
    const validate = validatorAt(schema.pointer);
    const valid = validate(typedHeaderValue(value, schema.node));
    check(valid, `${label}: ${name}: ${value} does not match its schema: ${ajv.errorsText(validate.errors)}`).toBe(
      true,
    );
  }
}

/** The rate-limit headers must agree with each other, as the header descriptions promise. */
function expectConsistentRateLimitHeaders(check: ExpectStatic, served: Served, label: string) {
  const state = served.headers.get('ratelimit');
  const policy = served.headers.get('ratelimit-policy');
  if (state === null || policy === null) {
    return;
  }
  const binding = /^"([^"]+)";r=(\d+);t=(\d+)$/.exec(state);
  check(binding, `${label}: RateLimit ${state} is "name";r=<n>;t=<n>`).not.toBeNull();
  const windows = policy.split(/,\s*/).map((item) => /^"([^"]+)";q=(\d+);w=(\d+)$/.exec(item));
  check(windows.every(Boolean), `${label}: RateLimit-Policy ${policy} is a list of "name";q=<n>;w=<n>`).toBe(true);
  if (!binding) {
    return;
  }
  const [, name, remaining, reset] = binding;
  check(served.headers.get('x-ratelimit-remaining'), `${label}: RateLimit r= equals X-RateLimit-Remaining`).toBe(
    remaining,
  );
  check(served.headers.get('x-ratelimit-reset'), `${label}: RateLimit t= equals X-RateLimit-Reset`).toBe(reset);
  const window = windows.find((match) => match?.[1] === name);
  check(window, `${label}: the binding window "${name}" is in RateLimit-Policy`).toBeTruthy();
  check(served.headers.get('x-ratelimit-limit'), `${label}: X-RateLimit-Limit is the binding window's quota`).toBe(
    window?.[2],
  );
}

/** Asserts that a header is present and returns its value. */
function presentHeader(check: ExpectStatic, served: Served, name: string, label: string): string {
  const value = served.headers.get(name);
  check(value, `${label}: ${name} is present`).toBeTypeOf('string');
  return value ?? '';
}

function expectStatusSpecificHeaders(check: ExpectStatic, served: Served, status: number, label: string) {
  if (status === 429) {
    check(presentHeader(check, served, 'Retry-After', label), `${label}: Retry-After is whole seconds ≥ 1`).toMatch(
      /^[1-9]\d*$/,
    );
    for (const name of ['X-RateLimit-Limit', 'X-RateLimit-Reset', 'RateLimit-Policy']) {
      presentHeader(check, served, name, label);
    }
    check(presentHeader(check, served, 'X-RateLimit-Remaining', label), `${label}: nothing remains on a 429`).toBe('0');
    check(presentHeader(check, served, 'RateLimit', label), `${label}: RateLimit shows r=0 on a 429`).toMatch(/;r=0;/);
  }
  if (status === 401) {
    check(presentHeader(check, served, 'WWW-Authenticate', label), `${label}: WWW-Authenticate offers Bearer`).toMatch(
      /^Bearer realm="mailroom"/,
    );
  }
  if (status === 405) {
    check(presentHeader(check, served, 'Allow', label), `${label}: Allow lists methods`).toMatch(
      /^[A-Z]+(, ?[A-Z]+)*$/,
    );
  }
}

/** The body validates against the response's application/json schema. */
function expectValidBody(check: ExpectStatic, served: Served, responseCase: ResponseCase, label: string) {
  const validate = validatorAt(`${responseCase.pointer}/content/application~1json/schema`);
  const valid = validate(served.body);
  check(valid, `${label}: body does not match its schema: ${ajv.errorsText(validate.errors)}\n${served.text}`).toBe(
    true,
  );
}

/** Status, JSON content type, the exact example body, the envelope and every declared header. */
function expectServed(check: ExpectStatic, served: Served, responseCase: ResponseCase, exampleName?: string) {
  const label = `${responseCase.label}${exampleName ? ` (${exampleName})` : ''}`;
  check(served.status, `${label}: status (body: ${served.text.slice(0, 300)})`).toBe(responseCase.status);
  if (responseCase.response.content === undefined) {
    check(served.text, `${label}: no body`).toBe('');
  } else {
    check(served.headers.get('content-type'), `${label}: content type`).toMatch(/^application\/json\b/i);
    const example = exampleName
      ? responseCase.examples.find(([name]) => name === exampleName)
      : responseCase.examples[0];
    check(example, `${label}: the response has a named example`).toBeDefined();
    check(served.body, `${label}: body is the example ${example?.[0]}`).toEqual(example?.[1]);
    expectValidBody(check, served, responseCase, label);
    if (!(responseCase.operation.unenveloped && served.status < 400)) {
      expectEnvelope(check, served, label);
    }
  }
  expectDeclaredHeaders(check, served, responseCase, label);
  expectConsistentRateLimitHeaders(check, served, label);
  expectStatusSpecificHeaders(check, served, responseCase.status, label);
}

function servedWith(status: number): string {
  if (status === 429) {
    return 'is served with its example, Retry-After and the rate-limit headers';
  }
  if (status === 401) {
    return 'is served with its example and WWW-Authenticate';
  }
  if (status === 405) {
    return 'is served with its example and Allow';
  }
  return 'is served with its example, its declared headers and the envelope';
}

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  const started = await Promise.allSettled([startPrism(), startPrism({ dynamic: true })]);
  const [staticResult, dynamicResult] = started;
  mock = staticResult?.status === 'fulfilled' ? staticResult.value : undefined;
  dynamicMock = dynamicResult?.status === 'fulfilled' ? dynamicResult.value : undefined;
  const failure = started.find((result) => result.status === 'rejected');
  if (failure?.status === 'rejected') {
    await Promise.all([mock?.stop(), dynamicMock?.stop()]);
    throw failure.reason;
  }
});

afterAll(async () => {
  await Promise.all([mock?.stop(), dynamicMock?.stop()]);
});

describe('the spec gives the mock something to serve', () => {
  it('derives a table with every operation and at least one documented status each', () => {
    expect(operations.length).toBeGreaterThan(0);
    for (const operation of operations) {
      expect(operation.responses.length, `${operation.label} declares responses`).toBeGreaterThan(0);
      expect(successCase(operation), `${operation.label} declares a 2xx`).toBeDefined();
    }
  });
});

describe.concurrent('every operation × documented status is served as documented', () => {
  responseCases.forEach((responseCase, index) => {
    it(`${responseCase.label} ${servedWith(responseCase.status)}`, async ({ expect: check }) => {
      const served = await call(mock, responseCase.operation, {
        credentials: credentialsFor(responseCase.operation, index),
        prefer: `code=${responseCase.status}`,
      });
      expectServed(check, served, responseCase);
    });
  });

  it("Prism's own response validation finds nothing wrong with any served example (so --errors serves them too)", async ({
    expect: check,
  }) => {
    const problems: string[] = [];
    await Promise.all(
      responseCases.map(async (responseCase, index) => {
        const served = await call(mock, responseCase.operation, {
          credentials: credentialsFor(responseCase.operation, index),
          prefer: `code=${responseCase.status}`,
        });
        for (const violation of violations(served)) {
          if (violation.location?.[0] === 'response') {
            problems.push(`${responseCase.label}: ${violation.location.join('.')}: ${violation.message}`);
          }
        }
      }),
    );
    check(problems.sort()).toEqual([]);
  });
});

describe.concurrent('Prefer: example=<name> selects each named example', () => {
  multiExampleCases.forEach((responseCase, index) => {
    for (const [name] of responseCase.examples) {
      it(`${responseCase.label} with Prefer: example=${name} serves that example`, async ({ expect: check }) => {
        const served = await call(mock, responseCase.operation, {
          credentials: credentialsFor(responseCase.operation, index),
          prefer: `code=${responseCase.status}, example=${name}`,
        });
        expectServed(check, served, responseCase, name);
      });
    }
  });
});

describe.concurrent('credentials', () => {
  for (const operation of v1Operations) {
    for (const credentials of ['X-API-Key', 'Bearer', 'both'] as const) {
      const how =
        credentials === 'both'
          ? 'the same key in both headers'
          : `a key in ${credentials === 'Bearer' ? 'Authorization: Bearer' : 'X-API-Key'}`;
      it(`${operation.label} answers its success example to ${how}`, async ({ expect: check }) => {
        const responseCase = successCase(operation);
        check(responseCase, `${operation.label} declares a 2xx`).toBeDefined();
        if (responseCase) {
          expectServed(check, await call(mock, operation, { credentials }), responseCase);
        }
      });
    }
  }

  for (const operation of operations.filter((candidate) => candidate.secured)) {
    it(`${operation.label} without credentials gets 401 with the UNAUTHORIZED envelope`, async ({ expect: check }) => {
      const served = await call(mock, operation, { credentials: 'none' });
      expectServed(check, served, responseOf(operation, 401));
      check(served.body).toMatchObject({ success: false, error: { code: 'UNAUTHORIZED' } });
    });
  }

  for (const operation of operations.filter((candidate) => candidate.userToken)) {
    it(`${operation.label} answers its success example to a user token in Authorization: Bearer`, async ({
      expect: check,
    }) => {
      const responseCase = successCase(operation);
      check(responseCase, `${operation.label} declares a 2xx`).toBeDefined();
      if (responseCase) {
        expectServed(check, await call(mock, operation, { credentials: 'user token' }), responseCase);
      }
    });

    it(`${operation.label} with only X-API-Key gets 401: the mock checks which header, not which credential`, async ({
      expect: check,
    }) => {
      const served = await call(mock, operation, { credentials: 'X-API-Key' });
      expectServed(check, served, responseOf(operation, 401));
    });
  }

  for (const operation of publicOperations) {
    it(`${operation.label} needs no credentials`, async ({ expect: check }) => {
      const responseCase = successCase(operation);
      check(responseCase, `${operation.label} declares a 2xx`).toBeDefined();
      if (responseCase) {
        expectServed(check, await call(mock, operation, { credentials: 'none' }), responseCase);
      }
    });
  }

  it('only /livez, sign-up and log-in are public', ({ expect: check }) => {
    check(publicOperations.map((operation) => operation.label).sort()).toEqual([
      'GET /livez',
      'POST /auth/login',
      'POST /auth/signup',
    ]);
  });
});

describe.concurrent('Prism validates requests against the spec', () => {
  it('createApiKey with name "" gets the documented 422 VALIDATION_ERROR example, the real reason only in sl-violations', async ({
    expect: check,
  }) => {
    const operation = findOperation('createApiKey');
    const served = await call(mock, operation, { credentials: 'X-API-Key', body: { name: '' } });
    expectServed(check, served, responseOf(operation, 422));
    check(violations(served)).toContainEqual(
      check.objectContaining({ location: ['request', 'body', 'name'], code: 'minLength' }),
    );
  });

  it('createContact with an unknown field gets the documented 422 example', async ({ expect: check }) => {
    const operation = findOperation('createContact');
    const served = await call(mock, operation, {
      credentials: 'Bearer',
      body: { email: 'ada@example.com', nickname: 'Ada' },
    });
    expectServed(check, served, responseOf(operation, 422));
    check(violations(served)).toContainEqual(check.objectContaining({ code: 'additionalProperties' }));
  });

  it('listContacts with limit=0 gets the documented 422 example', async ({ expect: check }) => {
    const operation = findOperation('listContacts');
    const served = await call(mock, operation, { credentials: 'X-API-Key', url: '/v1/contacts?limit=0' });
    expectServed(check, served, responseOf(operation, 422));
    check(violations(served)).toContainEqual(check.objectContaining({ location: ['request', 'query', 'limit'] }));
  });

  it('createContact with a text/plain body gets the documented 415 example', async ({ expect: check }) => {
    const operation = findOperation('createContact');
    const served = await call(mock, operation, {
      credentials: 'Bearer',
      body: 'ada@example.com',
      contentType: 'text/plain',
    });
    expectServed(check, served, responseOf(operation, 415));
  });
});

describe.concurrent("known mock limitations: Prism's own errors, not the envelope", () => {
  it("a body that is not JSON gets Prism's own 400 body, not the BAD_REQUEST envelope", async ({ expect: check }) => {
    const operation = findOperation('createContact');
    const served = await call(mock, operation, { credentials: 'Bearer', body: '{"email":' });
    check(served.status).toBe(400);
    check(served.body).not.toHaveProperty('success');
  });

  it("a method the path does not have gets Prism's problem+json 405 without Allow", async ({ expect: check }) => {
    const operation = findOperation('listApiKeys');
    const served = await call(mock, operation, { credentials: 'X-API-Key', method: 'PUT', body: { name: 'x' } });
    check(served.status).toBe(405);
    check(served.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    check(served.headers.get('allow')).toBeNull();
  });

  it("an unknown path gets Prism's problem+json 404, not RESOURCE_NOT_FOUND", async ({ expect: check }) => {
    const operation = findOperation('listApiKeys');
    const served = await call(mock, operation, { credentials: 'X-API-Key', url: '/v1/no-such-route' });
    check(served.status).toBe(404);
    check(served.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});

describe.concurrent('--dynamic generates bodies that validate against the response schemas', () => {
  responseCases.forEach((responseCase, index) => {
    it(`${responseCase.label} in dynamic mode is a valid envelope for its schema`, async ({ expect: check }) => {
      const served = await call(dynamicMock, responseCase.operation, {
        credentials: credentialsFor(responseCase.operation, index),
        prefer: `code=${responseCase.status}`,
      });
      check(served.status, served.text.slice(0, 300)).toBe(responseCase.status);
      if (responseCase.response.content === undefined) {
        return;
      }
      check(served.headers.get('content-type')).toMatch(/^application\/json\b/i);
      expectValidBody(check, served, responseCase, `${responseCase.label} (dynamic)`);
      if (!(responseCase.operation.unenveloped && responseCase.status < 400)) {
        check(served.body).toMatchObject({ success: responseCase.status < 400 });
      }
      expectDeclaredHeaders(check, served, responseCase, `${responseCase.label} (dynamic)`);
    });
  });
});
