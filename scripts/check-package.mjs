#!/usr/bin/env node
// `prepack`: refuses to make a tarball that would not work where it is installed: no prebuilt
// addon for this platform, one that needs libraries outside the package, one older than the native
// sources or of another version, or a missing or stale ESM/CommonJS build of the library.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { foreignDeps } from './addon-deps.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
const problems = [];

function newest(dir, keep) {
  let best = { path: '', mtime: 0 };
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    const cand = e.isDirectory() ? newest(p, keep) : keep(e.name) ? { path: p, mtime: statSync(p).mtimeMs } : best;
    if (cand.mtime > best.mtime) best = cand;
  }
  return best;
}

// node-gyp-build's own choice among prebuilds only: the file a consumer without build/ will load.
process.env.PREBUILDS_ONLY = '1';
const require = createRequire(import.meta.url);
let prebuild = null;
let info = null;
try {
  prebuild = require('node-gyp-build').path(root);
} catch (e) {
  problems.push(`no prebuilt addon for ${process.platform}-${process.arch}: ${e.message.split('\n')[0]}; run \`npm run prebuild\``);
}

if (prebuild) {
  const { problems: deps } = foreignDeps(dirname(prebuild));
  problems.push(...deps);
  const src = newest(join(root, 'native'), (n) => /\.(cc|cu|h|in)$/.test(n));
  if (src.mtime > statSync(prebuild).mtimeMs) {
    problems.push(`${relative(root, prebuild)} is older than ${relative(root, src.path)}: run \`npm run prebuild\``);
  }
  if (deps.length === 0) {
    try {
      info = require(prebuild).buildInfo();
      const got = info.addonVersion;
      if (got !== version)
        problems.push(`${relative(root, prebuild)} is mvd ${got}, package.json says ${version}: run \`npm run prebuild\``);
      // The package's addon links no MPI (scripts/prebuild.mjs says why).
      if (info.mpiCompiled)
        problems.push(`${relative(root, prebuild)} links MPI (${info.mpi}): stage the build without it (\`npm run prebuild\`)`);
    } catch (e) {
      problems.push(`${relative(root, prebuild)} does not load: ${e.message.split('\n')[0]}`);
    }
  }
}

const lib = newest(join(root, 'lib'), (n) => n.endsWith('.ts') || n.endsWith('.cts'));
for (const out of ['dist/index.js', 'dist/index.d.ts', 'dist/cjs/index.js', 'dist/cjs/index.d.ts']) {
  const p = join(root, out);
  if (!existsSync(p)) problems.push(`${out} is missing: run \`npm run build:ts\``);
  else if (statSync(p).mtimeMs < lib.mtime) problems.push(`${out} is older than ${relative(root, lib.path)}: run \`npm run build:ts\``);
}
const cjsMarker = join(root, 'dist', 'cjs', 'package.json');
if (!existsSync(cjsMarker) || JSON.parse(readFileSync(cjsMarker, 'utf8')).type !== 'commonjs') {
  problems.push('dist/cjs/package.json does not say "type": "commonjs": run `npm run build:ts`');
}

if (problems.length) {
  console.error(`mvd prepack: this package cannot be packed:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
const cuda = info.cudaCompiled ? `CUDA ${info.cudaArchitectures}` : 'no CUDA (nvcc was not found at build time)';
console.log(
  `mvd prepack: ok: ${relative(root, prebuild)} (${info.gemmBackendDetail}; ${cuda}; needs only glibc, libstdc++, libgcc_s), dist/ and dist/cjs/`,
);
