// Mailroom's bundle-time decorators, registered by the `mailroom` plugin (mailroom-rules.js) and switched on under
// `decorators:` in the root redocly.yaml. `redocly bundle` (npm run generate) applies them; `redocly lint` does not,
// so the lint rules see the source as written. They fill in what the source states once elsewhere:
//
// - mailroom/expand-error-codes: the ErrorCode schema's `x-error-codes` table (code → { status, when }) becomes its `enum`,
//   its `x-error-statuses` map (code → status, for tools that read the bundle) and the Markdown tables readers see,
//   written wherever a description holds the ERROR_CODES_TABLE marker (the schema's own and the Errors section of
//   info.description). scripts/generate.mjs then writes generated/error-codes.js from the bundle.
// - mailroom/expand-permissions: the Permission schema's `x-permissions` table (permission → { description }) becomes
//   its `enum`, and the operation → permission tables readers see (from each operation's security requirement) are
//   written wherever a description holds the PERMISSIONS_TABLE marker (the schema's own and info.description).
// - mailroom/package-version: info.version becomes package.json's version, the one place the version is written.
//
// All are idempotent: build-docs re-bundles the already bundled spec with the same decorators.
import { readFileSync } from 'node:fs';

/** Written in a description where the error-code table goes; replaced by the table at bundle time. */
export const ERROR_CODES_TABLE = '<!-- error-codes-table: generated from x-error-codes at bundle time -->';

const ERROR_CODE_NAME = /^[A-Z][A-Z0-9_]*$/;

