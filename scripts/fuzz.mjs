#!/usr/bin/env node
// `npm run fuzz`: the hostile-input suite (scripts/fuzz/). The sources are TypeScript, run through tsx's loader.
import { register } from 'tsx/esm/api';

register();
await import('./fuzz/main.ts');
