// The events phase of a contract run (after the state phase): what the run's requests leave behind elsewhere.
//
//  - webhook-delivery: an endpoint registered at the run's receiver (receiver.ts) for the key events, usage.anomaly and
//    ping; the run causes each through the public API (create a key expiring within the notice period, create, rotate,
//    revoke a key, test the endpoint, given GitHub's side of a secret-scanning key pair report a key leaked, and make a
//    key lacking a permission refused 20 times), then checks every delivery that arrives: its signature with the
//    client's own `verifyWebhook` (Standard Webhooks), its payload against the spec's top-level `webhooks` schema of
//    its type, and that no key's secret is in it. api_key.expiring comes from the target's expiry scan (every 60 s by
//    default; `mailroom serve --expiry-scan-seconds`), usage.anomaly at the default threshold (20 refusals in 60 s).
//    On a sandbox, once the expiring key had its notice, the run moves the sandbox's clock a day on (POST
//    /sandbox/clock) and holds the target to api_key.expired too.
//  - usage-count: N requests made with a fresh key show as N entries of the request log (`GET /v1/request-logs?keyId=`)
//    and N in the key's usage (`GET /v1/api-keys/{keyId}/usage`); the recorder writes in batches, so both are polled
//    briefly.
import { sign } from 'node:crypto';
import { Ajv2020 } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import { verifyWebhook } from '../client/webhooks.ts';
import type { CaseBook, CaseContext } from './cases.ts';
import type { Created } from './fixtures.ts';
import type { ReceivedDelivery, WebhookReceiver } from './receiver.ts';
import type { Json } from './spec.ts';

/** The check classes of this phase, as the report names and explains them. */
export const EVENT_CHECKS = {
  'webhook-delivery':
    "every delivery the run caused (api_key.created, .rotated, .revoked, .expiring, .leaked, on a sandbox .expired, usage.anomaly, ping) arrives, verifies with the client's verifyWebhook (Standard Webhooks signature, timestamp) under the endpoint's secret, matches the spec's top-level webhooks schema of its type, and carries no key's secret",
  'usage-count':
    'N requests made with a fresh key show as N entries of GET /v1/request-logs?keyId= and N in its GET /v1/api-keys/{keyId}/usage totals',
} as const;

/** What the events phase needs. */
export interface EventChecksOptions {
  book: CaseBook;
  /** The spec as read (its top-level `webhooks` hold the payload schemas). */
  spec: Json;
  apiKey: string;
  receiver: WebhookReceiver;
  created: Created;
  runId: string;
  secretScanning?: SecretScanning;
  /** How long deliveries and log entries may take to show (default 20 s). */
  patienceMs?: number;
  /**
   * How long the deliveries may take when api_key.expiring is among them (default 65 s: the target's expiry scan runs
   * every 60 s unless started with --expiry-scan-seconds; on a sandbox the run moves its clock instead).
   */
  expiringPatienceMs?: number;
  /** The target is a sandbox: the run moves its clock (POST /sandbox/clock) a day on to cause api_key.expired. */
  sandbox?: boolean;
}

/** GitHub's side of a secret-scanning key pair the target knows. */
type SecretScanning = { keyIdentifier: string; privateKey: string };

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** The payload validator of each webhook event type the spec documents. */
function payloadValidators(spec: Json): Map<string, (value: unknown) => string | undefined> {
  const ajv = new Ajv2020({ allErrors: true, strict: false, validateSchema: false });
  // ajv-formats is CommonJS: under NodeNext its default import is module.exports, whose .default is the plugin.
  ajvFormats.default(ajv);
  const id = 'mailroom-contract-spec';
  ajv.addSchema({ ...spec, $id: id }, id);
  const validators = new Map<string, (value: unknown) => string | undefined>();
  for (const [name, item] of Object.entries<Json>(spec.webhooks ?? {})) {
    if (!item?.post?.requestBody) {
      continue;
    }
    const pointer = `#/webhooks/${name.replaceAll('~', '~0').replaceAll('/', '~1')}/post/requestBody`;
    let body = item.post.requestBody;
    if (typeof body.$ref === 'string') {
      body = body.$ref
        .slice(2)
        .split('/')
        .reduce((node: Json, key: string) => node?.[key.replaceAll('~1', '/').replaceAll('~0', '~')], spec);
    }
    if (!body?.content?.['application/json']?.schema) {
      continue;
    }
    const where = typeof item.post.requestBody.$ref === 'string' ? item.post.requestBody.$ref : pointer;
    const validate = ajv.getSchema(`${id}${where}/content/application~1json/schema`);
    if (!validate) {
      continue;
    }
    const type = body.content['application/json'].schema?.properties?.type?.const ?? name;
    validators.set(String(type), (value) =>
      validate(value) ? undefined : ajv.errorsText(validate.errors, { dataVar: 'payload' }),
    );
  }
  return validators;
}

