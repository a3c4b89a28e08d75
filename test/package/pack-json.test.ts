import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';

// Release tools run `npm pack --json` (or `--dry-run --json`) and parse its stdout, and `npm pack` runs `prepare`, the
// build. So the build may print nothing on stdout. The project is copied to a directory of its own, so that this
// `prepare` builds there and not in the dist/ the other test files are using.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** What `npm pack` needs: the manifest, the build's inputs and scripts, and what the package ships. */
const PROJECT_FILES = ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'bin', 'src', 'scripts'];
const PACK_TIMEOUT_MS = 240_000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `npm pack` with `args` in `cwd`, without npm's run-script variables of an outer `npm test` (which name the repo). */
function npmPack(args: string[], cwd: string): Promise<Run> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => !/^npm_(package|lifecycle)_|^npm_config_(local_)?prefix$/.test(name),
    ),
  );
  return new Promise((resolveRun) => {
    execFile('npm', ['pack', ...args], { cwd, env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolveRun({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

/** The packed files npm lists in its JSON output, or a failure naming what stdout held instead. */
function packedFiles(run: Run): string[] {
  expect(run.code, run.stderr).toBe(0);
  let parsed: unknown;
  expect(
    () => {
      parsed = JSON.parse(run.stdout);
    },
    `stdout is JSON, got:\n${run.stdout.slice(0, 400)}`,
  ).not.toThrow();
  const [packed] = parsed as { name: string; filename: string; files: { path: string }[] }[];
  expect(packed?.name).toBe('mailroom');
  return packed?.files.map((file) => file.path) ?? [];
}

let project: string;

beforeAll(async () => {
  project = await mkdtemp(join(tmpdir(), 'mailroom-pack-json-'));
  for (const name of [...PROJECT_FILES, 'generated']) {
    await cp(join(ROOT, name), join(project, name), { recursive: true });
  }
  await symlink(join(ROOT, 'node_modules'), join(project, 'node_modules'), 'dir');
});
afterAll(async () => {
  await rm(project, { recursive: true, force: true });
});

test(
  'npm pack --dry-run --json prints only JSON on stdout, the build it runs reporting on stderr',
  async () => {
    const run = await npmPack(['--dry-run', '--json'], project);
    const files = packedFiles(run);
    expect(files).toContain('dist/index.js');
    expect(files).toContain('generated/openapi.json');
    // The JSON Schema of sandbox fixtures ships with the package, for the server and for editors.
    expect(files).toContain('generated/seed.schema.json');
    expect(run.stderr).toMatch(/^build: dist\/ and dist\/client-package\//m);
  },
  PACK_TIMEOUT_MS,
);

test(
  'npm pack --json prints only JSON on stdout and writes the tarball it names',
  async () => {
    const destination = join(project, 'packed');
    await mkdir(destination);
    const run = await npmPack(['--json', '--pack-destination', destination], project);
    expect(packedFiles(run)).toContain('bin/mailroom.js');
    const [packed] = JSON.parse(run.stdout) as { filename: string }[];
    expect(await readdir(destination)).toEqual([packed?.filename]);
  },
  PACK_TIMEOUT_MS,
);