/** @param {unknown} value */
function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads an `x-error-codes` table. Returns `{ codes, problems }`: `codes` lists `{ code, status, when }` in the table's
 * order (empty when there is any problem); each problem is `{ message, path }` with `path` relative to the schema.
 * A code needs an integer 4xx/5xx `status` and a `when` sentence. Several codes may share a status (the first listed
 * is that status's generic code); the schema must not also list `enum` or `x-error-statuses` by hand.
 */
export function readErrorCodes(schema) {
  const problems = [];
  const table = schema['x-error-codes'];
  if (!isObject(table) || Object.keys(table).length === 0) {
    return {
      codes: [],
      problems: [{ message: 'x-error-codes must map each error code to { status, when }', path: ['x-error-codes'] }],
    };
  }
  for (const derived of ['enum', 'x-error-statuses']) {
    if (schema[derived] !== undefined) {
      problems.push({
        message: `${derived} is derived from x-error-codes at bundle time: remove it from the source`,
        path: [derived],
      });
    }
  }
  const codes = [];
  for (const [code, entry] of Object.entries(table)) {
    const path = ['x-error-codes', code];
    if (!ERROR_CODE_NAME.test(code)) {
      problems.push({ message: `error code ${code} is not UPPER_SNAKE_CASE`, path });
    }
    if (!isObject(entry)) {
      problems.push({ message: `error code ${code} has no { status, when }`, path });
      continue;
    }
    const { status, when } = entry;
    if (status === undefined) {
      problems.push({ message: `error code ${code} has no status`, path });
    } else if (!Number.isInteger(status) || status < 400 || status > 599) {
      problems.push({
        message: `error code ${code} has status ${JSON.stringify(status)}, not a 4xx or 5xx integer`,
        path: [...path, 'status'],
      });
    }
    if (typeof when !== 'string' || when.trim() === '') {
      problems.push({ message: `error code ${code} has no when (the sentence the docs show)`, path });
    }
    for (const key of Object.keys(entry)) {
      if (key !== 'status' && key !== 'when') {
        problems.push({
          message: `error code ${code} has unknown field ${key} (only status and when)`,
          path: [...path, key],
        });
      }
    }
    codes.push({ code, status, when });
  }
  return { codes: problems.length === 0 ? codes : [], problems };
}

/** The Markdown table of the error codes: code, status, when. */
export function errorCodesMarkdown(codes) {
  const rows = codes.map(
    ({ code, status, when }) => `| \`${code}\` | ${status} | ${when.trim().replaceAll('|', '\\|')} |`,
  );
  return ['| code | status | when |', '|---|---|---|', ...rows].join('\n');
}

function fillTable(description, table) {
  return typeof description === 'string' ? description.replaceAll(ERROR_CODES_TABLE, table) : description;
}

function expandErrorCodes() {
  /** @type {{ code: string, status: number, when: string }[] | undefined} */
  let codes;
  let info;
  return {
    Root: {
      enter() {
        codes = undefined;
        info = undefined;
      },
      leave() {
        if (
          info === undefined ||
          typeof info.description !== 'string' ||
          !info.description.includes(ERROR_CODES_TABLE)
        ) {
          return;
        }
        if (codes === undefined) {
          throw new Error('info.description asks for the error-code table, but no schema has an x-error-codes table');
        }
        info.description = fillTable(info.description, errorCodesMarkdown(codes));
      },
    },
    Info: {
      enter(node) {
        info = node;
      },
    },
    Schema: {
      enter(schema) {
        if (!isObject(schema) || schema['x-error-codes'] === undefined) {
          return;
        }
        const read = readErrorCodes(schema);
        if (read.problems.length > 0) {
          const list = read.problems.map(({ message }) => `  - ${message}`).join('\n');
          throw new Error(`x-error-codes cannot be bundled (\`npm run lint:spec\` points at each problem):\n${list}`);
        }
        if (codes !== undefined) {
          throw new Error('two schemas have an x-error-codes table; the spec has one closed set of error codes');
        }
        codes = read.codes;
        // Rebuilt in place, so the bundle lists the derived keywords where the table was.
        const entries = Object.entries(schema);
        for (const key of Object.keys(schema)) {
          delete schema[key];
        }
        for (const [key, value] of entries) {
          if (key === 'x-error-codes') {
            schema.enum = codes.map(({ code }) => code);
            schema['x-error-statuses'] = Object.fromEntries(codes.map(({ code, status }) => [code, status]));
          } else {
            schema[key] = key === 'description' ? fillTable(value, errorCodesMarkdown(codes)) : value;
          }
        }
      },
    },
  };
}

/** Written in a description where the permissions table goes; replaced by the table at bundle time. */
export const PERMISSIONS_TABLE =
  "<!-- permissions-table: generated from x-permissions and each operation's security at bundle time -->";

/** The API-key security schemes, whose requirements name permissions (a user token's name roles). */
const API_KEY_SCHEMES = ['bearerAuth', 'apiKeyHeader'];

/**
 * The permission an operation's security requirement names for the API-key schemes, `'any'` for an operation marked
 * `x-any-key: true` (open to every valid key), or undefined when it takes no API key.
 */
export function permissionOf(operation, rootSecurity) {
  const security = operation.security ?? rootSecurity ?? [];
  const scopes = security.flatMap((alternative) =>
    Object.entries(alternative ?? {})
      .filter(([scheme]) => API_KEY_SCHEMES.includes(scheme))
      .map(([, roles]) => roles ?? []),
  );
  if (scopes.length === 0) {
    return undefined;
  }
  if (operation['x-any-key'] === true) {
    return 'any';
  }
  return scopes[0]?.[0];
}

/**
 * The Markdown tables of the permissions: each one and what it allows; then each `/v1` operation and the permission it
 * needs (or "any valid key"). Two narrow tables rather than one wide one, so both fit Redoc's middle column.
 */
export function permissionsMarkdown(permissions, operations) {
  const cell = (text) => text.trim().replaceAll('|', '\\|');
  const allows = permissions.map(({ permission, description }) => `| \`${permission}\` | ${cell(description)} |`);
  // A long path has no space to break at: <wbr> after each slash lets it wrap, so the `needs` column stays in view.
  const needs = operations.map(
    ({ method, path, operationId, permission }) =>
      `| ${method} ${path.replaceAll('/', '/<wbr>')} (${operationId}) | ${permission === 'any' ? 'any valid key' : `\`${permission}\``} |`,
  );
  return ['| permission | allows |', '|---|---|', ...allows, '', '| operation | needs |', '|---|---|', ...needs].join(
    '\n',
  );
}

function expandPermissions() {
  let permissions;
  let permissionSchema;
  let info;
  let rootSecurity;
  let path;
  const operations = [];
  const fill = (description) =>
    typeof description === 'string'
      ? description.replaceAll(PERMISSIONS_TABLE, permissionsMarkdown(permissions, operations))
      : description;
  return {
    Root: {
      enter(root) {
        permissions = undefined;
        permissionSchema = undefined;
        info = undefined;
        rootSecurity = root.security;
        operations.length = 0;
      },
      leave() {
        const wanted = [info, permissionSchema].filter(
          (node) => typeof node?.description === 'string' && node.description.includes(PERMISSIONS_TABLE),
        );
        if (wanted.length > 0 && permissions === undefined) {
          throw new Error('a description asks for the permissions table, but no schema has an x-permissions table');
        }
        for (const node of wanted) {
          node.description = fill(node.description);
        }
      },
    },
    Info: {
      enter(node) {
        info = node;
      },
    },
    PathItem: {
      enter(_node, ctx) {
        path = ctx.key;
      },
    },
    Operation: {
      enter(operation, ctx) {
        const permission = permissionOf(operation, rootSecurity);
        if (permission !== undefined && typeof path === 'string' && path.startsWith('/v1/')) {
          operations.push({
            method: String(ctx.key).toUpperCase(),
            path,
            operationId: operation.operationId,
            permission,
          });
        }
      },
    },
    Schema: {
      enter(schema) {
        if (!isObject(schema) || schema['x-permissions'] === undefined) {
          return;
        }
        const table = schema['x-permissions'];
        if (!isObject(table) || Object.keys(table).length === 0) {
          throw new Error('x-permissions must map each permission to { description }');
        }
        if (permissions !== undefined && permissionSchema !== schema) {
          throw new Error('two schemas have an x-permissions table; the spec has one closed set of permissions');
        }
        permissionSchema = schema;
        permissions = Object.entries(table).map(([permission, entry]) => ({
          permission,
          description: String(entry?.description ?? ''),
        }));
        schema.enum = permissions.map(({ permission }) => permission);
      },
    },
  };
}

/** The version in the repository's package.json (openapi/plugins/ is two levels below it). */
function packageVersion() {
  const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  if (typeof packageJson.version !== 'string' || packageJson.version === '') {
    throw new Error('package.json has no version');
  }
  return packageJson.version;
}

function infoVersion() {
  const version = packageVersion();
  return {
    Info: {
      leave(info) {
        info.version = version;
      },
    },
  };
}

/** The decorators of the `mailroom` plugin, for OpenAPI 3.x. */
export const decorators = {
  'expand-error-codes': expandErrorCodes,
  'expand-permissions': expandPermissions,
  'package-version': infoVersion,
};