/** Waits until `ready()` holds or `patienceMs` passed; returns whether it held. */
async function poll(ready: () => boolean | Promise<boolean>, patienceMs: number): Promise<boolean> {
  const until = Date.now() + patienceMs;
  for (;;) {
    if (await ready()) {
      return true;
    }
    if (Date.now() > until) {
      return false;
    }
    await sleep(250);
  }
}

/** What an event the run caused must look like to count as arrived: its type and, for a key's event, the key. */
interface ExpectedEvent {
  type: string;
  keyId?: string;
}

/** The refusals that make a usage.anomaly: the documented default threshold (20 within 60 s). */
export const ANOMALY_REFUSALS = 20;

const typeOf = (d: ReceivedDelivery) => {
  try {
    return String(JSON.parse(d.body)?.type);
  } catch {
    return 'unparsable';
  }
};
const keyIdOf = (d: ReceivedDelivery) => {
  try {
    return JSON.parse(d.body)?.data?.keyId as string | undefined;
  } catch {
    return undefined;
  }
};

/** Makes a key with `body` (kept for the clean-up); its id and secret. */
async function makeKey(ctx: CaseContext, key: string, created: Created, body: Json) {
  const made = await ctx.send({ method: 'POST', path: '/v1/api-keys', key, body, expect: 201 });
  const keyId = String(made.json?.data?.keyId);
  created.keys.add(keyId);
  return { keyId, secret: String(made.json?.data?.apiKey) };
}

/** Creates, rotates and revokes a key, and tests the endpoint: api_key.created, .rotated, .revoked and a ping. */
async function causeKeyEvents(ctx: CaseContext, options: EventChecksOptions, endpointId: string): Promise<string[]> {
  const { apiKey: key, runId } = options;
  const made = await ctx.send({ method: 'POST', path: '/v1/api-keys', key, body: { name: 'Events key' }, expect: 201 });
  const madeId = String(made.json?.data?.keyId);
  const rotated = await ctx.send({
    method: 'POST',
    path: `/v1/api-keys/${madeId}/rotate`,
    key,
    headers: { 'Idempotency-Key': `${runId}.events.rotate` },
    body: { gracePeriodMinutes: 0 },
    expect: 201,
  });
  const rotatedId = String(rotated.json?.data?.keyId);
  await ctx.send({ method: 'DELETE', path: `/v1/api-keys/${rotatedId}`, key, expect: 200 });
  await ctx.send({ method: 'POST', path: `/v1/webhook-endpoints/${endpointId}/test`, key, expect: 202 });
  return [String(made.json?.data?.apiKey), String(rotated.json?.data?.apiKey)];
}

/** Reports a fresh key leaked, signed as GitHub signs: api_key.leaked. */
async function causeLeak(ctx: CaseContext, options: EventChecksOptions, scanner: SecretScanning): Promise<string> {
  const { apiKey: key } = options;
  const leaked = await ctx.send({
    method: 'POST',
    path: '/v1/api-keys',
    key,
    body: { name: 'Events key, to leak' },
    expect: 201,
  });
  const plaintext = String(leaked.json?.data?.apiKey);
  const raw = JSON.stringify([
    { token: plaintext, type: 'mailroom_api_key', url: 'https://github.com/o/r/blob/1/k.js', source: 'content' },
  ]);
  const signature = sign('sha256', Buffer.from(raw), { key: scanner.privateKey, dsaEncoding: 'der' });
  await ctx.send({
    method: 'POST',
    path: '/secret-scanning/github',
    raw,
    contentType: 'application/json',
    headers: {
      'Github-Public-Key-Identifier': scanner.keyIdentifier,
      'Github-Public-Key-Signature': signature.toString('base64'),
    },
    expect: 200,
  });
  return plaintext;
}

/**
 * usage.anomaly: a key allowed to read contacts only asks for the key list (api_keys:read) ANOMALY_REFUSALS times,
 * each 403; a target at the default threshold then sends usage.anomaly for that key.
 */
