// Mailroom's own spec-lint rules, loaded by Redocly CLI 2.x through `plugins:` in the root redocly.yaml.
// Redocly 2.x imports plugins with `import()` and prefers a default-exported function returning the plugin object
// (a bare plugin object is reported as a "Deprecated plugin format").
//
// Every rule walks the operations under `paths` (not webhooks or callbacks) and follows `$ref`s by hand with
// `ctx.resolve(ref, fromFile)`, so a shared response, header or schema is checked where it is used: a secured
// operation's 404 response must carry the rate-limit headers even when the same component also serves `/livez`.
// A problem found in a shared component is reported once, at the component, naming every operation that uses it.
//
// Which conventions apply is decided by the spec, not by URL prefixes: an operation is *secured* when its effective
// security requirement (its own `security`, else the root's) asks for credentials; see isSecured.

import { decorators, readErrorCodes } from './mailroom-decorators.js';

const PLUGIN_ID = 'mailroom';

const RATE_LIMIT_HEADERS = [
  'X-RateLimit-Limit',
  'X-RateLimit-Remaining',
  'X-RateLimit-Reset',
  'RateLimit-Policy',
  'RateLimit',
  'X-Request-Id',
];
const CAMEL_CASE = /^[a-z][a-zA-Z0-9]*$/;
const MAX_REF_HOPS = 32;

/** @param {unknown} value */
function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** @param {unknown} value */
function isRef(value) {
  return isObject(value) && typeof value.$ref === 'string';
}

/**
 * Whether an operation takes credentials: its effective security requirement (its own `security`, else the root's)
 * has at least one alternative and every alternative names a scheme. `security: []` (or none anywhere) is public, and
 * an empty alternative `{}` makes credentials optional, so neither is held to the 401/429 and rate-limit conventions.
 */
function isSecured(operation, root) {
  const own = operation.security;
  const security = Array.isArray(own) ? own : isObject(root) && Array.isArray(root.security) ? root.security : [];
  return (
    security.length > 0 && security.every((requirement) => isObject(requirement) && Object.keys(requirement).length > 0)
  );
}

/**
 * Whether an operation's answers carry rate-limit headers: a secured operation's always (its caller's windows, or the
 * address's failed-auth window), and a public one's when it declares `x-rate-limit: address` (counted per client
 * address, as sign-up and log-in are).
 */
function isRateLimited(operation, secured) {
  return secured || operation['x-rate-limit'] === 'address';
}

/**
 * Follows `$ref`s from `node`, which sits at `location`. Returns the target and where it lives; `node` is undefined
 * when a reference does not resolve (the built-in `no-unresolved-refs` reports that).
 */
function deref(ctx, node, location) {
  let current = node;
  let currentLocation = location;
  for (let hops = 0; isRef(current); hops++) {
    if (hops === MAX_REF_HOPS) {
      return { node: undefined, location: currentLocation };
    }
    const resolved = ctx.resolve(current, currentLocation.source.absoluteRef);
    if (resolved.node === undefined || resolved.location === undefined) {
      return { node: undefined, location: currentLocation };
    }
    current = resolved.node;
    currentLocation = resolved.location;
  }
  return { node: current, location: currentLocation };
}

/** Lower-cased names of the headers a (resolved) response declares. */
function headerNames(response) {
  return new Set(isObject(response.headers) ? Object.keys(response.headers).map((name) => name.toLowerCase()) : []);
}

/** Where to point at a missing header: the `headers` map if there is one, else the response. */
function headersLocation(response, location) {
  return isObject(response.headers) ? location.child(['headers']).key() : location;
}

/** Each response of an operation, resolved: `{ status, response, location }`. */
function* responsesOf(operation, operationLocation, ctx) {
  if (!isObject(operation.responses)) {
    return;
  }
  for (const [status, raw] of Object.entries(operation.responses)) {
    const { node, location } = deref(ctx, raw, operationLocation.child(['responses', status]));
    if (isObject(node)) {
      yield { status, response: node, location };
    }
  }
}

/** Each media type of a resolved response: `{ mediaType, media, location }`. */
function* mediaTypesOf(response, responseLocation, ctx) {
  if (!isObject(response.content)) {
    return;
  }
  for (const [mediaType, raw] of Object.entries(response.content)) {
    const { node, location } = deref(ctx, raw, responseLocation.child(['content', mediaType]));
    if (isObject(node)) {
      yield { mediaType, media: node, location };
    }
  }
}

