import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

// What users install: both packages packed with `npm pack` (from the dist/ the global setup just built), installed
// from the tarballs into fresh projects (their dependencies from the npm cache or registry), then used as users would.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CONSUMER = fileURLToPath(new URL('./consumer', import.meta.url));
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const INSTALL_TIMEOUT_MS = 240_000;

/** The environment minus npm's own run-script variables (local prefix, package fields), which would leak the repo. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^npm_(package|lifecycle)_/.test(name) && !/^npm_config_(local_)?prefix$/.test(name)) {
      env[name] = value;
    }
  }
  return { ...env, ...extra };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never rejects (the caller asserts on the exit code and output). */
function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolveRun) => {
    execFile(command, args, { cwd, env: cleanEnv(env), maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolveRun({ code, stdout, stderr });
    });
  });
}

function explain(what: string, result: Run): string {
  return `${what} exited ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
}

/** Packs a package directory into `destination` and returns the tarball's path. */
async function pack(directory: string, destination: string): Promise<string> {
  // --ignore-scripts: the global setup has built dist/, and a `prepare` here would rebuild it under running tests.
  const result = await run(
    'npm',
    ['pack', directory, '--ignore-scripts', '--json', '--pack-destination', destination],
    ROOT,
  );
  expect(result.code, explain('npm pack', result)).toBe(0);
  const [packed] = JSON.parse(result.stdout) as { filename: string }[];
  return join(destination, packed?.filename ?? '');
}

/** A fresh project with `tarball` installed; returns its directory. */
async function installInto(name: string, tarball: string, work: string): Promise<string> {
  const directory = join(work, name);
  await mkdir(directory);
  await writeFile(join(directory, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
  const result = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], directory);
  expect(result.code, explain(`npm install ${tarball}`, result)).toBe(0);
  return directory;
}

/** The packages npm installed into a project (its hidden lockfile), e.g. `openapi-fetch`. */
async function installedPackages(project: string): Promise<string[]> {
  const lock = JSON.parse(await readFile(join(project, 'node_modules', '.package-lock.json'), 'utf8')) as {
    packages: Record<string, unknown>;
  };
  return Object.keys(lock.packages)
    .map((path) => path.replace(/^.*node_modules\//, ''))
    .sort();
}

/** Bytes of every file under `directory` (what `du --apparent-size` counts, without the directory entries). */
async function sizeOf(directory: string): Promise<number> {
  const entries = await readdir(directory, { recursive: true, withFileTypes: true });
  const files = entries.filter((entry) => entry.isFile());
  const sizes = await Promise.all(files.map(async (entry) => (await stat(join(entry.parentPath, entry.name))).size));
  return sizes.reduce((sum, size) => sum + size, 0);
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

let work: string;
let clientProject: string;
let serverProject: string;
let sandbox: ChildProcess | undefined;
let sandboxOutput = '';
let baseUrl: string;
let apiKey: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'mailroom-pack-'));
  const [serverTarball, clientTarball] = await Promise.all([pack('.', work), pack('./dist/client-package', work)]);
  [serverProject, clientProject] = await Promise.all([
    installInto('server-app', serverTarball, work),
    installInto('client-app', clientTarball, work),
  ]);
  await cp(CONSUMER, clientProject, { recursive: true });

  // The sandbox, exactly as the README starts it, from the installed package. Detached: npx runs it as a grandchild.
  sandbox = spawn('npx', ['--no', 'mailroom', 'serve', '--memory', '--port', '0', '--log-level', 'warn'], {
    cwd: serverProject,
    env: cleanEnv(),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const child = sandbox;
  [baseUrl, apiKey] = await new Promise<[string, string]>((resolveStarted, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`mailroom serve did not start in 60 s:\n${sandboxOutput}`)),
      60_000,
    );
    const collect = (chunk: Buffer) => {
      sandboxOutput += chunk.toString();
      const url = /listening on (http:\/\/\S+)/.exec(sandboxOutput)?.[1];
      const key = /^\s+(mr_\w+)$/m.exec(sandboxOutput)?.[1];
      if (url && key) {
        clearTimeout(timer);
        resolveStarted([url, key]);
      }
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.once('exit', (code) => reject(new Error(`mailroom serve exited (${code}):\n${sandboxOutput}`)));
  });
}, INSTALL_TIMEOUT_MS);

afterAll(async () => {
  if (sandbox?.pid && sandbox.exitCode === null) {
    const exited = new Promise((resolveExit) => sandbox?.once('exit', resolveExit));
    process.kill(-sandbox.pid, 'SIGTERM');
    await exited;
  }
  if (work) {
    await rm(work, { recursive: true, force: true });
  }
});

describe('the mailroom package, installed from its tarball', () => {
  test('npx mailroom serve --memory starts and answers, with its spec, docs and migrations', async () => {
    expect(sandboxOutput).toContain('PGlite in memory');
    const livez = await fetch(`${baseUrl}/livez`);
    expect(livez.status).toBe(200);
    expect(await livez.json()).toEqual({ success: true, data: { status: 'ok' } });
    const validate = await fetch(`${baseUrl}/v1/api-keys/validate`, { headers: { 'X-API-Key': apiKey } });
    expect(validate.status).toBe(200);
    const spec = (await (await fetch(`${baseUrl}/openapi.json`)).json()) as { openapi: string };
    expect(spec.openapi).toMatch(/^3\.1\./);
    const docs = await fetch(`${baseUrl}/docs`);
    expect(docs.headers.get('content-type')).toMatch(/^text\/html/);
  });

  test('runs without a TypeScript loader or compiler installed', async () => {
    const packages = await installedPackages(serverProject);
    expect(packages).toContain('mailroom');
    expect(packages).not.toContain('tsx');
    expect(packages).not.toContain('typescript');
    expect(packages).not.toContain('esbuild');
  });

  test('mailroom/client and the programmatic entry point import from plain Node', async () => {
    const script =
      "const [client, server] = await Promise.all([import('mailroom/client'), import('mailroom')]);" +
      'console.log(typeof client.createMailroomClient, typeof server.startServer);';
    const result = await run(process.execPath, ['--input-type=module', '-e', script], serverProject);
    expect(result.code, explain('node -e', result)).toBe(0);
    expect(result.stdout.trim()).toBe('function function');
  });
});

describe('the @mailroom/client package, installed from its tarball', () => {
  test('installs openapi-fetch and nothing of the server', async ({ annotate }) => {
    expect(await installedPackages(clientProject)).toEqual([
      '@mailroom/client',
      'openapi-fetch',
      'openapi-typescript-helpers',
    ]);
    const own = await sizeOf(join(clientProject, 'node_modules', '@mailroom', 'client'));
    const withDependencies = await sizeOf(join(clientProject, 'node_modules'));
    const server = await sizeOf(join(serverProject, 'node_modules'));
    await annotate(
      `installed size: @mailroom/client ${kib(own)}, with its dependencies ${kib(withDependencies)}; ` +
        `mailroom with its dependencies ${kib(server)}`,
    );
    await mkdir(join(ROOT, 'test-output', 'package'), { recursive: true });
    await writeFile(
      join(ROOT, 'test-output', 'package', `sizes-node${process.versions.node.split('.')[0]}.json`),
      `${JSON.stringify({ node: process.version, clientBytes: own, clientWithDependenciesBytes: withDependencies, serverWithDependenciesBytes: server }, null, 2)}\n`,
    );
  });

  test.each(['use-client.mjs', 'use-client.cjs'])(
    'a plain %s program uses the client against the sandbox',
    async (program) => {
      const result = await run(process.execPath, [program], clientProject, {
        MAILROOM_URL: baseUrl,
        MAILROOM_API_KEY: apiKey,
      });
      expect(result.code, explain(program, result)).toBe(0);
      expect(result.stderr).toBe('');
      const seen = JSON.parse(result.stdout) as {
        created: string;
        names: string[];
        missing: unknown;
        rateLimit: { limit: number } | null;
      };
      expect(seen.created).toMatch(/^key_[a-z0-9]{16}$/);
      expect(seen.names).toContain(program.endsWith('.mjs') ? 'Created from ESM' : 'Created from CommonJS');
      expect(seen.missing).toEqual({ code: 'RESOURCE_NOT_FOUND', status: 404 });
      expect(seen.rateLimit?.limit).toBeGreaterThan(0);
    },
  );

  test('a TypeScript program (ESM and CommonJS) type-checks with tsc --strict against the installed types', async () => {
    const result = await run(process.execPath, [TSC, '-p', 'tsconfig.json'], clientProject);
    expect(result.code, explain('tsc', result)).toBe(0);
  });

  test('a request body the spec forbids fails to type-check', async () => {
    const result = await run(process.execPath, [TSC, '-p', 'tsconfig.wrong-body.json'], clientProject);
    expect(result.code).not.toBe(0);
    const errors = result.stdout.trim().split('\n');
    expect(errors).toEqual([
      expect.stringMatching(
        /^wrong-body\.ts\(6,\d+\): error TS2322: Type 'string' is not assignable to type 'number'\.$/,
      ),
    ]);
  });
});
