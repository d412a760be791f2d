#!/usr/bin/env node
// Builds and runs the native test executable (kernels without Node), optionally under a sanitizer:
//   node scripts/run-native-tests.mjs [--sanitize address] [filter]
// MVD_NATIVE_TEST_DIR picks the build folder (so parallel builds do not share one), MVD_BUILD_JOBS
// the build's parallelism (default: all cores), MVD_NO_SIMT=1 forces a CPU-only build. When CUDA's
// headers are found, every .cu is compiled by g++ against the SIMT emulator (MVD_SIMT=ON) and the
// CUDA tests run on the CPU; otherwise they are skipped and the script says why.
import { execFileSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';

const args = process.argv.slice(2);
let sanitize = '';
const i = args.indexOf('--sanitize');
if (i >= 0) {
  sanitize = args[i + 1];
  args.splice(i, 2);
}
const dir = process.env.MVD_NATIVE_TEST_DIR ?? (sanitize ? `build-native-tests-${sanitize}` : 'build-native-tests');
const run = (cmd, argv, env) => execFileSync(cmd, argv, { stdio: 'inherit', env: { ...process.env, ...env } });

// CUDA's include folder: $CUDA_HOME/$CUDA_PATH, the folder beside a real nvcc on PATH, /usr/local/cuda.
function cudaInclude() {
  const roots = [process.env.CUDA_HOME, process.env.CUDA_PATH];
  for (const p of (process.env.PATH ?? '').split(':')) {
    const nvcc = join(p, 'nvcc');
    if (existsSync(nvcc)) roots.push(dirname(dirname(realpathSync(nvcc))));
  }
  roots.push('/usr/local/cuda');
  for (const r of roots.filter(Boolean)) if (existsSync(join(r, 'include', 'cuda_runtime.h'))) return join(r, 'include');
  return '';
}
const cudaInc = process.env.MVD_NO_SIMT ? '' : cudaInclude();
if (cudaInc) {
  console.log(`run-native-tests: CUDA tests run on the SIMT emulator (CUDA headers in ${cudaInc})`);
} else {
  console.log(
    process.env.MVD_NO_SIMT
      ? 'run-native-tests: CUDA tests skipped (MVD_NO_SIMT is set)'
      : 'run-native-tests: CUDA tests skipped: no cuda_runtime.h found (set CUDA_HOME to a CUDA toolkit to run them on the SIMT emulator)',
  );
}
const jobs = process.env.MVD_BUILD_JOBS ?? String(cpus().length);
run('cmake', [
  '-S',
  '.',
  '-B',
  dir,
  '-DMVD_BUILD_TESTS=ON',
  '-DMVD_WITH_CUDA=OFF',
  `-DMVD_SANITIZE=${sanitize}`,
  cudaInc ? '-DMVD_SIMT=ON' : '-DMVD_SIMT=OFF',
  `-DMVD_CUDA_INCLUDE_DIR=${cudaInc}`,
  sanitize ? '-DCMAKE_BUILD_TYPE=RelWithDebInfo' : '-DCMAKE_BUILD_TYPE=Release',
]);
run('cmake', ['--build', dir, '--target', 'mvd_native_tests', '-j', jobs]);
run(`${dir}/mvd_native_tests`, args, sanitize ? { ASAN_OPTIONS: 'detect_leaks=0', MVD_HOST_CACHE_MB: '0' } : {});