function listOperations(labels) {
  const shown = labels.slice(0, 3).join(', ');
  return labels.length > 3 ? `${shown} and ${labels.length - 3} more` : shown;
}

/**
 * Builds a rule that runs `check` on every operation under `paths`. `check` gets
 * `{ operation, location, pathItem: { node, location }, path, method, label, secured, limited, root, ctx,
 * problem(detail, location) }` (`secured`: see isSecured; `limited`: see isRateLimited);
 * a problem's message is
 * `<label> <detail>`, e.g. `GET /v1/contacts 404 response is missing header X-RateLimit-Reset`. Problems with the
 * same detail at the same location (a shared component) are merged into one that lists the other operations.
 */
function operationRule(check) {
  return () => {
    let problems = new Map();
    let currentPath;
    let currentPathItem;
    let root;
    return {
      Root: {
        enter(node) {
          problems = new Map();
          root = node;
        },
        leave(_root, ctx) {
          for (const { detail, location, labels } of problems.values()) {
            const [first, ...others] = labels;
            const shared = others.length > 0 ? ` (shared; also used by ${listOperations(others)})` : '';
            ctx.report({ message: `${first} ${detail}${shared}`, location });
          }
        },
      },
      Paths: {
        PathItem: {
          enter(pathItem, ctx) {
            currentPath = String(ctx.key);
            currentPathItem = { node: pathItem, location: ctx.location };
          },
          leave() {
            currentPath = undefined;
            currentPathItem = undefined;
          },
          Operation(operation, ctx) {
            if (currentPath === undefined) {
              return;
            }
            const method = String(ctx.key);
            const label = `${method.toUpperCase()} ${currentPath}`;
            const problem = (detail, location) => {
              const key = `${location.absolutePointer}\u0000${location.reportOnKey ? 'key' : 'value'}\u0000${detail}`;
              const existing = problems.get(key);
              if (existing === undefined) {
                problems.set(key, { detail, location, labels: [label] });
              } else if (!existing.labels.includes(label)) {
                existing.labels.push(label);
              }
            };
            const secured = isSecured(operation, root);
            const limited = isRateLimited(operation, secured);
            check({
              operation,
              location: ctx.location,
              pathItem: currentPathItem,
              path: currentPath,
              method,
              label,
              secured,
              limited,
              root,
              ctx,
              problem,
            });
          },
        },
      },
    };
  };
}

