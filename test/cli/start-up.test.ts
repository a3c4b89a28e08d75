import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { START_TIMEOUT_MS, serve, urlAndKey } from './helpers/serve.ts';

// `mailroom serve` says it listens once it can answer every operation, but it loads only what answering needs: the
// request validator's library (Ajv, a $ref parser, multer…) is loaded right after the banner, in the background, and
// each path's validator on its first request; Redis, PostgreSQL, the fixture parser and the contract run's tools only
// when asked for. Each was tens of milliseconds of every start (README, *Start-up*).

const REPORTER = fileURLToPath(new URL('./fixtures/report-loaded-packages.mjs', import.meta.url));

/** Packages a plain `serve --memory` must not have loaded when it prints "listening on". */
const NOT_BEFORE_LISTENING = [
  'express-openapi-validator',
  'ajv',
  'ajv-formats',
  '@apidevtools/json-schema-ref-parser',
  'multer',
  'ioredis',
  'pg',
  'yaml',
  'js-yaml',
  'dredd',
  '@stoplight/prism-cli',
  '@stoplight/prism-http',
];

describe('mailroom serve start-up', () => {
  test(
    'loads none of what other options need before listening, and its first requests are validated',
    async () => {
      const out = await serve([], { NODE_OPTIONS: `--import=${REPORTER}` });
      const loaded = JSON.parse(/^LOADED (.*)$/m.exec(out)?.[1] ?? 'null') as string[] | null;
      expect(loaded, out).not.toBeNull();
      expect(loaded).toContain('express');
      expect(loaded?.filter((name) => NOT_BEFORE_LISTENING.includes(name))).toEqual([]);

      // The first requests after the banner: one the validator refuses, one it lets through.
      const { url, key } = urlAndKey(out);
      const headers = { 'X-API-Key': key, 'Content-Type': 'application/json' };
      const refused = await fetch(`${url}/v1/contacts`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ email: 'not an address', unknown: 1 }),
      });
      expect(refused.status).toBe(422);
      const body = (await refused.json()) as { error: { code: string; details: Record<string, string[]> } };
      expect(body.error.code).toBe('VALIDATION_ERROR');
      expect(Object.keys(body.error.details).sort()).toEqual(['email', 'unknown']);
      const created = await fetch(`${url}/v1/contacts`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ email: 'first@example.com' }),
      });
      expect(created.status).toBe(201);
    },
    START_TIMEOUT_MS,
  );
});
