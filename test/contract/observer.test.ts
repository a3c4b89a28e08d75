import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyViolation, startObserver } from '../../src/contract/observer.ts';
import { BUNDLED_SPEC, listOperations, readSpec, type SpecOperation } from '../../src/contract/spec.ts';
import { type ServerHandle, startServer } from '../../src/server/index.ts';

const RULE = { pattern: /^[A-Za-z0-9._:-]+$/u, minLength: 1, maxLength: 128 };
let operations: SpecOperation[];
let server: ServerHandle;

beforeAll(async () => {
  operations = listOperations(await readSpec(BUNDLED_SPEC));
  server = await startServer({
    port: 0,
    logLevel: 'silent',
    plans: { tiny: { windows: [{ name: 'two-seconds', limit: 6, windowSeconds: 2 }] } },
  });
});

afterAll(async () => {
  await server?.close();
});

describe('contract observer', () => {
  it("waits for the run's rate-limit pool to refill instead of tripping the target's limit", async () => {
    // The plan refuses a burst: seven requests straight to the server get a 429.
    const other = await server.createApiKey({ name: 'burst', organization: 'burst', plan: 'tiny' });
    const direct = [];
    for (let i = 0; i < 7; i++) {
      direct.push(
        (await fetch(`${server.url}/v1/api-keys/validate`, { headers: { 'X-API-Key': other.plaintext } })).status,
      );
    }
    expect(direct).toContain(429);

    const paced = await server.createApiKey({ name: 'paced', organization: 'paced', plan: 'tiny' });
    const observer = await startObserver({ target: server.url, requestIdRule: RULE, operations });
    observer.setPacedKey(paced.plaintext);
    try {
      const statuses = [];
      for (let i = 0; i < 14; i++) {
        const response = await fetch(`${observer.url}/v1/api-keys/validate`, {
          headers: { 'X-API-Key': paced.plaintext, 'X-Request-Id': `paced-${i}` },
        });
        statuses.push(response.status);
      }
      expect(statuses).toEqual(Array(14).fill(200));
      expect(observer.exchanges.flatMap((e) => e.findings)).toEqual([]);
    } finally {
      await observer.close();
    }
  }, 60_000);

  it("checks a 405's Allow against the methods the spec documents for the path", async () => {
    let allow = 'GET, POST';
    const fake: Server = createServer((_req, res) => {
      res.writeHead(405, { 'content-type': 'application/json', allow, 'x-request-id': 'r-1' });
      res.end('{}');
    });
    await new Promise<void>((listening) => fake.listen(0, '127.0.0.1', listening));
    const observer = await startObserver({
      target: `http://127.0.0.1:${(fake.address() as AddressInfo).port}`,
      requestIdRule: RULE,
      operations,
    });
    try {
      const put = () => fetch(`${observer.url}/v1/contacts`, { method: 'PUT', headers: { 'X-Request-Id': 'r-1' } });
      await put();
      expect(observer.exchanges[0]?.findings.filter((f) => f.check === 'allow')).toEqual([]);
      allow = 'GET';
      await put();
      expect(observer.exchanges[1]?.findings.map((f) => f.check)).toContain('allow');
      // The 405 declares the rate-limit headers too; the fake sends none.
      expect(observer.exchanges[1]?.findings.map((f) => f.message)).toContain(
        'required header X-RateLimit-Limit is missing',
      );
    } finally {
      await observer.close();
      fake.close();
    }
  });

  it('gives up pacing, with a counter failure, when a window waited for is still spent after its announced reset', async () => {
    // A target whose remaining count never comes back (the drift test's refused-request-counts, taken to its end):
    // waiting for each announced reset would hold every request of a run.
    const fake: Server = createServer((_req, res) => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'x-ratelimit-limit': '10',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': '1',
        'ratelimit-policy': '"burst";q=10;w=1',
        ratelimit: '"burst";r=0;t=1',
      });
      res.end('{}');
    });
    await new Promise<void>((listening) => fake.listen(0, '127.0.0.1', listening));
    const observer = await startObserver({
      target: `http://127.0.0.1:${(fake.address() as AddressInfo).port}`,
      requestIdRule: RULE,
      operations,
    });
    observer.setPacedKey('mr_paced');
    try {
      for (let i = 0; i < 4; i++) {
        await fetch(`${observer.url}/v1/api-keys/validate`, {
          headers: { 'X-API-Key': 'mr_paced', 'X-Request-Id': `p-${i}` },
        });
      }
      const counter = observer.exchanges.map((e) => e.findings.filter((f) => f.check === 'counter').length);
      // The first answer says the window is spent; the second request waits for its reset, and its answer still says
      // so: one counter failure, and pacing stops (the last two go at once and are not judged again).
      expect(counter).toEqual([0, 1, 0, 0]);
      expect(observer.exchanges[1]?.findings.find((f) => f.check === 'counter')?.message).toMatch(
        /did not reset as announced/,
      );
    } finally {
      await observer.close();
      fake.close();
    }
  }, 30_000);

  it('sends a request again, once, when the kept-alive socket it reused was closed by the target', async () => {
    // The target closes a kept-alive socket as its second request arrives (as a server whose idle timeout fires just
    // then does); the request must reach the target on a new socket rather than fail the case with a 502.
    const served = new WeakSet<object>();
    let closed = 0;
    const fake: Server = createServer((req, res) => {
      if (served.has(req.socket)) {
        closed += 1;
        req.socket.destroy();
        return;
      }
      served.add(req.socket);
      res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': String(req.headers['x-request-id']) });
      res.end('{}');
    });
    await new Promise<void>((listening) => fake.listen(0, '127.0.0.1', listening));
    const observer = await startObserver({
      target: `http://127.0.0.1:${(fake.address() as AddressInfo).port}`,
      requestIdRule: RULE,
      operations: [],
    });
    try {
      const statuses = [];
      for (const id of ['first', 'second']) {
        statuses.push((await fetch(`${observer.url}/livez`, { headers: { 'X-Request-Id': id } })).status);
      }
      expect(closed).toBe(1);
      expect(statuses).toEqual([200, 200]);
      expect(observer.exchanges.flatMap((e) => e.findings).filter((f) => f.check === 'transport')).toEqual([]);
    } finally {
      await observer.close();
      fake.close();
    }
  });

  it.each([
    [{ location: ['response', 'body', 'data'], code: 'unevaluatedProperties', message: 'x' }, 'undeclared-field'],
    [{ location: ['response', 'body', 'error', 'code'], code: 'enum', message: 'x' }, 'error-code'],
    [
      { location: ['response', 'body', 'data', 'createdAt'], code: 'pattern', message: 'must match pattern "Z$"' },
      'utc-timestamp',
    ],
    [{ location: ['response', 'header'], code: 'required', message: 'x' }, 'header-schema'],
    [{ location: ['response'], message: 'Unable to match the returned status code with those defined' }, 'status'],
    [{ location: ['response', 'body', 'meta', 'total'], code: 'type', message: 'x' }, 'body-schema'],
    [{ location: ['request', 'body'], code: 'type', message: 'x' }, 'request-valid'],
  ])('classifies Prism violation %j as %s', (violation, want) => {
    expect(classifyViolation(violation)).toBe(want);
  });
});
