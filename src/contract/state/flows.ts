// The active half of the state model, the run's `state` phase: for every resource the spec declares
// (`x-mailroom-resource`), it creates one through the public API, reads it back by id and in the list, updates it and
// reads it back again, deletes it and checks it is gone everywhere; for a resource with a rotate operation it rotates
// one and checks the replacement keeps what `x-mailroom-inherits` lists, and that the old key's answers carry
// Deprecation and Sunset; and it uses a fresh key one request after another, so the passive model can check the
// rate-limit counter. A handful of requests per resource. Bodies come from the spec's own request examples.
import { randomUUID } from 'node:crypto';
import type { CaseBook, CaseContext } from '../cases.ts';
import type { Sent } from '../client.ts';
import type { Json } from '../spec.ts';
import type { StateCheck } from './checks.ts';
import type { ResourceRule, RuleOperation, StateRules } from './rules.ts';

/** What the state phase needs. */
export interface StateFlowOptions {
  book: CaseBook;
  rules: StateRules;
  /** A full-access key: what every operation taking a key is called with. */
  apiKey: string;
  /** A user token, for operations that take one (organizations); without it those resources are skipped. */
  userToken?: string;
  /** Body fields the run must supply per resource (say, the email of someone signed up, to add as a member). */
  bodies?: Record<string, Record<string, unknown>>;
  runId: string;
  log?: (line: string) => void;
}

type Problem = (check: StateCheck, message: string) => void;

interface Caller {
  key: string;
  bearer?: boolean;
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));
const isObject = (value: unknown): value is Record<string, Json> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** Equal as the API means it: arrays of plain values as sets, strings exactly, objects field by field. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) {
    const plain = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).sort();
    return JSON.stringify(plain(a)) === JSON.stringify(plain(b));
  }
  if (isObject(a) && isObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].every((k) => sameValue(a[k], b[k]));
  }
  return a === b;
}

/** The example that differs most from `other` (fewest fields with equal values), then the richest, then the first. */
function pickExample(op: RuleOperation | undefined, other?: Json, prefer: 'first' | 'last' = 'first'): Json {
  const examples = (op?.examples ?? []).filter(isObject);
  const score = (example: Json) => {
    const overlap = Object.entries<Json>(example).filter(
      ([k, v]) => isObject(other) && k in other && sameValue(v, other[k]),
    ).length;
    return overlap * 1000 - Object.keys(example).length;
  };
  const ordered = prefer === 'last' ? [...examples].reverse() : examples;
  return structuredClone(ordered.sort((a, b) => score(a) - score(b))[0] ?? {});
}

/** Makes an example's identifying fields unique to this run (a name, an email), then applies the run's own values. */
function personalise(example: Json, runId: string, extra: Record<string, unknown> | undefined): Json {
  const body: Record<string, Json> = { ...example };
  const tag = randomUUID().slice(0, 8);
  if (typeof body.name === 'string') {
    body.name = `${body.name.slice(0, 60)} (state ${runId} ${tag})`;
  }
  if (typeof body.email === 'string') {
    body.email = `state-${runId}-${tag}@example.com`;
  }
  return { ...body, ...(extra ?? {}) };
}

function fillPath(op: RuleOperation, params: Record<string, string>): string | undefined {
  let missing = false;
  const path = op.path.replace(/\{([^}]+)\}/g, (_m, name: string) => {
    const value = params[name];
    if (value === undefined) {
      missing = true;
      return '';
    }
    return encodeURIComponent(value);
  });
  return missing ? undefined : path;
}

/** Runs the state phase: a case per resource, one for each rotation. */
export async function runStateFlows(options: StateFlowOptions): Promise<void> {
  const { book, rules } = options;
  const params: Record<string, string> = {};
  // Parents first: a resource whose paths need fewer parameters can supply the others (an organization's id).
  const resources = [...rules.resources].sort(
    (a, b) => (a.operations.create?.pathParams.length ?? 9) - (b.operations.create?.pathParams.length ?? 9),
  );
  for (const resource of resources) {
    const create = resource.operations.create;
    if (!create || !callerFor(create, options) || fillPath(create, params) === undefined) {
      options.log?.(`contract: state: ${resource.name} skipped (no create, no credential for it, or no parent)`);
      continue;
    }
    await book.run('state', `${resource.name}: created, updated and deleted things read back`, (ctx) =>
      lifecycle(ctx, resource, options, params),
    );
    if (resource.operations.rotate) {
      await book.run('state', `${resource.name}: a rotation's replacement inherits, the old key is deprecated`, (ctx) =>
        rotation(ctx, resource, options, params),
      );
    }
  }
}

