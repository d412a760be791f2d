#!/usr/bin/env node
// Builds and runs the native test executable (kernels without Node), optionally under a sanitizer:
//   node scripts/run-native-tests.mjs [--sanitize address] [filter]
// MVD_NATIVE_TEST_DIR picks the build folder (so parallel builds do not share one).
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';

const args = process.argv.slice(2);
let sanitize = '';
const i = args.indexOf('--sanitize');
if (i >= 0) { sanitize = args[i + 1]; args.splice(i, 2); }
const dir = process.env.MVD_NATIVE_TEST_DIR ?? (sanitize ? `build-native-tests-${sanitize}` : 'build-native-tests');
const run = (cmd, argv, env) => execFileSync(cmd, argv, { stdio: 'inherit', env: { ...process.env, ...env } });
run('cmake', ['-S', '.', '-B', dir, '-DMVD_BUILD_TESTS=ON', '-DMVD_WITH_CUDA=OFF', `-DMVD_SANITIZE=${sanitize}`,
  sanitize ? '-DCMAKE_BUILD_TYPE=RelWithDebInfo' : '-DCMAKE_BUILD_TYPE=Release']);
run('cmake', ['--build', dir, '--target', 'mvd_native_tests', '-j', String(cpus().length)]);
run(`${dir}/mvd_native_tests`, args, sanitize ? { ASAN_OPTIONS: 'detect_leaks=0', MVD_HOST_CACHE_MB: '0' } : {});
