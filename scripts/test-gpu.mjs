#!/usr/bin/env node
// `npm run test:gpu`: on a machine with an NVIDIA GPU, runs natively what CI can only emulate.
//   1. builds the native tests with nvcc for this GPU and runs every CUDA test on the device;
//   2. runs them again under compute-sanitizer (memcheck, racecheck, synccheck) when it is present;
//   3. builds the addon and runs the TypeScript CUDA tests on cuda:0;
//   4. checks the collectives on CUDA tensors through NCCL (opened at run time): world size 1, and
//      2 ranks (one GPU each) under mpirun when the machine has two GPUs;
//   5. runs the CUDA kernel benchmark against the published references.
// Stops at the first failure with its exit code. Without a GPU it says so and exits 2.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = process.env.MVD_GPU_TEST_DIR ?? 'build-gpu-tests';
const step = (what) => console.log(`\n=== test:gpu: ${what}`);
const run = (cmd, argv, env = {}) => {
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) {
    console.error(`test:gpu: '${cmd} ${argv.join(' ')}' failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
};
const which = (name) => {
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
};

if (!which('nvcc')) {
  console.error('test:gpu: nvcc is not on PATH');
  process.exit(2);
}
const smi = which('nvidia-smi');
const gpus = smi ? spawnSync(smi, ['-L'], { encoding: 'utf8' }).stdout?.trim() : '';
if (!gpus) {
  console.error(
    'test:gpu: no NVIDIA GPU visible (nvidia-smi -L lists none). CI runs the same kernels in the SIMT emulator: npm run test:native -- cuda',
  );
  process.exit(2);
}
console.log(gpus);

step('native CUDA tests on the device');
run('cmake', [
  '-S',
  '.',
  '-B',
  dir,
  '-DMVD_BUILD_TESTS=ON',
  '-DMVD_WITH_CUDA=ON',
  '-DMVD_SIMT=OFF',
  '-DCMAKE_CUDA_ARCHITECTURES=native',
  '-DCMAKE_BUILD_TYPE=Release',
]);
run('cmake', ['--build', dir, '--target', 'mvd_native_tests', '-j', String(cpus().length)]);
const tests = join(dir, 'mvd_native_tests');
run(tests, ['cuda_']);

const sanitizer = which('compute-sanitizer');
if (sanitizer) {
  for (const tool of ['memcheck', 'racecheck', 'synccheck']) {
    step(`compute-sanitizer --tool ${tool}`);
    run(sanitizer, ['--tool', tool, '--error-exitcode', '3', tests, 'cuda_'], { MVD_HOST_CACHE_MB: '0' });
  }
} else {
  console.log('\ncompute-sanitizer not found: memcheck/racecheck/synccheck skipped');
}

step('addon + TypeScript tests on cuda:0');
if (!existsSync(join(root, 'node_modules'))) run('npm', ['ci', '--no-audit', '--no-fund']);
run('npm', ['run', 'build']);
run('npx', ['tap', 'test/cuda-*.test.ts'], { MVD_TEST_CUDA: 'native' });

step('NCCL collectives on CUDA tensors (world 1; world 2 with two GPUs)');
const gpuCount = gpus.split('\n').filter((l) => l.startsWith('GPU ')).length;
if (!which('mpirun')) console.log('mpirun not found: only world size 1 runs (apt-get install openmpi-bin libopenmpi-dev)');
run('npx', ['tap', 'test/distributed-cuda.test.ts'], {
  MVD_TEST_CUDA: 'native',
  MVD_TEST_NCCL: '1',
  MVD_TEST_RANKS: String(Math.min(2, gpuCount)),
});

step('CUDA kernel benchmark');
run('node', ['dist/cli/main.js', 'bench', 'kernels', '--device', 'cuda:0']);
console.log('\ntest:gpu: all passed');
