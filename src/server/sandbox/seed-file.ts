import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import type { Document, Node } from 'yaml';
import type { components } from '../../../generated/schema.d.ts';
import { type ApiKeyText, completeApiKey, parseApiKey } from '../../keys/api-key.ts';
import { accessOf, permissionsOfAccess } from '../../lib/permissions.ts';
import { GENERATED_DIR } from '../spec.ts';

// A sandbox fixture (`mailroom serve --seed FILE`), read and checked before anything is stored: YAML or JSON (YAML's
// parser reads both, with positions), then the JSON Schema the package ships (generated/seed.schema.json, derived from
// the spec's own field schemas), then what a schema can't say. Every problem names the file, the line and column,
// and the field, as `fixtures.yaml:12:17: organizations[0].keys[1].apiKey: …`.

type Schemas = components['schemas'];

/** A user of the fixture: logs in with this email and password (stored only as a scrypt hash). */
export type SeedUser = Schemas['SignUpRequest'];

/** A key of an organization of the fixture: what a create takes, plus a fixed text (sandbox only) or an expiry time. */
export type SeedKey = Pick<
  Schemas['CreateApiKeyRequest'],
  'name' | 'permissions' | 'access' | 'environment' | 'rateLimit' | 'expirationDays'
> & { apiKey?: ApiKeyText; expiresAt?: string };

/** An organization of the fixture, with its plan, members, keys and contacts. */
export interface SeedOrganization {
  name: string;
  plan?: string;
  members?: Schemas['AddMemberRequest'][];
  keys?: SeedKey[];
  contacts?: Schemas['CreateContactRequest'][];
}

/** What a fixture declares. */
export interface Seed {
  users?: SeedUser[];
  organizations?: SeedOrganization[];
}

/** A fixture read and checked: where it came from and what it declares. */
export interface SeedFile {
  /** The path as it was given. */
  path: string;
  seed: Seed;
}

/** One problem of a fixture: where it is (line and column from 1; 0 when it concerns the whole file) and what is wrong. */
export interface SeedProblem {
  line: number;
  column: number;
  /** The field, e.g. `organizations[0].keys[1].apiKey`; empty for the file itself. */
  field: string;
  message: string;
}

/** A fixture that can't be seeded. Its message is one line per problem: `file:line:column: field: message`. */
export class SeedError extends Error {
  override readonly name = 'SeedError';
  readonly file: string;
  readonly problems: readonly SeedProblem[];

  constructor(file: string, problems: SeedProblem[]) {
    const sorted = [...problems].sort((a, b) => a.line - b.line || a.column - b.column);
    super(sorted.map((problem) => describeProblem(file, problem)).join('\n'));
    this.file = file;
    this.problems = sorted;
  }
}

/** What a fixture must fit on this server. */
export interface SeedCheckOptions {
  /** The server's rate-limit plans: an organization's plan must be one of them. */
  plans: readonly string[];
  /** Sandbox mode: only then may a key carry a fixed text. */
  sandbox: boolean;
}

/** `fixtures.yaml:12:17: organizations[0].name: message`, without what is unknown. */
function describeProblem(file: string, { line, column, field, message }: SeedProblem): string {
  return `${file}${line > 0 ? `:${line}:${column}` : ''}: ${field === '' ? '' : `${field}: `}${message}`;
}

/** Reads, parses and checks a fixture file; throws SeedError naming every problem found. */
export async function readSeedFile(path: string, options: SeedCheckOptions): Promise<SeedFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new SeedError(path, [{ line: 0, column: 0, field: '', message: `cannot read the seed file: ${reason}` }]);
  }
  return { path, seed: parseSeed(path, text, options) };
}

// The YAML parser and Ajv are loaded with the first fixture, not with the server: most starts have none.
const require = createRequire(import.meta.url);
let yamlModule: typeof import('yaml') | undefined;
function yaml(): typeof import('yaml') {
  yamlModule ??= require('yaml') as typeof import('yaml');
  return yamlModule;
}

/** Parses and checks a fixture's text (`file` names it in the problems). */
export function parseSeed(file: string, text: string, options: SeedCheckOptions): Seed {
  const { LineCounter, parseDocument } = yaml();
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return { line, column: col };
  };
  if (doc.errors.length > 0) {
    throw new SeedError(
      file,
      doc.errors.map((error) => ({
        ...at(error.pos[0]),
        field: '',
        message: `not valid YAML or JSON: ${error.message}`,
      })),
    );
  }
  const value: unknown = doc.toJS({ maxAliasCount: 100 });
  const validate = seedValidator();
  if (!validate(value)) {
    throw new SeedError(file, dedupe((validate.errors ?? []).map((error) => schemaProblem(doc, at, error))));
  }
  const problems = checkSeed(value as Seed, options).map(({ path, message, onKey }) => {
    const node = onKey ? keyNodeAt(doc, path) : nodeAt(doc, path);
    return { ...at(node?.range?.[0] ?? 0), field: fieldOf(path), message };
  });
  if (problems.length > 0) {
    throw new SeedError(file, problems);
  }
  return value as Seed;
}