async function causeAnomaly(ctx: CaseContext, options: EventChecksOptions) {
  const { apiKey: key, created, runId } = options;
  const narrow = await makeKey(ctx, key, created, {
    name: `Contract run ${runId}: anomaly`,
    permissions: ['contacts:read'],
  });
  for (let sent = 0; sent < ANOMALY_REFUSALS; sent += 5) {
    await Promise.all(
      Array.from({ length: Math.min(5, ANOMALY_REFUSALS - sent) }, () =>
        ctx.send({ path: '/v1/api-keys', key: narrow.secret, expect: 403 }),
      ),
    );
  }
  return narrow;
}

/**
 * api_key.expiring, then api_key.expired, on a sandbox: the sandbox's clock moves a minute on (POST /sandbox/clock; a
 * move runs its expiry scan at once), and once the key expiring in a day has had its notice, a day and a minute on, and
 * the target's expiry scan, which reads that clock, finds the key expired.
 */
async function causeExpiry(
  ctx: CaseContext,
  key: string,
  mine: () => ReceivedDelivery[],
  expiring: { keyId: string },
  patience: number,
): Promise<string[]> {
  // A minute on first: a move of the clock (by more than the worker's one-second poll) runs the sandbox's expiry scan at
  // once, so the notice doesn't wait for the scan's interval (a minute by default).
  await ctx.send({ method: 'POST', path: '/sandbox/clock', key, body: { advanceSeconds: 60 }, expect: 200 });
  const noticed = await awaitExpected(mine, [{ type: 'api_key.expiring', keyId: expiring.keyId }], patience);
  if (noticed.length > 0) {
    return noticed;
  }
  await ctx.send({ method: 'POST', path: '/sandbox/clock', key, body: { advanceSeconds: 86_460 }, expect: 200 });
  return [];
}

/** The problems of one delivery: its signature, its payload against the spec, no key's secret in it. */
async function deliveryProblems(
  delivery: ReceivedDelivery,
  secret: string,
  validators: Map<string, (value: unknown) => string | undefined>,
  secrets: string[],
): Promise<string[]> {
  const problems: string[] = [];
  const type = typeOf(delivery);
  const headers = new Headers();
  for (const [name, value] of Object.entries(delivery.headers)) {
    if (typeof value === 'string') {
      headers.set(name, value);
    }
  }
  try {
    await verifyWebhook(delivery.body, headers, secret);
  } catch (error) {
    problems.push(
      `${type} (webhook-id ${headers.get('webhook-id')}): verifyWebhook refused it: ${(error as Error).message}`,
    );
  }
  const validate = validators.get(type);
  if (!validate) {
    problems.push(`${type}: the spec's top-level webhooks document no such event`);
  } else {
    const wrong = validate(JSON.parse(delivery.body));
    if (wrong) {
      problems.push(`${type}: the payload does not match the spec's webhooks schema: ${wrong}`);
    }
  }
  for (const plaintext of secrets) {
    const secretPart = plaintext.split('_')[2];
    if (secretPart && delivery.body.includes(secretPart)) {
      problems.push(`${type}: the payload carries a key's secret`);
    }
  }
  return problems;
}

/** Waits for every expected event; the problems of what is missing. */
async function awaitExpected(mine: () => ReceivedDelivery[], expected: ExpectedEvent[], patience: number) {
  const arrivedOne = (want: ExpectedEvent) =>
    mine().some((d) => typeOf(d) === want.type && (want.keyId === undefined || keyIdOf(d) === want.keyId));
  if (await poll(() => expected.every(arrivedOne), patience)) {
    return [];
  }
  const seen = mine().map(typeOf);
  const missing = expected
    .filter((want) => !arrivedOne(want))
    .map((want) => want.type + (want.keyId ? ` of ${want.keyId}` : ''));
  return [`no delivery of ${missing.join(', ')} within ${patience / 1000} s (received: ${seen.join(', ') || 'none'})`];
}

