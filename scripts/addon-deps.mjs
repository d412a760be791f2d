#!/usr/bin/env node
// What a shipped addon may need from the machine it lands on: glibc, libstdc++ and libgcc_s, which
// every Linux with Node has; everything else must be a file in the package, found through the
// addon's $ORIGIN RUNPATH. Used by scripts/prebuild.mjs (before shipping), scripts/check-package.mjs
// (at prepack) and .ci/run (on the installed copy).
//   node scripts/addon-deps.mjs DIR   prints ldd of every .node in DIR and fails on a foreign library
import { execFileSync } from 'node:child_process';
import { readdirSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Sonames every glibc Linux provides (linux-vdso has no file; ld-linux is named by path). */
const SYSTEM = /^(linux-vdso\.so\.1|ld-linux-x86-64\.so\.2|ld-linux-aarch64\.so\.1|lib(c|m|dl|pthread|rt|stdc\+\+|gcc_s)\.so\.\d+)$/;

/** ldd of `file` with the caller's LD_LIBRARY_PATH removed, so only RUNPATH and system dirs count. */
export function ldd(file) {
  const env = { ...process.env };
  delete env.LD_LIBRARY_PATH;
  const out = execFileSync('ldd', [file], { encoding: 'utf8', env });
  const deps = [];
  for (const line of out.split('\n')) {
    const m = /^\s*(\S+)(?:\s+=>\s+(.*?))?\s+\(0x[0-9a-f]+\)\s*$/.exec(line) ?? /^\s*(\S+)\s+=>\s+(not found)\s*$/.exec(line);
    if (!m) continue;
    const path = m[2] ?? (m[1].startsWith('/') ? m[1] : '');
    deps.push({ name: basename(m[1]), path: path === 'not found' ? null : path });
  }
  return { text: out, deps };
}

export function isSystem(name) {
  return SYSTEM.test(name);
}

/** Problems with the shipped libraries in `dir`: each dependency must be a system one or a file in `dir`. */
export function foreignDeps(dir) {
  const root = realpathSync(dir);
  const problems = [];
  const reports = [];
  const nodes = readdirSync(root).filter((n) => n.endsWith('.node'));
  if (nodes.length === 0) problems.push(`no .node file in ${root}`);
  for (const n of nodes) {
    const { text, deps } = ldd(join(root, n));
    reports.push(`ldd ${join(dir, n)}\n${text}`);
    for (const d of deps) {
      if (d.path === null) problems.push(`${n} needs ${d.name}: not found`);
      else if (isSystem(d.name)) continue;
      else if (dirname(realpathSync(d.path)) !== root) problems.push(`${n} needs ${d.name}, resolved to ${d.path}, outside ${root}`);
    }
  }
  return { problems, report: reports.join('\n') };
}

const cmpVersion = (a, b) => {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
};

/**
 * The newest glibc and libstdc++ symbol versions the files in `dir` ask for: the oldest system the
 * package runs on (they follow the build machine's toolchain, not the source).
 */
export function systemFloor(dir) {
  const best = {};
  for (const n of readdirSync(dir).filter((f) => f.endsWith('.node') || /\.so\.\d+$/.test(f))) {
    const syms = execFileSync('objdump', ['-T', join(dir, n)], { encoding: 'utf8', maxBuffer: 256 << 20 });
    for (const [, lib, v] of syms.matchAll(/\b(GLIBC|GLIBCXX|CXXABI)_(\d+(?:\.\d+)+)\b/g)) {
      if (!best[lib] || cmpVersion(v, best[lib]) > 0) best[lib] = v;
    }
  }
  return Object.entries(best)
    .map(([lib, v]) => `${lib}_${v}`)
    .join(', ');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node scripts/addon-deps.mjs DIR (a folder holding the addon and its libraries)');
    process.exit(2);
  }
  const { problems, report } = foreignDeps(dir);
  console.log(report);
  if (problems.length) {
    console.error(`addon-deps: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  console.log(`addon-deps: ok: ${dir} needs only glibc, libstdc++, libgcc_s and files beside it (at least ${systemFloor(dir)})`);
}