let validator: ValidateFunction | undefined;

/** The shipped schema, compiled once, on the first fixture. */
function seedValidator(): ValidateFunction {
  if (!validator) {
    const schema = JSON.parse(readFileSync(resolve(GENERATED_DIR, 'seed.schema.json'), 'utf8')) as object;
    const { Ajv2020 } = require('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js');
    const ajvFormats = require('ajv-formats') as typeof import('ajv-formats');
    const ajv = new Ajv2020({ allErrors: true, verbose: true });
    // ajv-formats is CommonJS: its module.exports, as required, has the plugin as .default too.
    ajvFormats.default(ajv);
    validator = ajv.compile(schema);
  }
  return validator;
}

type Path = (string | number)[];

/** `organizations[0].keys[1].apiKey`. */
function fieldOf(path: Path): string {
  return path
    .map((segment, i) => (typeof segment === 'number' ? `[${segment}]` : i === 0 ? segment : `.${segment}`))
    .join('');
}

/** The YAML node at `path`, if the document has one. */
function nodeAt(doc: Document, path: Path): Node | undefined {
  const { isMap, isScalar, isSeq } = yaml();
  let node: unknown = doc.contents;
  for (const segment of path) {
    if (isSeq(node)) {
      node = node.items[Number(segment)];
    } else if (isMap(node)) {
      node = node.items.find((pair) => isScalar(pair.key) && String(pair.key.value) === String(segment))?.value;
    } else {
      return undefined;
    }
  }
  return node as Node | undefined;
}

/** The key node of the last segment of `path` (where an unknown field is written), else the node of its parent. */
function keyNodeAt(doc: Document, path: Path): Node | undefined {
  const { isMap, isScalar } = yaml();
  const parent = nodeAt(doc, path.slice(0, -1));
  const name = String(path.at(-1));
  const pair = isMap(parent) ? parent.items.find((p) => isScalar(p.key) && String(p.key.value) === name) : undefined;
  return (pair?.key as Node | undefined) ?? parent;
}

/** A schema error as a problem: the field it concerns, where it is written, and what is wrong in plain words. */
function schemaProblem(
  doc: Document,
  at: (offset: number) => { line: number; column: number },
  error: ErrorObject,
): SeedProblem {
  const path: Path = error.instancePath
    .split('/')
    .slice(1)
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((segment) => (/^\d+$/.test(segment) ? Number(segment) : segment));
  const where = (node: Node | undefined) => at(node?.range?.[0] ?? 0);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required': {
      const field = [...path, String(params.missingProperty)];
      return { ...where(nodeAt(doc, path)), field: fieldOf(field), message: 'is required' };
    }
    case 'additionalProperties': {
      const field = [...path, String(params.additionalProperty)];
      const known = Object.keys((error.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      const message = `is not a field here; the fields are ${known.filter((name) => name !== '$schema').join(', ')}`;
      return { ...where(keyNodeAt(doc, field)), field: fieldOf(field), message };
    }
    case 'enum':
      return {
        ...where(nodeAt(doc, path)),
        field: fieldOf(path),
        message: `must be one of ${(params.allowedValues as unknown[]).join(', ')}`,
      };
    case 'format':
      return { ...where(nodeAt(doc, path)), field: fieldOf(path), message: formatMessage(String(params.format)) };
    case 'pattern':
      return {
        ...where(nodeAt(doc, path)),
        field: fieldOf(path),
        message:
          path.at(-1) === 'apiKey'
            ? 'must be an API key, mr_<8 lowercase letters or digits>_<38 letters or digits> (npx mailroom keys generate prints one)'
            : (error.message ?? 'is invalid'),
      };
    default:
      return { ...where(nodeAt(doc, path)), field: fieldOf(path), message: error.message ?? 'is invalid' };
  }
}

function formatMessage(format: string): string {
  if (format === 'email') {
    return 'must be an email address';
  }
  return format === 'date-time'
    ? 'must be a date and time with its offset, e.g. 2027-01-01T00:00:00Z'
    : `must be a ${format}`;
}

/** The problems, each reported once (a schema may say the same thing twice about one field). */
function dedupe(problems: SeedProblem[]): SeedProblem[] {
  const seen = new Set<string>();
  return problems.filter((problem) => {
    const line = JSON.stringify(problem);
    if (seen.has(line)) {
      return false;
    }
    seen.add(line);
    return true;
  });
}

