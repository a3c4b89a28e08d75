import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, test } from 'vitest';
import { readPackageVersion, VERSION } from '../../src/lib/version.ts';

const root = resolve(import.meta.dirname, '../..');
const packageVersion = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

describe('the version, written once in package.json', () => {
  const work = mkdtempSync(join(tmpdir(), 'mailroom-version-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  test('VERSION is package.json’s version', () => {
    expect(VERSION).toBe(packageVersion);
  });

  test('is found from a compiled-output folder, passing over a package.json without a name and version', () => {
    writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'mailroom', version: '9.8.7' }));
    mkdirSync(join(work, 'dist/src/lib'), { recursive: true });
    writeFileSync(join(work, 'dist/package.json'), JSON.stringify({ type: 'module' }));
    expect(readPackageVersion(join(work, 'dist/src/lib'))).toBe('9.8.7');
  });

  test('a folder with no package.json above it is an error, not a made-up version', () => {
    const bare = mkdtempSync(join(tmpdir(), 'mailroom-no-package-'));
    try {
      expect(() => readPackageVersion(bare)).toThrow(/no package.json with a name and a version/);
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });

  test('mailroom --version prints it', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(root, 'bin/mailroom.js'), '--version'], {
      cwd: root,
    });
    expect(stdout.trim()).toBe(packageVersion);
  });
});
