#!/usr/bin/env node
// The console (src/console/, served at /console): one esbuild bundle of the Preact app, the project's client and their
// CSS, written to dist/console/ with the page (index.html) and its icon. Called by scripts/build.mjs (`npm run build`);
// run alone with `node scripts/build-console.mjs`.
//
//   dist/console/index.html    the page: one module script, one stylesheet, nothing inline (the server's CSP allows
//                              nothing else)
//   dist/console/console.js    the app, minified; modules loaded on demand become dist/console/chunks/*.js
//   dist/console/console.css   the styles, system fonts only: nothing is fetched from anywhere but the server
//
// Every file is measured gzipped; the build fails when their sum passes the budget, so the bundle can't grow past it
// unnoticed. Progress goes to stderr: stdout belongs to the commands that run the build (`npm pack --json`).
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The most the console may weigh, gzipped, all files together (the budget). */
export const CONSOLE_BUDGET_BYTES = 150 * 1024;

/** Where the built console goes; src/server/console.ts serves it from there. */
export const CONSOLE_OUT_DIR = join(root, 'dist', 'console');

/** Each file of a built console with its size and gzipped size, and their sums. */
export function measureConsole(dir = CONSOLE_OUT_DIR) {
  const files = readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => {
      const path = join(entry.parentPath, entry.name);
      const bytes = readFileSync(path);
      return { file: relative(dir, path), bytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 9 }).length };
    })
    .sort((a, b) => b.gzipBytes - a.gzipBytes);
  const sum = (field) => files.reduce((total, file) => total + file[field], 0);
  return { files, bytes: sum('bytes'), gzipBytes: sum('gzipBytes') };
}

/** Builds the console into dist/console/, prints its size to stderr and fails past {@link CONSOLE_BUDGET_BYTES}. */
export async function buildConsole() {
  const source = join(root, 'src', 'console');
  rmSync(CONSOLE_OUT_DIR, { recursive: true, force: true });
  mkdirSync(CONSOLE_OUT_DIR, { recursive: true });
  await build({
    absWorkingDir: root,
    entryPoints: { console: join(source, 'main.tsx') },
    outdir: CONSOLE_OUT_DIR,
    bundle: true,
    // ES modules with splitting: a page whose library is heavy (the usage charts) can be imported on demand.
    format: 'esm',
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    minify: true,
    target: ['chrome111', 'firefox111', 'safari16.4'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    define: { 'process.env.NODE_ENV': '"production"' },
    legalComments: 'eof',
    logLevel: 'warning',
  });
  for (const file of ['index.html', 'favicon.svg']) {
    cpSync(join(source, file), join(CONSOLE_OUT_DIR, file));
  }
  const size = measureConsole();
  const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
  const largest = size.files
    .slice(0, 3)
    .map((f) => `${f.file} ${kib(f.gzipBytes)}`)
    .join(', ');
  console.error(
    `build: dist/console/ (${size.files.length} files, ${kib(size.bytes)}, ${kib(size.gzipBytes)} gzipped of a ` +
      `${kib(CONSOLE_BUDGET_BYTES)} budget; largest: ${largest})`,
  );
  if (size.gzipBytes > CONSOLE_BUDGET_BYTES) {
    throw new Error(`the console weighs ${kib(size.gzipBytes)} gzipped, over its ${kib(CONSOLE_BUDGET_BYTES)} budget`);
  }
  return size;
}

if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) {
  try {
    await buildConsole();
  } catch (error) {
    console.error(`build: ${error instanceof Error ? error.message : error}`);
    process.exit(1);
  }
}
