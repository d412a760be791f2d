#!/usr/bin/env node
// Copies the built addon into prebuilds/<platform>-<arch>/, where lib/native.ts looks first
// (prebuildify has no cmake-js backend). Consumers of a package with prebuilds need no compiler.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'build', 'Release', 'mvd.node');
if (!existsSync(src)) {
  console.error(`no addon at ${src}: run \`npm run build:native\` first`);
  process.exit(1);
}
const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
mkdirSync(dir, { recursive: true });
copyFileSync(src, join(dir, 'mvd.node'));
console.log(`copied ${src} -> ${join(dir, 'mvd.node')}`);
