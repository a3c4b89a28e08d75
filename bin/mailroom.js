#!/usr/bin/env node
// The `mailroom` command: runs the compiled CLI in dist/ (`npm run build`; `npm ci` and `npm pack` build it).
import { existsSync, readdirSync, statSync } from 'node:fs';
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

await import(main);
