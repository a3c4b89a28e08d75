import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const generator = join(root, 'scripts', 'generate.mjs');

describe('generated/ staleness check', () => {
  let work: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'mailroom-stale-'));
    await cp(join(root, 'openapi'), join(work, 'openapi'), { recursive: true });
    await cp(join(root, 'generated'), join(work, 'generated'), { recursive: true });
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const check = () =>
    run(
      process.execPath,
      [generator, '--check', '--spec', join(work, 'openapi/openapi.yaml'), '--out', join(work, 'generated')],
      {
        cwd: root,
      },
    );

  test('an unchanged copy of the spec passes the check', async () => {
    const { stdout } = await check();
    expect(stdout).toContain('up to date');
  });

  test('changing a spec file without regenerating fails the check and names the stale files', async () => {
    const file = join(work, 'openapi/components/schemas/Contact.yaml');
    await writeFile(file, (await readFile(file, 'utf8')).replace('A person your organization can email.', 'A person.'));
    const failure = await check().then(
      () => null,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toMatch(/stale: .*openapi\.json/);
    expect(failure?.stderr).toContain('schema.d.ts');
  });

  test('a hand edit to a generated file fails the check', async () => {
    await cp(join(root, 'openapi'), join(work, 'openapi'), { recursive: true });
    await writeFile(join(work, 'generated/schema.d.ts'), '// edited by hand\n', { flag: 'a' });
    const failure = await check().then(
      () => null,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain('schema.d.ts');
  });
});
