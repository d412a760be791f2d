#!/usr/bin/env node
// The CommonJS build (tsconfig.cjs.json) emits .js files under a package whose package.json says
// "type": "module"; this nearer package.json makes Node read dist/cjs/**/*.js as CommonJS.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cjs');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);