/** A rule that requires `headers` on every response whose status passes `appliesTo(status, limited)`. */
function requiredHeadersRule(headers, appliesTo) {
  return operationRule(({ operation, location, limited, ctx, problem }) => {
    for (const { status, response, location: responseLocation } of responsesOf(operation, location, ctx)) {
      if (!appliesTo(status, limited)) {
        continue;
      }
      const declared = headerNames(response);
      for (const header of headers) {
        if (!declared.has(header.toLowerCase())) {
          problem(`${status} response is missing header ${header}`, headersLocation(response, responseLocation));
        }
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------
// mailroom/envelope

/**
 * Resolves a schema and merges its `allOf` (recursively): `{ types, properties, refs }` where `properties` maps a
 * name to every (resolved) schema given for it. Cycles are cut by tracking the schema objects on the current path.
 */
function flattenSchema(ctx, schema, location, seen = new Set()) {
  const merged = { types: new Set(), properties: new Map(), hasComposition: false };
  const { node, location: at } = deref(ctx, schema, location);
  if (!isObject(node) || seen.has(node)) {
    return merged;
  }
  seen.add(node);
  const types = Array.isArray(node.type) ? node.type : node.type === undefined ? [] : [node.type];
  for (const type of types) {
    merged.types.add(type);
  }
  if (isObject(node.properties)) {
    for (const [name, property] of Object.entries(node.properties)) {
      const resolved = deref(ctx, property, at.child(['properties', name]));
      const list = merged.properties.get(name) ?? [];
      list.push(resolved);
      merged.properties.set(name, list);
    }
  }
  if (Array.isArray(node.oneOf) || Array.isArray(node.anyOf)) {
    merged.hasComposition = true;
  }
  if (Array.isArray(node.allOf)) {
    node.allOf.forEach((part, index) => {
      const sub = flattenSchema(ctx, part, at.child(['allOf', index]), seen);
      for (const type of sub.types) {
        merged.types.add(type);
      }
      for (const [name, list] of sub.properties) {
        merged.properties.set(name, [...(merged.properties.get(name) ?? []), ...list]);
      }
      merged.hasComposition ||= sub.hasComposition;
    });
  }
  seen.delete(node);
  return merged;
}

/** The boolean a `success` property is pinned to (`const` or a one-value `enum`, also inside `allOf`), if any. */
function pinnedBoolean(ctx, definitions) {
  const values = new Set();
  const visit = (schema, location, depth) => {
    const { node, location: at } = deref(ctx, schema, location);
    if (!isObject(node) || depth > MAX_REF_HOPS) {
      return;
    }
    if (typeof node.const === 'boolean') {
      values.add(node.const);
    }
    if (Array.isArray(node.enum) && node.enum.length === 1 && typeof node.enum[0] === 'boolean') {
      values.add(node.enum[0]);
    }
    if (Array.isArray(node.allOf)) {
      node.allOf.forEach((part, index) => {
        visit(part, at.child(['allOf', index]), depth + 1);
      });
    }
  };
  for (const { node, location } of definitions) {
    visit(node, location, 0);
  }
  return values.size === 1 ? [...values][0] : undefined;
}

function isJsonMediaType(mediaType) {
  return mediaType.split(';')[0].trim().toLowerCase() === 'application/json';
}

const envelope = operationRule(({ operation, location, ctx, problem }) => {
  for (const { status, response, location: responseLocation } of responsesOf(operation, location, ctx)) {
    // A partner's format (GitHub's secret-scanning feedback array) is answered as the partner defines it: an operation
    // marked `x-envelope: false` is exempt for its success answers; its errors are enveloped like any other.
    if (operation['x-envelope'] === false && Number(status) < 300) {
      continue;
    }
    for (const { mediaType, media, location: mediaLocation } of mediaTypesOf(response, responseLocation, ctx)) {
      if (!isJsonMediaType(mediaType)) {
        continue;
      }
      const where = `${status} response ${mediaType} body`;
      if (media.schema === undefined) {
        problem(`${where} has no schema (expected a success or error envelope)`, mediaLocation);
        continue;
      }
      const schemaLocation = mediaLocation.child(['schema']);
      const merged = flattenSchema(ctx, media.schema, schemaLocation);
      const notObject = merged.types.has('object') ? '' : ' and is not type: object';
      if (!merged.properties.has('success')) {
        const hint = merged.hasComposition ? ' (oneOf/anyOf are not looked into; compose envelopes with allOf)' : '';
        problem(`${where} is not an envelope: it has no property success${notObject}${hint}`, schemaLocation);
        continue;
      }
      if (notObject) {
        problem(`${where} is not an envelope: it is not type: object`, schemaLocation);
        continue;
      }
      const success = pinnedBoolean(ctx, merged.properties.get('success'));
      if (success === undefined) {
        problem(
          `${where} is not an envelope: property success is neither const: true (success envelope) nor const: false (error envelope)`,
          schemaLocation,
        );
        continue;
      }
      const required = success ? ['data'] : ['error', 'meta'];
      const missing = required.filter((name) => !merged.properties.has(name));
      if (missing.length > 0) {
        const kind = success ? 'a success envelope (success: const true)' : 'an error envelope (success: const false)';
        const noun = missing.length === 1 ? 'property' : 'properties';
        problem(`${where} is ${kind} without ${noun} ${missing.join(' and ')}`, schemaLocation);
        continue;
      }
      if (/^2/.test(status) && success === false) {
        problem(`${where} is a success status but uses the error envelope (success: false)`, schemaLocation);
      } else if ((/^[45]/.test(status) || status === 'default') && success === true) {
        problem(`${where} is an error status but uses the success envelope (success: true)`, schemaLocation);
      }
    }
  }
});

// ---------------------------------------------------------------------------------------------------------------
// mailroom/response-example

function isNamedExample(ctx, raw, location) {
  const { node } = deref(ctx, raw, location);
  return (
    isObject(node) &&
    (node.value !== undefined ||
      typeof node.externalValue === 'string' ||
      node.dataValue !== undefined ||
      typeof node.serializedValue === 'string')
  );
}

const responseExample = operationRule(({ operation, location, ctx, problem }) => {
  for (const { status, response, location: responseLocation } of responsesOf(operation, location, ctx)) {
    for (const { mediaType, media, location: mediaLocation } of mediaTypesOf(response, responseLocation, ctx)) {
      const where = `${status} response ${mediaType}`;
      const examples = isObject(media.examples) ? Object.entries(media.examples) : [];
      if (examples.length === 0) {
        const bare = media.example !== undefined ? ' (a bare `example` has no name for Prefer: example=NAME)' : '';
        problem(`${where} has no named example under examples${bare}`, mediaLocation);
        continue;
      }
      const named = examples.some(([name, example]) =>
        isNamedExample(ctx, example, mediaLocation.child(['examples', name])),
      );
      if (!named) {
        problem(
          `${where} has no example with a value or externalValue under examples`,
          mediaLocation.child(['examples']).key(),
        );
      }
    }
  }
});

// ---------------------------------------------------------------------------------------------------------------
// mailroom/idempotency-key-responses

/** Whether the operation (or its path item) declares the `Idempotency-Key` header parameter. */
function declaresIdempotencyKey(operation, location, pathItem, ctx) {
  const declared = [
    ...(Array.isArray(pathItem?.node?.parameters)
      ? pathItem.node.parameters.map((raw, i) => deref(ctx, raw, pathItem.location.child(['parameters', i])).node)
      : []),
    ...(Array.isArray(operation.parameters)
      ? operation.parameters.map((raw, i) => deref(ctx, raw, location.child(['parameters', i])).node)
      : []),
  ];
  return declared.some(
    (parameter) =>
      isObject(parameter) && parameter.in === 'header' && String(parameter.name).toLowerCase() === 'idempotency-key',
  );
}

/**
 * An operation that declares `Idempotency-Key` is run through the server's idempotency stage, which can answer 409
 * IDEMPOTENCY_KEY_IN_USE (with Retry-After) and 422 IDEMPOTENCY_KEY_REUSED, and marks replays with
 * Idempotent-Replayed: the operation must document all three.
 */
const idempotencyKeyResponses = operationRule(({ operation, location, pathItem, ctx, problem }) => {
  if (!declaresIdempotencyKey(operation, location, pathItem, ctx)) {
    return;
  }
  const responses = isObject(operation.responses) ? operation.responses : {};
  for (const [status, code] of [
    ['409', 'IDEMPOTENCY_KEY_IN_USE'],
    ['422', 'IDEMPOTENCY_KEY_REUSED'],
  ]) {
    if (!Object.hasOwn(responses, status)) {
      const at = isObject(operation.responses) ? location.child(['responses']).key() : location;
      problem(`declares Idempotency-Key but is missing response ${status} (${code})`, at);
    }
  }
  for (const { status, response, location: responseLocation } of responsesOf(operation, location, ctx)) {
    const declared = headerNames(response);
    if (/^2/.test(status) && !declared.has('idempotent-replayed')) {
      problem(`${status} response is missing header Idempotent-Replayed`, headersLocation(response, responseLocation));
    }
    if (status === '409' && !declared.has('retry-after')) {
      problem('409 response is missing header Retry-After', headersLocation(response, responseLocation));
    }
  }
});

// ---------------------------------------------------------------------------------------------------------------
// The plugin

/**
 * Every secured `/v1` operation names the permission it needs as the scope of each of its security alternatives, the
 * same one in each (`security: [{ bearerAuth: ['contacts:write'] }, { apiKeyHeader: ['contacts:write'] }]`), and one
 * the Permission schema's `x-permissions` table lists, unless it is marked `x-any-key: true` (open to every valid key:
 * it describes the calling key itself). The server reads the permission from there: an operation naming none would be
 * open to every key by accident.
 */
function v1Permission() {
  let known;
  const named = [];
  const check = operationRule(({ operation, location, path, secured, root, problem }) => {
    if (!secured || !path.startsWith('/v1/') || operation['x-any-key'] === true) {
      return;
    }
    const security = Array.isArray(operation.security) ? operation.security : (root?.security ?? []);
    const at = Array.isArray(operation.security) ? location.child(['security']) : location;
    const scopes = security.map((alternative) => Object.values(alternative ?? {}).flat());
    if (scopes.some((list) => list.length !== 1)) {
      problem('names no permission: give each security alternative one scope (or mark it x-any-key: true)', at);
      return;
    }
    const distinct = [...new Set(scopes.flat())];
    if (distinct.length > 1) {
      problem(`names different permissions in its security alternatives: ${distinct.join(', ')}`, at);
      return;
    }
    named.push({ permission: distinct[0], at, problem });
  })();
  return {
    ...check,
    Schema: {
      enter(schema) {
        if (isObject(schema) && isObject(schema['x-permissions'])) {
          known = new Set(Object.keys(schema['x-permissions']));
        }
      },
    },
    Root: {
      enter(node, ctx) {
        known = undefined;
        named.length = 0;
        check.Root?.enter?.(node, ctx);
      },
      leave(node, ctx) {
        for (const { permission, at, problem } of named) {
          if (known !== undefined && !known.has(permission)) {
            problem(`names ${permission}, which is not a permission of the x-permissions table`, at);
          }
        }
        check.Root?.leave?.(node, ctx);
      },
    },
  };
}

const rules = {
  // A public operation counted per address (x-rate-limit: address) can be refused with 429 too, though never with 401.
  'secured-declares-401-429': operationRule(({ operation, location, secured, limited, problem }) => {
    if (!limited) {
      return;
    }
    const responses = isObject(operation.responses) ? operation.responses : {};
    for (const status of secured ? ['401', '429'] : ['429']) {
      if (!Object.hasOwn(responses, status)) {
        const at = isObject(operation.responses) ? location.child(['responses']).key() : location;
        problem(`is missing response ${status}`, at);
      }
    }
  }),

  'secured-rate-limit-headers': requiredHeadersRule(RATE_LIMIT_HEADERS, (_status, limited) => limited),

  'request-id-header': requiredHeadersRule(['X-Request-Id'], () => true),

  '429-retry-after': requiredHeadersRule(['Retry-After'], (status) => status === '429'),

  '401-www-authenticate': requiredHeadersRule(['WWW-Authenticate'], (status) => status === '401'),

  '405-allow': requiredHeadersRule(['Allow'], (status) => status === '405'),

  envelope,

  'operation-basics': operationRule(({ operation, location, problem }) => {
    if (!Array.isArray(operation.tags) || operation.tags.length === 0) {
      problem('has no tags (at least one is required)', location);
    }
    for (const field of ['summary', 'description']) {
      if (typeof operation[field] !== 'string' || operation[field].trim() === '') {
        problem(`is missing ${field}`, location);
      }
    }
    if (typeof operation.operationId !== 'string' || operation.operationId === '') {
      problem('is missing operationId', location);
    } else if (!CAMEL_CASE.test(operation.operationId)) {
      problem(
        `operationId "${operation.operationId}" is not camelCase (${CAMEL_CASE.source})`,
        location.child(['operationId']),
      );
    }
  }),

  'response-example': responseExample,

  'idempotency-key-responses': idempotencyKeyResponses,

  'v1-permission': v1Permission,

  // Sandbox-only operations (a sandbox's reset) live under /sandbox/ and are marked `x-sandbox-only: true`, both or
  // neither: servers that are no sandbox leave out exactly the marked operations, and the contract run skips them, so
  // an unmarked one would hold every deployment to it and a marked one elsewhere would vanish from production.
  'sandbox-only': operationRule(({ operation, location, path, problem }) => {
    const marked = operation['x-sandbox-only'];
    const underSandbox = path === '/sandbox' || path.startsWith('/sandbox/');
    if (marked !== undefined && marked !== true) {
      problem('has x-sandbox-only set to something other than true', location.child(['x-sandbox-only']));
    } else if (underSandbox && marked !== true) {
      problem('is under /sandbox/ but not marked x-sandbox-only: true', location);
    } else if (!underSandbox && marked === true) {
      problem('is marked x-sandbox-only: true but is not under /sandbox/', location.child(['x-sandbox-only']));
    }
  }),

  // The one table of error codes (x-error-codes, expanded at bundle time by the mailroom/error-codes decorator):
  // every code has a 4xx/5xx status and a `when`, no status serves two codes, and nothing it derives is hand-written.
  'error-codes': () => ({
    Schema: {
      enter(schema, ctx) {
        if (!isObject(schema) || schema['x-error-codes'] === undefined) {
          return;
        }
        if (schema.type !== 'string') {
          ctx.report({
            message: 'a schema with x-error-codes is type: string',
            location: ctx.location.child(['type']),
          });
        }
        for (const { message, path } of readErrorCodes(schema).problems) {
          ctx.report({ message, location: ctx.location.child(path) });
        }
      },
    },
  }),
};

export default function mailroomRulesPlugin() {
  return {
    id: PLUGIN_ID,
    rules: { oas3: rules },
    decorators: { oas3: decorators },
  };
}