function callerFor(op: RuleOperation, options: StateFlowOptions): Caller | undefined {
  const schemes = Object.keys(op.schemes);
  if (schemes.some((name) => options.rules.apiKeySchemes.includes(name))) {
    return { key: options.apiKey };
  }
  if (schemes.length > 0 && options.userToken) {
    return { key: options.userToken, bearer: true };
  }
  return undefined;
}

/** An Idempotency-Key header, when the operation declares one. */
function idempotent(op: RuleOperation, key: string): Record<string, string> {
  return op.headers.includes('idempotency-key') ? { 'Idempotency-Key': key } : {};
}

/** Collects problems and fails the case with all of them, each tagged with its check class. */
function problems(): { add: Problem; settle(): void } {
  const found: string[] = [];
  return {
    add: (check, message) => found.push(`[${check}] ${message}`),
    settle() {
      if (found.length > 0) {
        throw new Error(found.join('\n'));
      }
    },
  };
}

async function send(
  ctx: CaseContext,
  op: RuleOperation,
  caller: Caller,
  path: string,
  extra: { body?: unknown; query?: string; headers?: Record<string, string> } = {},
): Promise<Sent> {
  return ctx.sendUnchecked({
    method: op.method,
    path: extra.query ? `${path}?${extra.query}` : path,
    key: caller.key,
    bearer: caller.bearer,
    body: extra.body,
    headers: extra.headers,
  });
}

async function expectStatus(sent: Sent, op: RuleOperation, statuses: number[]): Promise<void> {
  if (!statuses.includes(sent.status)) {
    throw new Error(
      `${op.operationId} answered ${sent.status}, expected ${statuses.join(' or ')}: ${sent.text.slice(0, 300)}`,
    );
  }
}

/** Every item of a list (following cursors, up to 20 pages) and its meta.total, if it has one. */
async function listAll(
  ctx: CaseContext,
  op: RuleOperation,
  caller: Caller,
  path: string,
): Promise<{ items: Json[]; total?: number }> {
  const items: Json[] = [];
  let cursor: string | undefined;
  let total: number | undefined;
  for (let page = 0; page < 20; page += 1) {
    const query = new URLSearchParams();
    if (op.query.includes('limit')) {
      query.set('limit', '100');
    }
    if (cursor !== undefined) {
      query.set('cursor', cursor);
    }
    const sent = await send(ctx, op, caller, path, { query: query.toString() });
    await expectStatus(sent, op, [200]);
    items.push(...(Array.isArray(sent.json?.data) ? sent.json.data : []));
    total = typeof sent.json?.meta?.total === 'number' ? sent.json.meta.total : total;
    cursor = typeof sent.json?.meta?.nextCursor === 'string' ? sent.json.meta.nextCursor : undefined;
    if (cursor === undefined || !op.query.includes('cursor')) {
      break;
    }
  }
  return { items, total };
}

/** Reports every sent field the object shows with another value. */
function compareSent(add: Problem, where: string, object: Json, sent: Json): void {
  for (const [field, value] of Object.entries<Json>(sent)) {
    if (isObject(object) && field in object && !sameValue(object[field], value)) {
      add(
        'read-after-write',
        `${where}: ${field} is ${JSON.stringify(object[field])}, but ${JSON.stringify(value)} was sent`,
      );
    }
  }
}

