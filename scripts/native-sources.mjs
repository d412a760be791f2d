#!/usr/bin/env node
// The one list of native sources, by folder convention. CMakeLists.txt and binding.gyp both call
// this script, so the two builds can never drift. Prints one group, separated by ';' (CMake) or
// spaces (--gyp):
//   kernels         native/core/*.cc, native/io/*.cc, native/ops/**/*.cc, native/dist/*.cc, except the groups below
//   kernels_onednn  native/ops/**/*_onednn.cc          (only when oneDNN is found)
//   kernels_isa     native/ops/**/*_isa.cc             (also in kernels; CMake compiles them a
//                                                       second time for AVX-512: native/core/isa.h)
//   cuda            native/cuda/*.cu, native/ops/**/*.cu (only when nvcc is found)
//   cuda_absent     native/cuda/*_absent.cc            (only without nvcc)
//   simt            native/simt/*.cc                   (only with MVD_SIMT: the emulator the .cu
//                                                       files are compiled against by g++)
//   binding         native/binding/*.cc
//   tests           native/tests/*.cc
import { readdirSync, statSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(relative(root, p));
  }
  return out;
}

export function nativeSources() {
  const all = walk(join(root, 'native'));
  const under = (prefix) => all.filter((f) => f.startsWith(prefix));
  const isCc = (f) => f.endsWith('.cc');
  const onednn = (f) => f.endsWith('_onednn.cc');
  return {
    kernels: [...under('native/core/'), ...under('native/io/'), ...under('native/ops/'), ...under('native/dist/')].filter(
      (f) => isCc(f) && !onednn(f),
    ),
    kernels_onednn: under('native/ops/').filter(onednn),
    kernels_isa: under('native/ops/').filter((f) => f.endsWith('_isa.cc')),
    cuda: [...under('native/cuda/'), ...under('native/ops/')].filter((f) => f.endsWith('.cu')),
    cuda_absent: under('native/cuda/').filter((f) => f.endsWith('_absent.cc')),
    simt: under('native/simt/').filter(isCc),
    binding: under('native/binding/').filter(isCc),
    tests: under('native/tests/').filter(isCc),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [group, flag] = process.argv.slice(2);
  const list = nativeSources()[group];
  if (!list) {
    console.error(`unknown group '${group}'; one of: ${Object.keys(nativeSources()).join(', ')}`);
    process.exit(2);
  }
  process.stdout.write(list.join(flag === '--gyp' ? ' ' : ';'));
}
