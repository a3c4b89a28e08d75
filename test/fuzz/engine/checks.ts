import { headerOf, type RawChunk, type RawExchange, type RawResponse } from '../../helpers/raw-http.ts';
import type { PlannedCase } from './cases.ts';
import type { Snapshot } from './seed.ts';
import type { FuzzSpec } from './spec.ts';

/** What the run looks for, in report order, with the report's words. `undeclared-status` is for information only. */
export const FINDING_KINDS = {
  'server-error': '5xx responses',
  'non-envelope': 'non-envelope responses (or no answer)',
  'code-status': 'code/status mismatches',
  'request-id': 'missing or bad X-Request-Id',
  'rate-limit-headers': 'missing rate-limit headers (/v1)',
  'required-header': 'missing Allow / WWW-Authenticate / Retry-After',
  hung: 'hung requests',
  'refused-yet-executed': 'refused, yet executed (stored rows changed)',
  crash: 'crashes',
  'logged-error': 'errors in the server log',
  'accepted-invalid': 'invalid input accepted (2xx)',
  'unexpected-status': 'unexpected status',
} as const;

/** One of {@link FINDING_KINDS}. */
export type FindingKind = keyof typeof FINDING_KINDS;

/** One thing that went wrong, tied to its case when it has one. */
export interface Finding {
  kind: FindingKind;
  /** The case number (replay it with `--case N`), when known. */
  n?: number;
  cls?: string;
  group?: string;
  operation?: string;
  detail: string;
}

/** What a case got, as the run needs it afterwards. */
export interface CaseResult {
  n: number;
  status: number | undefined;
  elapsedMs: number;
  /** A 2xx: whatever it asked for may have been done. */
  accepted: boolean;
  /** The rows a 2xx says it created, as {@link Snapshot} keys (see {@link createdRows}). */
  created: string[];
}

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const NON_NEGATIVE_INTEGER = /^(0|[1-9][0-9]*)$/;
const RATE_LIMIT_HEADERS = ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'];
const REQUEST_LINE = /^(?:\r?\n)*[!-~]+ +([!-~]+) +HTTP\/\d\.\d\r?\n/;