async function lifecycle(
  ctx: CaseContext,
  resource: ResourceRule,
  options: StateFlowOptions,
  params: Record<string, string>,
): Promise<void> {
  const { create, read, list, update, delete: remove } = resource.operations as Required<ResourceRule['operations']>;
  const idField = resource.idField ?? '';
  const { add, settle } = problems();
  const caller = (op: RuleOperation) => callerFor(op, options) as Caller;
  const listPath = list ? fillPath(list, params) : undefined;
  const before = list && listPath ? await listAll(ctx, list, caller(list), listPath) : undefined;

  const body = personalise(pickExample(create, pickExample(update)), options.runId, options.bodies?.[resource.name]);
  const made = await send(ctx, create, caller(create), fillPath(create, params) as string, {
    body,
    headers: idempotent(create, randomUUID()),
  });
  await expectStatus(made, create, [200, 201]);
  const created: Json = made.json?.data;
  const id = isObject(created) ? created[idField] : undefined;
  if (typeof id !== 'string') {
    throw new Error(`${create.operationId}'s answer has no ${idField}`);
  }
  compareSent(add, `${create.operationId}'s answer`, created, body);
  if (
    options.rules.resources.some((other) => other !== resource && other.operations.create?.pathParams.includes(idField))
  ) {
    params[idField] = id; // the parent of resources whose paths name it (an organization of its keys and members)
  }
  const own = { ...params, [idField]: id };
  const credential = resource.credential && typeof created[resource.credential] === 'string';
  const key = credential ? (created[resource.credential as string] as string) : undefined;

  const readBack = async (label: string, expected: Json) => {
    if (read) {
      const got = await send(ctx, read, caller(read), fillPath(read, own) as string);
      if (got.status !== 200) {
        add('read-after-write', `${label}: reading ${resource.name} ${id} by id answered ${got.status}, not 200`);
      } else {
        compareSent(add, `${label}: ${read.operationId}`, got.json?.data, expected);
      }
    }
    if (list && listPath) {
      const { items, total } = await listAll(ctx, list, caller(list), listPath);
      const item = items.find((x) => isObject(x) && x[idField] === id);
      if (!item) {
        add('read-after-write', `${label}: ${list.operationId} does not list ${resource.name} ${id}`);
      } else {
        compareSent(add, `${label}: ${list.operationId}`, item, expected);
      }
      return total;
    }
    return undefined;
  };

  const totalAfterCreate = await readBack('after create', body);
  if (before?.total !== undefined && totalAfterCreate !== undefined && totalAfterCreate !== before.total + 1) {
    add('read-after-write', `after create: meta.total went from ${before.total} to ${totalAfterCreate}, not up by one`);
  }
  const probe = key ? usableProbe(options.rules, created, 'peek') : undefined;
  if (key && probe) {
    const used = await send(ctx, probe, { key }, probe.path);
    await expectStatus(used, probe, [200]);
    // One request after another with the fresh key (its own rateLimit, when the example gives it one, is the
    // binding window): the passive model checks the counter on each.
    // A request refused before it is counted (a key that fails authentication) comes between two counted ones.
    const counted = usableProbe(options.rules, created, 'counted');
    const refused = `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
    for (const [op, credential] of counted
      ? ([
          [counted, key],
          [counted, key],
          [probe, key],
          [counted, refused],
          [counted, key],
        ] as const)
      : []) {
      await expectStatus(await send(ctx, op, { key: credential }, op.path), op, [credential === key ? 200 : 401]);
    }
    if (read && 'lastUsed' in created) {
      await lastUsedMoves(ctx, read, caller(read), fillPath(read, own) as string, add);
    }
  }

  if (update) {
    const change = personalise(pickExample(update, body), options.runId, undefined);
    const changed = await send(ctx, update, caller(update), fillPath(update, own) as string, { body: change });
    await expectStatus(changed, update, [200]);
    compareSent(add, `${update.operationId}'s answer`, changed.json?.data, change);
    await readBack('after update', change);
  }

  let totalBeforeDelete: number | undefined;
  if (list && listPath) {
    totalBeforeDelete = (await listAll(ctx, list, caller(list), listPath)).total;
  }
  if (remove) {
    const removed = await send(ctx, remove, caller(remove), fillPath(remove, own) as string);
    await expectStatus(removed, remove, [200, 204]);
    if (read) {
      const gone = await send(ctx, read, caller(read), fillPath(read, own) as string);
      if (gone.status !== 404) {
        add('read-after-write', `after delete: reading ${resource.name} ${id} answered ${gone.status}, not 404`);
      }
    }
    if (list && listPath) {
      const { items, total } = await listAll(ctx, list, caller(list), listPath);
      if (items.some((x) => isObject(x) && x[idField] === id)) {
        add('read-after-write', `after delete: ${list.operationId} still lists ${resource.name} ${id}`);
      }
      if (totalBeforeDelete !== undefined && total !== undefined && total !== totalBeforeDelete - 1) {
        add('read-after-write', `after delete: meta.total went from ${totalBeforeDelete} to ${total}, not down by one`);
      }
    }
    if (key && probe) {
      const used = await send(ctx, probe, { key }, probe.path);
      if (used.status !== 401) {
        add('read-after-write', `after delete: the deleted ${resource.name}'s key answered ${used.status}, not 401`);
      }
    }
  }
  settle();
}

/** A GET without path parameters a fresh key may call: `peek` (not counted) or `counted`. */
function usableProbe(rules: StateRules, key: Json, kind: 'peek' | 'counted'): RuleOperation | undefined {
  const held: string[] = Array.isArray(key?.permissions) ? key.permissions : [];
  return rules.probes.find((op) => {
    const scopes = rules.apiKeySchemes.map((name) => op.schemes[name]).find((s) => s !== undefined);
    const peek = op.rateLimit === 'peek';
    return (
      scopes?.every((scope) => held.includes(scope)) === true &&
      (kind === 'peek' ? peek : !peek && op.rateLimit === undefined)
    );
  });
}

