#!/usr/bin/env node
// node-gyp has no configure_file: binding.gyp calls this script, which writes the same
// build_config.h that CMake generates (CPU-only, portable GEMM) and prints its folder.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
const dir = join(root, 'build', 'gyp-generated');
mkdirSync(dir, { recursive: true });
const template = readFileSync(join(root, 'native', 'core', 'build_config.h.in'), 'utf8');
const values = {
  MVD_VERSION: version,
  MVD_COMPILER: 'node-gyp default C++ compiler',
  CMAKE_BUILD_TYPE: 'Release',
  MVD_BUILD_SYSTEM: 'node-gyp (fallback build)',
  MVD_GEMM_DETAIL: 'portable blocked GEMM (node-gyp fallback build does not link oneDNN)',
  MVD_CUDA_ARCHS: '',
};
writeFileSync(
  join(dir, 'build_config.h'),
  template.replace(/@(\w+)@/g, (_, k) => values[k] ?? ''),
);
process.stdout.write(dir);
