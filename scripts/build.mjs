#!/usr/bin/env node
// `npm run build` (also `prepare`, so `npm ci` and `npm pack` run it): compiles src/ to dist/ and
// stages the client package.
//
//   dist/                   what the `mailroom` package runs: src/ as JavaScript + .d.ts (tsc -b, so an
//                           up-to-date build is a no-op in well under a second), plus the SQL migrations
//   dist/client-package/    the `@mailroom/client` package, ready for `npm pack ./dist/client-package`:
//                           scripts/client-package/ (manifest, README) plus exactly the files the client
//                           imports, at the same paths as in `mailroom` (dist/client/, dist/lib/error-codes,
//                           generated/schema.d.ts), so the emitted relative imports hold unchanged
//
// The client package's dependencies are derived, never hand-kept: every bare import its files make,
// at the range the root package.json gives it. An import the root doesn't declare fails the build.
//
// Everything the build prints (progress, tsc's diagnostics, failures) goes to stderr: stdout belongs to the
// command that ran it, and `npm pack --json` (whose `prepare` is this build) prints the JSON release tools parse
// there. The build is a list of steps (STEPS, at the end); a new step is a function and a line in it.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const clientPackage = join(dist, 'client-package');
const require = createRequire(import.meta.url);
const ts = require('typescript');

/** Writes a progress line to stderr (never stdout: see the header). */
function report(message) {
  process.stderr.write(`build: ${message}\n`);
}

function fail(message) {
  report(message);
  process.exit(1);
}

/** Every file under `dir`, as paths relative to it. */
function listFiles(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)));
}

/** src/ → dist/ with `tsc -b` (a no-op when nothing changed); its diagnostics, which tsc prints on stdout, to stderr. */
function compile() {
  const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', 'tsconfig.build.json'], {
    cwd: root,
    stdio: ['ignore', process.stderr, process.stderr],
  });
  if (tsc.status !== 0) {
    fail(`tsc -b tsconfig.build.json failed (exit ${tsc.status ?? tsc.signal})`);
  }
}

/** tsc never deletes the output of a source that is gone; a stale module must not keep working. */
function removeStaleOutput() {
  for (const file of listFiles(dist)) {
    const source = /^(.*)\.(?:js|d\.ts)$/.exec(file)?.[1];
    if (source && !file.startsWith('client-package') && !existsSync(join(root, 'src', `${source}.ts`))) {
      rmSync(join(dist, file));
    }
  }
}

/**
 * Files the modules read next to themselves: the store's SQL migrations (src/store/migrate.ts) and CommonJS files
 * handed to other programs as they are (the contract run's Dredd hooks).
 */
function copyDataFiles() {
  rmSync(join(dist, 'store', 'migrations'), { recursive: true, force: true });
  for (const file of listFiles(join(root, 'src')).filter((name) => name.endsWith('.sql') || name.endsWith('.cjs'))) {
    cpSync(join(root, 'src', file), join(dist, file));
  }
}

/**
 * bin/mailroom.js says "src/ changed since the last build" when a source is newer than dist/.tsbuildinfo. tsc -b
 * leaves that file alone when no TypeScript changed, so a build after editing only a migration or the Dredd hooks
 * (copied by copyDataFiles) would keep the warning: mark the build as done now.
 */
function markBuilt() {
  const buildInfo = join(dist, '.tsbuildinfo');
  if (existsSync(buildInfo)) {
    const now = new Date();
    utimesSync(buildInfo, now, now);
  }
}

/**
 * The client's import closure from dist/client/index.{js,d.ts}: the files (relative to the repository root) and
 * the bare specifiers (packages) it reaches. Emitted declarations keep the sources' `.ts` specifiers.
 */
function clientClosure() {
  const files = new Set();
  const packages = new Set();
  const pending = ['dist/client/index.js', 'dist/client/index.d.ts'];
  while (pending.length > 0) {
    const file = pending.pop();
    if (files.has(file)) {
      continue;
    }
    const path = join(root, file);
    if (!existsSync(path)) {
      fail(`the client imports ${file}, which the build did not produce`);
    }
    files.add(file);
    const { importedFiles } = ts.preProcessFile(readFileSync(path, 'utf8'), true, true);
    for (const { fileName: specifier } of importedFiles) {
      if (!specifier.startsWith('.')) {
        packages.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]);
        continue;
      }
      const target = relative(root, resolve(root, join(dirname(file), specifier).replace(/(?<!\.d)\.ts$/, '.d.ts')));
      pending.push(target);
      // A JavaScript module outside src/ (generated/error-codes.js) carries its types in a .d.ts beside it.
      const declarations = target.replace(/\.js$/, '.d.ts');
      if (declarations !== target && !target.startsWith('dist/') && existsSync(join(root, declarations))) {
        pending.push(declarations);
      }
    }
  }
  return { files: [...files].sort(), packages: [...packages].sort() };
}

/** dist/client-package/: the client's files, its README, and a manifest with the derived dependencies. */
function stageClientPackage() {
  const rootManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const closure = clientClosure();
  const dependencies = {};
  for (const name of closure.packages) {
    const range = rootManifest.dependencies?.[name];
    if (!range) {
      fail(`the client imports '${name}', which is not in package.json's dependencies`);
    }
    // A library's users share one copy of a dependency: allow compatible releases rather than pin one.
    dependencies[name] = /^\d/.test(range) ? `^${range}` : range;
  }

  rmSync(clientPackage, { recursive: true, force: true });
  mkdirSync(clientPackage, { recursive: true });
  for (const file of closure.files) {
    cpSync(join(root, file), join(clientPackage, file));
  }
  const template = join(root, 'scripts', 'client-package');
  cpSync(join(template, 'README.md'), join(clientPackage, 'README.md'));
  const manifest = JSON.parse(readFileSync(join(template, 'package.json'), 'utf8'));
  writeFileSync(
    join(clientPackage, 'package.json'),
    `${JSON.stringify({ name: manifest.name, version: rootManifest.version, ...manifest, engines: rootManifest.engines, dependencies }, null, 2)}\n`,
  );
  report(
    `dist/ and dist/client-package/ (${manifest.name}@${rootManifest.version}: ${closure.files.length} files, ` +
      `depends on ${Object.keys(dependencies).join(', ') || 'nothing'})`,
  );
}

/** The embedded store's start-up snapshot (scripts/build-snapshot.mjs): remade only when a migration changed. */
async function snapshotStore() {
  const { buildSnapshot } = await import('./build-snapshot.mjs');
  await buildSnapshot();
}

/** The console (/console): scripts/build-console.mjs bundles src/console/ into dist/console/ and checks its size budget. */
async function bundleConsole() {
  const { buildConsole } = await import('./build-console.mjs');
  await buildConsole().catch((error) => fail(error.message));
}

/** The build, in order. */
const STEPS = [compile, removeStaleOutput, copyDataFiles, snapshotStore, markBuilt, stageClientPackage, bundleConsole];

for (const step of STEPS) {
  await step();
}
