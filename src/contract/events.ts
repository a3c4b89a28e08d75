// The events phase of a contract run (after the state phase): what the run's requests leave behind elsewhere.
//
//  - webhook-delivery: an endpoint registered at the run's receiver (receiver.ts) for the key events and ping; the run
//    causes each through the public API (create, rotate, revoke a key, test the endpoint, and, given GitHub's side of a
//    secret-scanning key pair, report a key leaked), then checks every delivery that arrives: its signature with the
//    client's own `verifyWebhook` (Standard Webhooks), its payload against the spec's top-level `webhooks` schema of
//    its type, and that no key's secret is in it.
//  - usage-count: N requests made with a fresh key show as N entries of the request log (`GET /v1/request-logs?keyId=`)
//    and N in the key's usage (`GET /v1/api-keys/{keyId}/usage`); the recorder writes in batches, so both are polled
//    briefly.
import { sign } from 'node:crypto';
import { Ajv2020 } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import { verifyWebhook } from '../client/webhooks.ts';
import type { CaseBook } from './cases.ts';
import type { Created } from './fixtures.ts';
import type { ReceivedDelivery, WebhookReceiver } from './receiver.ts';
import type { Json } from './spec.ts';

/** The check classes of this phase, as the report names and explains them. */
export const EVENT_CHECKS = {
  'webhook-delivery':
    "every delivery the run caused arrives, verifies with the client's verifyWebhook (Standard Webhooks signature, timestamp) under the endpoint's secret, matches the spec's top-level webhooks schema of its type, and carries no key's secret",
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
  secretScanning?: { keyIdentifier: string; privateKey: string };
  /** How long deliveries and log entries may take to show (default 20 s). */
  patienceMs?: number;
}

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

/** The webhook-delivery checks. */
async function checkDeliveries(options: EventChecksOptions): Promise<void> {
  const { book, apiKey, receiver, created, runId, secretScanning } = options;
  const patience = options.patienceMs ?? 20_000;
  const key = apiKey;
  const validators = payloadValidators(options.spec);
  const path = `/events/${runId}`;
  const expected = ['api_key.created', 'api_key.rotated', 'api_key.revoked', 'ping'];
  if (secretScanning) {
    expected.push('api_key.leaked');
  }
  await book.run(
    'state',
    'webhook-delivery: each key event and a ping, delivered signed and as documented',
    async (ctx) => {
      const endpoint = await ctx.send({
        method: 'POST',
        path: '/v1/webhook-endpoints',
        key,
        // Every endpoint gets the test's ping; it is no event one subscribes to.
        body: {
          url: `${receiver.url}${path}`,
          description: `Contract run ${runId}: events`,
          enabledEvents: expected.filter((type) => type !== 'ping'),
        },
        expect: 201,
      });
      const endpointId = String(endpoint.json?.data?.endpointId);
      const secret = String(endpoint.json?.data?.secret);
      created.endpoints.add(endpointId);
      const secrets: string[] = [];
      const made = await ctx.send({
        method: 'POST',
        path: '/v1/api-keys',
        key,
        body: { name: 'Events key' },
        expect: 201,
      });
      const madeId = String(made.json?.data?.keyId);
      secrets.push(String(made.json?.data?.apiKey));
      const rotated = await ctx.send({
        method: 'POST',
        path: `/v1/api-keys/${madeId}/rotate`,
        key,
        headers: { 'Idempotency-Key': `${runId}.events.rotate` },
        body: { gracePeriodMinutes: 0 },
        expect: 201,
      });
      const rotatedId = String(rotated.json?.data?.keyId);
      secrets.push(String(rotated.json?.data?.apiKey));
      await ctx.send({ method: 'DELETE', path: `/v1/api-keys/${rotatedId}`, key, expect: 200 });
      await ctx.send({ method: 'POST', path: `/v1/webhook-endpoints/${endpointId}/test`, key, expect: 202 });
      if (secretScanning) {
        const leaked = await ctx.send({
          method: 'POST',
          path: '/v1/api-keys',
          key,
          body: { name: 'Events key, to leak' },
          expect: 201,
        });
        const plaintext = String(leaked.json?.data?.apiKey);
        secrets.push(plaintext);
        const raw = JSON.stringify([
          { token: plaintext, type: 'mailroom_api_key', url: 'https://github.com/o/r/blob/1/k.js', source: 'content' },
        ]);
        const signature = sign('sha256', Buffer.from(raw), { key: secretScanning.privateKey, dsaEncoding: 'der' });
        await ctx.send({
          method: 'POST',
          path: '/secret-scanning/github',
          raw,
          contentType: 'application/json',
          headers: {
            'Github-Public-Key-Identifier': secretScanning.keyIdentifier,
            'Github-Public-Key-Signature': signature.toString('base64'),
          },
          expect: 200,
        });
      }
      const mine = () => receiver.deliveries.filter((d) => d.path === path);
      const typeOf = (d: ReceivedDelivery) => {
        try {
          return String(JSON.parse(d.body)?.type);
        } catch {
          return 'unparsable';
        }
      };
      const arrived = await poll(() => expected.every((type) => mine().some((d) => typeOf(d) === type)), patience);
      const problems: string[] = [];
      if (!arrived) {
        const seen = mine().map(typeOf);
        const missing = expected.filter((type) => !seen.includes(type));
        problems.push(
          `no delivery of ${missing.join(', ')} within ${patience / 1000} s (received: ${seen.join(', ') || 'none'})`,
        );
      }
      for (const delivery of mine()) {
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
