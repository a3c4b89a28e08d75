// What the spec writes once and the build derives: the error-code table (x-error-codes in ErrorCode.yaml) becomes the
// bundle's enum, x-error-statuses and Markdown tables (the mailroom/expand-error-codes decorator) and
// generated/error-codes.js; package.json's version becomes info.version (mailroom/package-version). Read from the
// committed generated/ files, which `npm run check:generated` proves fresh.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { ERROR_CODES, ERROR_STATUS } from '../../src/lib/error-codes.ts';
import { VERSION } from '../../src/lib/version.ts';
import { runRedocly } from '../helpers/redocly-cli.ts';

const root = resolve(import.meta.dirname, '../..');
const readYaml = (file: string) => parse(readFileSync(join(root, file), 'utf8'));

interface ErrorCodeSource {
  description: string;
  enum?: unknown;
  'x-error-statuses'?: unknown;
  'x-error-codes': Record<string, { status: number; when: string }>;
}
interface BundledErrorCode {
  description: string;
  enum: string[];
  'x-error-statuses': Record<string, number>;
  'x-error-codes'?: unknown;
}

const source = readYaml('openapi/components/schemas/ErrorCode.yaml') as ErrorCodeSource;
const table = Object.entries(source['x-error-codes']);
const bundle = JSON.parse(readFileSync(join(root, 'generated/openapi.json'), 'utf8')) as {
  info: { version: string; description: string };
  components: { schemas: { ErrorCode: BundledErrorCode } };
};
const bundled = bundle.components.schemas.ErrorCode;

/** The rows of the Markdown table under a `| code | status | when |` header: [code, status, when]. */
function errorTableRows(markdown: string): string[][] {
  const lines = markdown.split('\n').map((line) => line.trim());
  const start = lines.indexOf('| code | status | when |');
  expect(start, 'a | code | status | when | table').toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) {
      break;
    }
    rows.push(
      line
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((cell) => cell.trim().replaceAll('\\|', '|')),
    );
  }
  return rows;
}

const expectedRows = table.map(([code, { status, when }]) => [`\`${code}\``, String(status), when.trim()]);

describe('the error-code table, written once in ErrorCode.yaml', () => {
  test('the source lists each code once with its status, and nothing derived by hand', () => {
    expect(table.length).toBeGreaterThanOrEqual(12);
    expect(source.enum).toBeUndefined();
    expect(source['x-error-statuses']).toBeUndefined();
  });

  test('the bundle’s enum and x-error-statuses are the table, in its order', () => {
    expect(bundled.enum).toEqual(table.map(([code]) => code));
    expect(bundled['x-error-statuses']).toEqual(Object.fromEntries(table.map(([code, { status }]) => [code, status])));
    expect(bundled['x-error-codes']).toBeUndefined();
  });

  test('the ErrorCode schema and the Errors section of the introduction show it as a table', () => {
    expect(errorTableRows(bundled.description)).toEqual(expectedRows);
    const errorsSection = bundle.info.description.slice(bundle.info.description.indexOf('## Errors'));
    expect(errorTableRows(errorsSection)).toEqual(expectedRows);
    expect(`${bundled.description}${bundle.info.description}`).not.toContain('<!-- error-codes-table');
  });

  test('generated/error-codes.js, which the server and the client import, is the table', () => {
    expect([...ERROR_CODES]).toEqual(table.map(([code]) => code));
    expect({ ...ERROR_STATUS }).toEqual(Object.fromEntries(table.map(([code, { status }]) => [code, status])));
  });

  test('a table with a code whose status is not an error status fails the bundle instead of producing a spec', async () => {
    const run = await runRedocly([
      'bundle',
      'test/spec/fixtures/error-code-status-not-an-error.yaml',
      '--config',
      join(root, 'redocly.yaml'),
      '--output',
      join(root, 'test-output', 'never-written.yaml'),
    ]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('error code METHOD_NOT_ALLOWED has status 200, not a 4xx or 5xx integer');
  });
});

describe('the version, written once in package.json', () => {
  test('is the bundle’s info.version, while the source spec names no version of its own', () => {
    expect(bundle.info.version).toBe(VERSION);
    expect((readYaml('openapi/openapi.yaml') as { info: { version: string } }).info.version).not.toMatch(/^\d/);
  });
});