/** The path the server sees in the first request line of `chunks`, if it can be read as one. */
export function sentPath(chunks: readonly RawChunk[]): string | undefined {
  const first = chunks[0];
  if (first === undefined || (typeof first === 'object' && 'pauseMs' in first)) {
    return undefined;
  }
  const text = typeof first === 'string' ? first : Buffer.from(first).subarray(0, 20_000).toString('latin1');
  const target = REQUEST_LINE.exec(text)?.[1];
  if (target === undefined) {
    return undefined;
  }
  const path = target.startsWith('/') ? target : target.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/, '');
  return path.startsWith('/') ? path.split(/[?#]/, 1)[0] : undefined;
}

const isV1 = (path: string | undefined) => path !== undefined && (path === '/v1' || path.startsWith('/v1/'));

/** Records a finding of one kind about the case being checked. */
type Find = (kind: FindingKind, detail: string) => void;

/** An answer that never came, or could not be read as HTTP. */
function checkNoAnswer(planned: PlannedCase, exchange: RawExchange, find: Find): void {
  if (exchange.timedOut) {
    find('hung', `no answer within ${exchange.elapsedMs} ms`);
  } else {
    const got = exchange.received.length > 0 ? `unparseable: ${exchange.error ?? ''}` : 'closed without an answer';
    find('non-envelope', got);
  }
  if (planned.expect === 'accept' || (typeof planned.expect === 'number' && planned.expect < 300)) {
    find('unexpected-status', `expected ${planned.expect}, got no answer`);
  }
}

/** The body parsed as JSON, or undefined when it is not JSON. */
function parsedJson(response: RawResponse): unknown {
  try {
    return JSON.parse(response.body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The body as a JSON object, or undefined when it is not one. */
function envelopeOf(response: RawResponse): Record<string, unknown> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(response.body.toString('utf8'));
  } catch {
    parsed = undefined;
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
    ? (parsed as Record<string, unknown>)
    : undefined;
}

/** An error answer's envelope: its shape, its code's status in the spec, and its `meta.requestId`. */
function checkErrorEnvelope(
  envelope: Record<string, unknown>,
  status: number,
  requestId: string | undefined,
  spec: FuzzSpec,
  find: Find,
): void {
  const error = envelope.error as Record<string, unknown> | undefined;
  const meta = envelope.meta as Record<string, unknown> | undefined;
  const keys = Object.keys(envelope).sort().join(',');
  if (
    keys !== 'error,meta,success' ||
    envelope.success !== false ||
    typeof error !== 'object' ||
    error === null ||
    typeof error.message !== 'string'
  ) {
    find('non-envelope', `${status} body is not an error envelope: ${JSON.stringify(envelope).slice(0, 160)}`);
    return;
  }
  const code = String(error.code);
  if (spec.errorStatuses[code] !== status) {
    find('code-status', `${status} with code ${code} (the spec says ${spec.errorStatuses[code] ?? 'no such code'})`);
  }
  if (meta?.requestId !== requestId) {
    find(
      'code-status',
      `meta.requestId ${JSON.stringify(meta?.requestId)} is not X-Request-Id ${JSON.stringify(requestId)}`,
    );
  }
}

/**
 * The body is a JSON envelope: an error envelope for 4xx/5xx, a success envelope otherwise. Returns the rows a
 * success says it created (see {@link createdRows}).
 */
function checkEnvelope(
  planned: PlannedCase,
  chunks: readonly RawChunk[],
  response: RawResponse,
  spec: FuzzSpec,
  find: Find,
): string[] {
  const status = response.status;
  const contentType = headerOf(response, 'content-type') ?? '';
  if (planned.op.credential === 'scanner' && status < 300) {
    // GitHub's format, not the envelope: the feedback array (x-envelope: false in the spec).
    if (!/^application\/json\b/.test(contentType) || !Array.isArray(parsedJson(response))) {
      find('non-envelope', `${status} secret-scanning feedback is not a JSON array`);
    }
    return [];
  }
  const envelope = envelopeOf(response);
  if (!/^application\/json\b/.test(contentType) || envelope === undefined) {
    find(
      'non-envelope',
      `${status} ${contentType || 'no Content-Type'}: ${JSON.stringify(response.body.toString('latin1').slice(0, 120))}`,
    );
  } else if (status >= 400) {
    checkErrorEnvelope(envelope, status, headerOf(response, 'x-request-id'), spec, find);
  } else if (envelope.success !== true || !('data' in envelope)) {
    find('non-envelope', `${status} body is not a success envelope: ${JSON.stringify(envelope).slice(0, 160)}`);
  } else {
    return createdRows(planned.op.operationId, envelope.data, sentPath(chunks));
  }
  return [];
}

/** The headers the contract requires: rate-limit headers on /v1, Retry-After on 429, Allow on 405, WWW-Authenticate on 401. */
function checkRequiredHeaders(chunks: readonly RawChunk[], response: RawResponse, find: Find): void {
  const status = response.status;
  if (isV1(sentPath(chunks))) {
    const missing = [
      ...RATE_LIMIT_HEADERS.filter((name) => !NON_NEGATIVE_INTEGER.test(headerOf(response, name) ?? '')),
      ...['ratelimit-policy', 'ratelimit'].filter((name) => !headerOf(response, name)),
    ];
    if (missing.length > 0) {
      find('rate-limit-headers', `${status} without ${missing.join(', ')}`);
    }
  }
  if (status === 429 && !NON_NEGATIVE_INTEGER.test(headerOf(response, 'retry-after') ?? '')) {
    find('required-header', '429 without Retry-After');
  }
  if (status === 405 && headerOf(response, 'allow') === undefined) {
    find('required-header', '405 without Allow');
  }
  if (status === 401 && !headerOf(response, 'www-authenticate')) {
    find('required-header', '401 without WWW-Authenticate');
  }
}

/** The status the case's class expects: a refusal must not be accepted, an exact status must be that status. */
function checkExpectation(planned: PlannedCase, status: number, accepted: boolean, find: Find): void {
  const expect = planned.expect;
  if (accepted && (expect === 'refuse' || (typeof expect === 'number' && expect >= 400))) {
    find('accepted-invalid', `${status}, expected ${expect}`);
  } else if (expect === 'accept' ? !accepted : typeof expect === 'number' && expect !== status) {
    find('unexpected-status', `${status}, expected ${expect}`);
  }
}

/** Checks one answer against what every answer must be and what the case's class expects. */
export function checkExchange(
  planned: PlannedCase,
  chunks: readonly RawChunk[],
  exchange: RawExchange,
  spec: FuzzSpec,
): { result: CaseResult; findings: Finding[]; undeclared: string | undefined } {
  const findings: Finding[] = [];
  const about = {
    n: planned.n,
    cls: planned.cls.name,
    group: planned.cls.group,
    operation: `${planned.op.method} ${planned.op.path}`,
  };
  const find: Find = (kind, detail) => findings.push({ kind, ...about, detail });
  const response = exchange.response;
  const result: CaseResult = {
    n: planned.n,
    status: response?.status,
    elapsedMs: exchange.elapsedMs,
    accepted: false,
    created: [],
  };
  if (!response) {
    checkNoAnswer(planned, exchange, find);
    return { result, findings, undeclared: undefined };
  }

  const status = response.status;
  result.accepted = status >= 200 && status < 300;
  if (status >= 500) {
    find('server-error', `${status}: ${response.body.toString('utf8').slice(0, 200)}`);
  }
  const requestId = headerOf(response, 'x-request-id');
  if (requestId === undefined || !SANE_REQUEST_ID.test(requestId)) {
    find('request-id', `X-Request-Id ${JSON.stringify(requestId)}`);
  }
  // A HEAD answer has no body to check.
  if (!planned.cls.head) {
    result.created = checkEnvelope(planned, chunks, response, spec, find);
  }
  checkRequiredHeaders(chunks, response, find);
  checkExpectation(planned, status, result.accepted, find);

  const undeclared = planned.op.statuses.includes(status)
    ? undefined
    : `${planned.op.method} ${planned.op.path} ${status}`;
  return { result, findings, undeclared };
}

/**
 * The rows a successful answer says it created, as snapshot keys: a contact or key (`contacts:ct_…`, `api_keys:key_…`),
 * a sign-up's user, organization and membership, an organization and the creator's membership (`memberships:org_…/`,
 * any user), an added member (`memberships:org_…/usr_…`, the organization from the path), and the token a sign-up or
 * log-in issued (`tokens-of:usr_…`: user tokens are stored under an id no answer shows).
 */
export function createdRows(operationId: string, data: unknown, path: string | undefined): string[] {
  if (typeof data !== 'object' || data === null) {
    return [];
  }
  const d = data as Record<string, unknown>;
  const rows: string[] = [];
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  const user = text((d.user as Record<string, unknown> | undefined)?.userId);
  if (operationId === 'signUp' || operationId === 'logIn') {
    if (user) {
      rows.push(`tokens-of:${user}`);
      if (operationId === 'signUp') {
        rows.push(`users:${user}`);
        for (const organization of Array.isArray(d.organizations) ? d.organizations : []) {
          const id = text((organization as Record<string, unknown>).organizationId);
          if (id) {
            rows.push(`organizations:${id}`, `memberships:${id}/${user}`);
          }
        }
      }
    }
    return rows;
  }
  if (operationId === 'createOrganization' && text(d.organizationId)) {
    rows.push(`organizations:${d.organizationId}`, `memberships:${d.organizationId}/`);
  }
  if (operationId === 'addMember' && text(d.userId)) {
    const organization = /^\/organizations\/([^/]+)\/members/.exec(path ?? '')?.[1];
    rows.push(`memberships:${organization}/${d.userId}`);
  }
  if (text(d.contactId)) {
    rows.push(`contacts:${d.contactId}`);
  }
  // The /v1 create and its organization twin (a user token's).
  if (/^create(Organization)?WebhookEndpoint$/.test(operationId) && text(d.endpointId)) {
    rows.push(`webhook_endpoints:${d.endpointId}`);
  }
  if (text(d.keyId) && !operationId.startsWith('revoke')) {
    rows.push(`api_keys:${d.keyId}`);
  }
  return rows;
}

/** Whether a new row is one an accepted request created (`created`: every accepted answer's {@link createdRows}). */
function wasCreated(row: string, value: string, created: ReadonlySet<string>): boolean {
  if (created.has(row)) {
    return true;
  }
  if (row.startsWith('memberships:')) {
    // An organization's first membership is its creator's (the answer names the organization, not the member).
    return created.has(`${row.slice(0, row.indexOf('/') + 1)}`);
  }
  if (row.startsWith('user_tokens:')) {
    const { user_id: user } = JSON.parse(value) as { user_id?: string };
    return created.has(`tokens-of:${user}`);
  }
  return false;
}

/** Where each seeded row came from: the case it was reserved for, if any. */
export type RowOwners = Map<string, number>;

/**
 * Compares the stored rows before and after the run. A row reserved for a case may change only if that case was
 * accepted; any other seeded row must not change at all; a new row must be one an accepted create answered with.
 * Everything else is a refused request that was executed anyway (tied to its case by the row or the marker in it).
 */
export function assessRows(
  before: Snapshot,
  after: Snapshot,
  owners: RowOwners,
  results: ReadonlyMap<number, CaseResult>,
  planned: ReadonlyMap<number, PlannedCase>,
  markerPattern: RegExp,
): Finding[] {
  const findings: Finding[] = [];
  const aboutCase = (n: number | undefined) => {
    const p = n === undefined ? undefined : planned.get(n);
    if (p) {
      return { n: p.n, cls: p.cls.name, group: p.cls.group, operation: `${p.op.method} ${p.op.path}` };
    }
    return n === undefined ? {} : { n };
  };
  const created = new Set([...results.values()].flatMap((r) => (r.accepted ? r.created : [])));
  for (const [row, value] of before) {
    const now = after.get(row);
    if (now === value) {
      continue;
    }
    const n = owners.get(row);
    if (n !== undefined && results.get(n)?.accepted) {
      continue;
    }
    const what = now === undefined ? 'deleted' : 'changed';
    const status = n === undefined ? undefined : results.get(n)?.status;
    findings.push({
      kind: 'refused-yet-executed',
      ...aboutCase(n),
      detail:
        n === undefined
          ? `seeded row ${row} ${what}, and no accepted request aimed at it`
          : `row ${row} ${what}, yet the answer was ${status ?? 'none'}`,
    });
  }
  for (const [row, value] of after) {
    if (before.has(row) || wasCreated(row, value, created)) {
      continue;
    }
    const marker = markerPattern.exec(value)?.[1];
    // A token names no case, but its user may be a case's own (a log-in's account).
    const user = row.startsWith('user_tokens:') ? (JSON.parse(value) as { user_id?: string }).user_id : undefined;
    const n = marker === undefined ? owners.get(`users:${user}`) : Number(marker);
    findings.push({
      kind: 'refused-yet-executed',
      ...aboutCase(n),
      detail: `row ${row} was created, yet ${n === undefined ? 'no accepted request created it' : `the answer was ${results.get(n)?.status ?? 'none'}`}`,
    });
  }
  return findings;
}

/** Whether two snapshots hold the same rows with the same values. */
export function sameRows(a: Snapshot, b: Snapshot): { same: boolean; differences: string[] } {
  const differences: string[] = [];
  for (const [row, value] of a) {
    if (b.get(row) !== value) {
      differences.push(`${row} ${b.has(row) ? 'changed' : 'missing'}`);
    }
  }
  for (const row of b.keys()) {
    if (!a.has(row)) {
      differences.push(`${row} appeared`);
    }
  }
  return { same: differences.length === 0, differences };
}

/** Error-level lines of a server log (pino JSON), tied to a case by the request id the case sent. */
export function loggedErrors(logText: string, caseOfRequestId: (id: string) => number | undefined): Finding[] {
  const findings: Finding[] = [];
  for (const line of logText.split('\n')) {
    if (!line.startsWith('{')) {
      continue;
    }
    let entry: {
      level?: number;
      msg?: string;
      requestId?: string;
      req?: { id?: string };
      err?: { type?: string; message?: string };
    };
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    if ((entry.level ?? 0) < 50) {
      continue;
    }
    const id = entry.requestId ?? entry.req?.id;
    const n = id === undefined ? undefined : caseOfRequestId(id);
    const err = entry.err ? ` — ${entry.err.type ?? 'Error'}: ${entry.err.message ?? ''}` : '';
    findings.push({
      kind: 'logged-error',
      ...(n === undefined ? {} : { n }),
      detail: `${entry.msg ?? ''}${err}`.slice(0, 300),
    });
  }
  return findings;
}