/** A problem the schema can't see: the field's path, what is wrong, and whether it points at the field's key. */
interface Issue {
  path: Path;
  message: string;
  onKey?: boolean;
}

/**
 * What a schema can't say: emails and names unique in the file, members who are users of the file, an owner for an
 * organization with members, a plan of this server's, keys whose settings agree, and fixed keys (valid, each once,
 * sandbox mode only).
 */
function checkSeed(seed: Seed, options: SeedCheckOptions): Issue[] {
  const issues: Issue[] = [];
  const users = new Map<string, number>();
  for (const [u, user] of (seed.users ?? []).entries()) {
    const email = user.email.toLowerCase();
    const first = users.get(email);
    if (first === undefined) {
      users.set(email, u);
    } else {
      issues.push({ path: ['users', u, 'email'], message: `users[${first}] has this email already` });
    }
  }
  const organizations = new Map<string, number>();
  const publicIds = new Map<string, string>();
  const fixed: Path[] = [];
  for (const [o, organization] of (seed.organizations ?? []).entries()) {
    const at = (...rest: Path): Path => ['organizations', o, ...rest];
    const first = organizations.get(organization.name);
    if (first === undefined) {
      organizations.set(organization.name, o);
    } else {
      issues.push({ path: at('name'), message: `organizations[${first}] has this name already` });
    }
    if (organization.plan !== undefined && !options.plans.includes(organization.plan)) {
      const plans = options.plans.join(', ');
      issues.push({ path: at('plan'), message: `unknown plan "${organization.plan}"; this server's plans: ${plans}` });
    }
    issues.push(...checkMembers(organization, users, at));
    for (const [k, key] of (organization.keys ?? []).entries()) {
      issues.push(...checkKey(key, (...rest) => at('keys', k, ...rest), publicIds, fixed));
    }
    const contacts = new Map<string, number>();
    for (const [c, contact] of (organization.contacts ?? []).entries()) {
      const email = contact.email.toLowerCase();
      const seen = contacts.get(email);
      if (seen === undefined) {
        contacts.set(email, c);
      } else {
        issues.push({ path: at('contacts', c, 'email'), message: `contacts[${seen}] has this email already` });
      }
    }
  }
  const [firstFixed] = fixed;
  if (!options.sandbox && firstFixed !== undefined) {
    const more = fixed.length > 1 ? ` (and ${fixed.length - 1} more)` : '';
    issues.push({
      path: firstFixed,
      message: `a fixed API key is allowed only in sandbox mode (mailroom serve --sandbox, MAILROOM_SANDBOX=1)${more}`,
    });
  }
  return issues;
}

function checkMembers(
  organization: SeedOrganization,
  users: Map<string, number>,
  at: (...rest: Path) => Path,
): Issue[] {
  const issues: Issue[] = [];
  const members = new Set<string>();
  for (const [m, member] of (organization.members ?? []).entries()) {
    const email = member.email.toLowerCase();
    if (!users.has(email)) {
      issues.push({
        path: at('members', m, 'email'),
        message: 'no user of this file has this email (list it under users)',
      });
    } else if (members.has(email)) {
      issues.push({ path: at('members', m, 'email'), message: 'is a member of this organization already' });
    }
    members.add(email);
  }
  const list = organization.members ?? [];
  if (list.length > 0 && !list.some((member) => member.role === 'owner')) {
    issues.push({
      path: at('members'),
      message: 'an organization with members needs an owner (role: owner)',
      onKey: true,
    });
  }
  return issues;
}

function checkKey(key: SeedKey, at: (...rest: Path) => Path, publicIds: Map<string, string>, fixed: Path[]): Issue[] {
  const issues: Issue[] = [];
  if (key.expirationDays !== undefined && key.expiresAt !== undefined) {
    issues.push({ path: at('expiresAt'), message: 'give expiresAt or expirationDays, not both' });
  }
  if (key.access !== undefined && key.permissions !== undefined && accessOf(key.permissions) !== key.access) {
    const stands = permissionsOfAccess(key.access).join(', ');
    issues.push({ path: at('access'), message: `${key.access} stands for ${stands}; it disagrees with permissions` });
  }
  if (key.apiKey !== undefined) {
    fixed.push(at('apiKey'));
    const parsed = parseApiKey(key.apiKey);
    if (!parsed.ok) {
      const meant = completeApiKey(key.apiKey);
      issues.push({
        path: at('apiKey'),
        message: `its checksum does not match: the valid key with this id and secret is ${meant}`,
      });
    } else {
      const first = publicIds.get(parsed.publicId);
      if (first === undefined) {
        publicIds.set(parsed.publicId, fieldOf(at('apiKey')));
      } else {
        issues.push({
          path: at('apiKey'),
          message: `${first} has the same public id (${parsed.publicId}); each key needs its own`,
        });
      }
    }
  }
  return issues;
}