/** lastUsed is set once the key has authenticated a request ("within about a second"). */
async function lastUsedMoves(ctx: CaseContext, read: RuleOperation, caller: Caller, path: string, add: Problem) {
  for (let attempt = 0; attempt < 4; attempt += 1) {
    const got = await send(ctx, read, caller, path);
    if (got.status === 200 && got.json?.data?.lastUsed) {
      return;
    }
    await sleep(500);
  }
  add('state-header', `lastUsed stayed null after the key was used (${read.operationId}, for 2 s)`);
}

async function rotation(
  ctx: CaseContext,
  resource: ResourceRule,
  options: StateFlowOptions,
  params: Record<string, string>,
): Promise<void> {
  const { create, read, rotate, delete: remove } = resource.operations as Required<ResourceRule['operations']>;
  const idField = resource.idField ?? '';
  const { add, settle } = problems();
  const caller = (op: RuleOperation) => callerFor(op, options) as Caller;
  // The example that sets the most of what the rotation must keep (the last such: another than the lifecycle's).
  const inherits = resource.inherits;
  const examples = create.examples.filter(isObject);
  const richest = [...examples]
    .reverse()
    .sort((a, b) => inherits.filter((f) => f in b).length - inherits.filter((f) => f in a).length)[0];
  const body = personalise(structuredClone(richest ?? {}), options.runId, options.bodies?.[resource.name]);
  const createPath = fillPath(create, params) as string;
  const idempotencyKey = randomUUID();
  const made = await send(ctx, create, caller(create), createPath, {
    body,
    headers: idempotent(create, idempotencyKey),
  });
  await expectStatus(made, create, [200, 201]);
  const old: Json = made.json?.data;
  const oldId = old?.[idField];
  const oldKey = resource.credential ? old?.[resource.credential] : undefined;
  if (typeof oldId !== 'string') {
    throw new Error(`${create.operationId}'s answer has no ${idField}`);
  }
  // The same request again is a replay: the same thing back, marked Idempotent-Replayed.
  const again = await send(ctx, create, caller(create), createPath, {
    body,
    headers: idempotent(create, idempotencyKey),
  });
  if (!create.headers.includes('idempotency-key')) {
    // nothing to replay
  } else if (again.json?.data?.[idField] !== oldId) {
    add('state-header', `a retry with the same Idempotency-Key made another ${resource.name} instead of replaying`);
  } else if (again.headers.get('idempotent-replayed') === null) {
    add('state-header', 'a replay (same Idempotency-Key, same request) came back without Idempotent-Replayed');
  }
  const own = { ...params, [idField]: oldId };

  const peek = typeof oldKey === 'string' ? usableProbe(options.rules, old, 'peek') : undefined;

  const rotated = await send(ctx, rotate, caller(rotate), fillPath(rotate, own) as string, {
    body: pickExample(rotate),
    headers: idempotent(rotate, randomUUID()),
  });
  await expectStatus(rotated, rotate, [200, 201]);
  const next: Json = rotated.json?.data;
  const nextId = next?.[idField];
  if (typeof nextId !== 'string' || nextId === oldId) {
    throw new Error(`${rotate.operationId}'s answer has no new ${idField}`);
  }
  const keep = (where: string, replacement: Json) => {
    for (const field of inherits) {
      if (isObject(old) && field in old && !sameValue(replacement?.[field], old[field])) {
        add(
          'read-after-write',
          `${where}: the replacement's ${field} is ${JSON.stringify(replacement?.[field])}, the rotated one's was ${JSON.stringify(old[field])} (x-mailroom-inherits)`,
        );
      }
    }
  };
  keep(`${rotate.operationId}'s answer`, next);
  if (read) {
    const got = await send(ctx, read, caller(read), fillPath(read, { ...params, [idField]: nextId }) as string);
    await expectStatus(got, read, [200]);
    keep(`${read.operationId} of the replacement`, got.json?.data);
  }
  const nextKey = resource.credential ? next?.[resource.credential] : undefined;
  if (typeof oldKey === 'string' && typeof nextKey === 'string' && peek) {
    const withOld = await send(ctx, peek, { key: oldKey }, peek.path);
    await expectStatus(withOld, peek, [200]);
    if (!withOld.headers.get('deprecation') || !withOld.headers.get('sunset')) {
      add('state-header', 'the rotated key, inside its grace period, was answered without Deprecation and Sunset');
    }
    const withNew = await send(ctx, peek, { key: nextKey }, peek.path);
    await expectStatus(withNew, peek, [200]);
    if (withNew.headers.get('deprecation') || withNew.headers.get('sunset')) {
      add('state-header', 'the replacement key, never rotated, was answered with Deprecation or Sunset');
    }
  }
  if (remove) {
    for (const id of [nextId, oldId]) {
      const removed = await send(ctx, remove, caller(remove), fillPath(remove, { ...params, [idField]: id }) as string);
      await expectStatus(removed, remove, [200, 204]);
    }
  }
  settle();
}
