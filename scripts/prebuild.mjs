#!/usr/bin/env node
// `npm run prebuild`: builds the addon with cmake-js and stages it, with the shared libraries it
// needs beyond glibc/libstdc++/libgcc_s (oneDNN, libgomp, libOpenCL...), in
// prebuilds/<platform>-<arch>/ under prebuildify's file name, where node-gyp-build finds it. The
// addon's RUNPATH is $ORIGIN (CMakeLists.txt) and each copied library gets the same, so the package
// needs nothing from the machine but glibc and the C++ runtime. Fails when that is not so.
//   node scripts/prebuild.mjs [--out DIR] [--no-compile]
//     --out DIR      cmake-js build folder (default build); the package's addon (no MPI) is built
//                    in DIR-prebuild and staged from DIR-prebuild/Release/mvd.node
//     --no-compile   stage an addon built before
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { foreignDeps, isSystem, ldd, systemFloor } from './addon-deps.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { out: { type: 'string', default: 'build' }, 'no-compile': { type: 'boolean', default: false } } });

function die(msg) {
  console.error(`prebuild: ${msg}`);
  process.exit(1);
}

if (process.platform !== 'linux') die(`only Linux is handled (ldd and patchelf); this is ${process.platform}`);
for (const tool of ['ldd', 'patchelf', 'readelf', 'objdump']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)
    die(`${tool} is not on PATH (Debian: apt-get install patchelf binutils libc-bin)`);
}

// Two builds: `build/` for this checkout (MPI linked when found: data-parallel training from a
// source build), and `build-prebuild/` without MPI for the package. A bundled Open MPI would tie
// every user to the mpirun it came from (its ABI and launcher must match the one running the job),
// and single-process use needs none; data-parallel users build from source against their own MPI.
const prebuildOut = `${values.out}-prebuild`;
if (!values['no-compile']) {
  const cmakeJs = join(root, 'node_modules', '.bin', 'cmake-js');
  if (!existsSync(cmakeJs)) die(`${cmakeJs} is missing: run \`npm ci\` first`);
  for (const [out, extra] of [
    [values.out, []],
    [prebuildOut, ['--CDMVD_WITH_MPI=OFF']],
  ]) {
    const r = spawnSync(cmakeJs, ['compile', '--out', out, ...extra], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) die(`cmake-js compile --out ${out} ${extra.join(' ')} failed (exit ${r.status ?? r.signal})`);
  }
}

const addon = join(root, prebuildOut, 'Release', 'mvd.node');
if (!existsSync(addon)) die(`no addon at ${addon}: build it first (drop --no-compile)`);
const runpath = /\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[(.*)\]/.exec(execFileSync('readelf', ['-d', addon], { encoding: 'utf8' }));
if (!runpath?.[1].split(':').includes('$ORIGIN')) {
  die(
    `${addon} has no $ORIGIN in its RUNPATH (found ${runpath ? runpath[1] : 'none'}): it was linked before CMakeLists.txt set it; rebuild`,
  );
}

// musl is named the way node-gyp-build detects it; everything else here is glibc.
const libc = existsSync('/etc/alpine-release') ? 'musl' : 'glibc';
const dest = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
rmSync(dest, { recursive: true, force: true });
mkdirSync(dest, { recursive: true });
const target = join(dest, `mvd.napi.${libc}.node`);
copyFileSync(addon, target);

// ldd lists the whole closure (libdnnl's libOpenCL too); copy each foreign library under its soname.
const licenses = new Set();
for (const dep of ldd(addon).deps) {
  if (isSystem(dep.name)) continue;
  if (!dep.path) die(`${addon} needs ${dep.name}, which ldd cannot find`);
  const real = realpathSync(dep.path);
  copyFileSync(real, join(dest, dep.name));
  execFileSync('patchelf', ['--set-rpath', '$ORIGIN', join(dest, dep.name)]);
  licenses.add(real);
}

// Their licences travel with them (Debian keeps one copyright file per package).
const missing = [];
if (licenses.size) mkdirSync(join(dest, 'licenses'));
for (const lib of licenses) {
  const owner = spawnSync('dpkg', ['-S', lib], { encoding: 'utf8' });
  const pkg = owner.status === 0 ? owner.stdout.split(':')[0] : null;
  const copyright = pkg ? `/usr/share/doc/${pkg}/copyright` : null;
  if (copyright && existsSync(copyright)) copyFileSync(copyright, join(dest, 'licenses', `${pkg}.copyright`));
  else missing.push(lib);
}

const { problems, report } = foreignDeps(dest);
console.log(report);
if (problems.length) die(`the staged addon still needs files outside the package:\n  ${problems.join('\n  ')}`);
const mb = (f) => (statSync(f).size / 2 ** 20).toFixed(1);
console.log(
  `prebuild: ${target} (${mb(target)} MB) + ${[...licenses].map((l) => `${l} (${mb(l)} MB)`).join(', ') || 'no extra libraries'}`,
);
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
console.log(
  `prebuild: ok: mvd ${version} for ${process.platform}-${process.arch} (${libc}, N-API 8) needs only glibc, libstdc++ and libgcc_s, at least ${systemFloor(dest)}`,
);
if (missing.length) {
  console.warn(
    `prebuild: WARNING: no licence file found for ${missing.join(', ')}: add one to ${join(dest, 'licenses')} before publishing`,
  );
}