/** The webhook-delivery checks. */
async function checkDeliveries(options: EventChecksOptions): Promise<void> {
  const { book, apiKey: key, receiver, created, runId, secretScanning } = options;
  const patience = options.patienceMs ?? 20_000;
  const validators = payloadValidators(options.spec);
  const path = `/events/${runId}`;
  const types = ['api_key.created', 'api_key.rotated', 'api_key.revoked', 'api_key.expiring', 'usage.anomaly'];
  if (secretScanning) {
    types.push('api_key.leaked');
  }
  if (options.sandbox) {
    types.push('api_key.expired');
  }
  await book.run(
    'state',
    'webhook-delivery: each key event, a usage anomaly and a ping, delivered signed and as documented',
    async (ctx) => {
      const endpoint = await ctx.send({
        method: 'POST',
        path: '/v1/webhook-endpoints',
        key,
        // Every endpoint gets the test's ping; it is no event one subscribes to.
        body: { url: `${receiver.url}${path}`, description: `Contract run ${runId}: events`, enabledEvents: types },
        expect: 201,
      });
      const endpointId = String(endpoint.json?.data?.endpointId);
      const secret = String(endpoint.json?.data?.secret);
      created.endpoints.add(endpointId);
      // First the key that expires within the notice period: the target's expiry scan (every 60 s by default) is
      // what sends api_key.expiring, so it gets the longest to come.
      const expiring = await makeKey(ctx, key, created, { name: `Contract run ${runId}: expiring`, expirationDays: 1 });
      const secrets = [expiring.secret, ...(await causeKeyEvents(ctx, options, endpointId))];
      if (secretScanning) {
        secrets.push(await causeLeak(ctx, options, secretScanning));
      }
      const anomalous = await causeAnomaly(ctx, options);
      secrets.push(anomalous.secret);
      const ofKeys = new Map([
        ['api_key.expiring', expiring.keyId],
        ['api_key.expired', expiring.keyId],
        ['usage.anomaly', anomalous.keyId],
      ]);
      const expected: ExpectedEvent[] = [...types, 'ping'].map((type) => ({ type, keyId: ofKeys.get(type) }));
      const mine = () => receiver.deliveries.filter((d) => d.path === path);
      const slow = options.expiringPatienceMs ?? Math.max(patience, 65_000);
      const problems = options.sandbox ? await causeExpiry(ctx, key, mine, expiring, slow) : [];
      if (problems.length === 0) {
        problems.push(...(await awaitExpected(mine, expected, slow)));
      }
      for (const delivery of mine()) {
        problems.push(...(await deliveryProblems(delivery, secret, validators, secrets)));
      }
      if (problems.length > 0) {
        throw new Error(problems.map((p) => `[webhook-delivery] ${p}`).join('\n'));
      }
      return mine().length;
    },
  );
}

/** The usage-count checks: a fresh key's requests, counted in the request log and in its usage. */
async function checkUsageCounts(options: EventChecksOptions): Promise<void> {
  const { book, apiKey: key, created, runId } = options;
  const patience = options.patienceMs ?? 20_000;
  const requests = 4;
  await book.run(
    'state',
    `usage-count: ${requests} requests of a fresh key, in its request log and its usage`,
    async (ctx) => {
      const fresh = await ctx.send({
        method: 'POST',
        path: '/v1/api-keys',
        key,
        body: { name: `Contract run ${runId}: usage count` },
        expect: 201,
      });
      const keyId = String(fresh.json?.data?.keyId);
      created.keys.add(keyId);
      for (let i = 0; i < requests; i++) {
        await ctx.send({ path: '/v1/api-keys/validate', key: String(fresh.json?.data?.apiKey), expect: 200 });
      }
      let logged = -1;
      let counted = -1;
      const settled = await poll(async () => {
        const log = await ctx.send({ path: `/v1/request-logs?keyId=${keyId}&limit=100`, key, expect: 200 });
        logged = Array.isArray(log.json?.data) ? log.json.data.length : -1;
        const usage = await ctx.send({ path: `/v1/api-keys/${keyId}/usage`, key, expect: 200 });
        counted = Number(usage.json?.data?.totals?.total);
        return logged === requests && counted === requests;
      }, patience);
      if (!settled) {
        const problems = [];
        if (logged !== requests) {
          problems.push(`GET /v1/request-logs?keyId=${keyId} listed ${logged} entries for ${requests} requests`);
        }
        if (counted !== requests) {
          problems.push(`GET /v1/api-keys/${keyId}/usage counted ${counted} requests for ${requests}`);
        }
        throw new Error(problems.map((p) => `[usage-count] ${p} (after ${patience / 1000} s)`).join('\n'));
      }
      return counted;
    },
  );
}

/** Runs the events phase: the webhook-delivery and usage-count checks, each a case of the state suite. */
export async function runEventChecks(options: EventChecksOptions): Promise<void> {
  const has = (path: string) => Boolean(options.spec.paths?.[path]);
  if (has('/v1/webhook-endpoints')) {
    await checkDeliveries(options);
  }
  if (has('/v1/request-logs') && has('/v1/api-keys/{keyId}/usage')) {
    await checkUsageCounts(options);
  }
}
