// The package as a consumer meets it: what `npm pack` ships, `require('mvd')` and `import('mvd')`
// from the compiled builds, where the addon was loaded from, and the ldd check that keeps the
// prebuilt addon free of libraries outside the package. (.ci/run installs the real tarball on a
// PATH without a compiler: scripts/pack-smoke.sh.)
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AddonLoadError } from '../lib/errors.js';
import { addonLocation, packageRoot } from '../lib/native.js';
import location from '../lib/module-location.cjs';

t.test('module-location finds the package root and the sources folder', async (t) => {
  t.equal(location.libDir, join(packageRoot, 'lib'));
  t.equal(location.moduleExt, '.ts', 'tap runs the sources through a TypeScript loader');
  t.ok(existsSync(join(packageRoot, 'CMakeLists.txt')));
});

t.test('addonLocation names the file that loaded and where it was found', async (t) => {
  const loc = addonLocation();
  t.ok(existsSync(loc.path), loc.path);
  t.ok(loc.path.endsWith('.node'));
  const expected = process.env.MVD_ADDON_PATH
    ? 'MVD_ADDON_PATH'
    : loc.path.includes(`${join(packageRoot, 'prebuilds')}`)
      ? 'prebuilds'
      : 'build';
  t.equal(loc.source, expected);
});

t.test('npm pack ships what a from-source build needs, and no binding.gyp', async (t) => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: packageRoot, encoding: 'utf8' });
  const files = new Set((JSON.parse(out) as { files: { path: string }[] }[])[0].files.map((f) => f.path));
  for (const f of [
    'scripts/native-sources.mjs',
    'CMakeLists.txt',
    'native/core/build_config.h.in',
    'package.json',
    'README.md',
    'weights/demo-teachers-s1.safetensors',
    'weights/demo-teachers-s2.safetensors',
    'weights/demo-teachers-s3.safetensors',
  ]) {
    t.ok(files.has(f), `ships ${f}`);
  }
  // With binding.gyp in the tarball, npm runs `node-gyp rebuild` at install (npm ci ignores "gypfile": false).
  t.notOk(files.has('binding.gyp'), 'no binding.gyp');
  t.same(
    [...files].filter((f) => /^(build|build-[^/]*|test|lib|bench|docs)\//.test(f)),
    [],
    'no build folders, tests or TS sources',
  );
});

const dist = (p: string) => join(packageRoot, 'dist', p);
const haveDist = existsSync(dist('index.js')) && existsSync(dist('cjs/index.js')) && existsSync(dist('cjs/package.json'));
const gemmScript = (load: string) =>
  `${load}.then(async (m) => { const a = m.Tensor.fromArray(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);` +
  ` const y = m.gemm(a, a, { transB: true }); console.log(JSON.stringify(Array.from(await y.toArray()))); })`;

t.test(
  'require("mvd") and import("mvd") both run an op',
  { skip: haveDist ? false : 'dist/ or dist/cjs/ not built (npm run build:ts)' },
  async (t) => {
    // The package refers to itself by name from its own folder, through package.json "exports".
    const cases = [
      { how: 'require', args: ['-e', gemmScript("Promise.resolve(require('mvd'))")], entry: ['-p', "require.resolve('mvd')"] },
      {
        how: 'import',
        args: ['--input-type=module', '-e', gemmScript("import('mvd')")],
        entry: ['--input-type=module', '-e', "console.log(import.meta.resolve('mvd'))"],
      },
    ];
    for (const c of cases) {
      const r = spawnSync(process.execPath, c.args, { cwd: packageRoot, encoding: 'utf8' });
      t.equal(r.status, 0, `${c.how}: exit 0 ${r.stderr.slice(-1500)}`);
      t.same(JSON.parse(r.stdout.trim()), [14, 32, 32, 77], `${c.how}: a·aᵀ`);
      const entry = execFileSync(process.execPath, c.entry, { cwd: packageRoot, encoding: 'utf8' }).trim();
      t.ok(entry.endsWith(c.how === 'require' ? 'dist/cjs/index.js' : 'dist/index.js'), `${c.how} resolves to ${entry}`);
    }
  },
);

t.test(
  'MVD_ADDON_PATH that does not exist is an AddonLoadError, not a fall back to another addon',
  { skip: haveDist ? false : 'dist/ not built' },
  async (t) => {
    const missing = join(tmpdir(), 'mvd-no-such-addon.node');
    const r = spawnSync(process.execPath, ['-e', "require('mvd').buildInfo()"], {
      cwd: packageRoot,
      encoding: 'utf8',
      env: { ...process.env, MVD_ADDON_PATH: missing },
    });
    t.not(r.status, 0);
    t.match(r.stderr, new RegExp(`${AddonLoadError.name}: mvd: the native addon ${missing} \\(from MVD_ADDON_PATH\\) does not exist`));
  },
);

t.test('addon-deps flags an addon whose libraries are not beside it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mvd-addon-deps-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Alone in a folder, the addon still needs libgomp (and libdnnl when built with oneDNN) from the system.
  copyFileSync(addonLocation().path, join(dir, 'mvd.napi.glibc.node'));
  const r = spawnSync(process.execPath, [join(packageRoot, 'scripts', 'addon-deps.mjs'), dir], { encoding: 'utf8' });
  t.equal(r.status, 1);
  t.match(r.stderr, /needs libgomp\.so\.1, resolved to \S+, outside/);
});

t.test(
  'the staged prebuild needs nothing outside the package',
  { skip: existsSync(join(packageRoot, 'prebuilds')) ? false : 'no prebuilds/ (npm run prebuild)' },
  async (t) => {
    const r = spawnSync(
      process.execPath,
      [join(packageRoot, 'scripts', 'addon-deps.mjs'), join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`)],
      { encoding: 'utf8' },
    );
    t.equal(r.status, 0, r.stderr);
    t.match(r.stdout, /addon-deps: ok/);
  },
);
