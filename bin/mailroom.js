#!/usr/bin/env node
// The `mailroom` command: runs the compiled CLI in dist/ (`npm run build`; `npm ci` and `npm pack` build it).
import { existsSync, readdirSync, statSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  console.error('mailroom: the compiled CLI (dist/cli/main.js) is missing: run `npm run build` (`npm ci` runs it).');
  process.exit(1);
}

// In a checkout (the installed package has no src/), say when the sources changed after the last build.
const src = fileURLToPath(new URL('../src', import.meta.url));
const buildInfo = fileURLToPath(new URL('../dist/.tsbuildinfo', import.meta.url));
if (existsSync(src) && existsSync(buildInfo)) {
  const builtAt = statSync(buildInfo).mtimeMs;
  const changed = readdirSync(src, { recursive: true }).some((file) => statSync(`${src}/${file}`).mtimeMs > builtAt);
  if (changed) {
    console.error('mailroom: src/ changed since the last build; run `npm run build` to run the current sources.');
  }
}

// Node 22.8+ keeps V8's compiled code of the modules loaded from here on in a cache directory (the system temp
// directory's node-compile-cache, or NODE_COMPILE_CACHE; NODE_DISABLE_COMPILE_CACHE=1 turns it off), so later starts
// skip most of compiling them. Node 20 has no such cache: there this is a no-op.
module.enableCompileCache?.();

await import(main);
