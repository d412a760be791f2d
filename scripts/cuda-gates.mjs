#!/usr/bin/env node
// Static gates on the CUDA kernels, for machines with nvcc and no GPU (issue 7, docs/CUDA.md):
//   1. every .cu compiles for sm_80 and sm_90 with ptxas warnings as errors and spills as
//      warnings, so a spill fails the gate;
//   2. registers, shared memory and stack per kernel and architecture are written to
//      native/cuda/resources.md (a table in the repo) and compared with native/cuda/resources.json:
//      more registers, shared memory or stack than recorded is a regression and fails;
//   3. the PTX of the GEMM and attention kernels contains tensor-core instructions (mma.sync/wmma).
// Usage: node scripts/cuda-gates.mjs [--update]   (--update records the current numbers as the baseline)
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';
import { tmpdir, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { nativeSources } from './native-sources.mjs';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const archs = ['sm_80', 'sm_90'];
const tensorCoreFiles = ['native/ops/gemm/gemm_cuda.cu', 'native/ops/attention/attention_cuda.cu'];
const baselinePath = join(root, 'native/cuda/resources.json');
const tablePath = join(root, 'native/cuda/resources.md');
const update = process.argv.includes('--update');

function nvccPath() {
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(join(dir, 'nvcc'))) return join(dir, 'nvcc');
  return null;
}

const nvcc = nvccPath();
if (!nvcc) {
  console.log('cuda gates: nvcc not found, skipped');
  process.exit(0);
}

// The same defines and includes as the CMake build; build_config.h comes from a configured build.
const generated = ['build/generated', 'build-simt/generated'].map((d) => join(root, d)).find((d) => existsSync(join(d, 'build_config.h')));
const common = [
  '-std=c++17',
  '--expt-relaxed-constexpr',
  '-DMVD_HAVE_CUDA=1',
  '-I',
  join(root, 'native'),
  ...(generated ? ['-I', generated] : []),
];

// "ptxas info : Compiling entry function '_Z…' for 'sm_80'" then "Used N registers, … M bytes smem"
// and "K bytes stack frame, S bytes spill stores, L bytes spill loads".
function parsePtxas(text, arch) {
  const kernels = [];
  let cur = null;
  for (const line of text.split('\n')) {
    const entry = line.match(/Compiling entry function '([^']+)' for '(sm_\d+)'/);
    if (entry) {
      cur = { mangled: entry[1], arch, registers: 0, smem: 0, stack: 0, spillStores: 0, spillLoads: 0 };
      kernels.push(cur);
      continue;
    }
    if (!cur) continue;
    const st = line.match(/(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads/);
    if (st) {
      cur.stack = +st[1];
      cur.spillStores = +st[2];
      cur.spillLoads = +st[3];
    }
    const used = line.match(/Used (\d+) registers/);
    if (used) cur.registers = +used[1];
    const smem = line.match(/(\d+) bytes smem/);
    if (smem) cur.smem = +smem[1];
  }
  return kernels;
}

async function demangle(names) {
  if (names.length === 0) return [];
  try {
    const { stdout } = await run('c++filt', names, { maxBuffer: 1 << 24 });
    return stdout.trim().split('\n');
  } catch {
    return names;
  }
}

async function compileOne(file, arch) {
  try {
    const { stderr } = await run(
      nvcc,
      [...common, `-arch=${arch}`, '-Xptxas', '-v,-warn-spills,-Werror', '-c', join(root, file), '-o', '/dev/null'],
      { maxBuffer: 1 << 26 },
    );
    return { ok: true, kernels: parsePtxas(stderr, arch), log: stderr };
  } catch (e) {
    return { ok: false, kernels: [], log: String(e.stderr ?? e.message) };
  }
}

async function ptxHasTensorCores(file) {
  const dir = mkdtempSync(join(tmpdir(), 'mvd-ptx-'));
  try {
    const out = join(dir, 'k.ptx');
    await run(nvcc, [...common, '-arch=sm_80', '-ptx', join(root, file), '-o', out], { maxBuffer: 1 << 26 });
    const ptx = readFileSync(out, 'utf8');
    return (ptx.match(/\b(mma\.sync|wmma\.mma)/g) ?? []).length;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// A small pool: two compiles at a time is what these 2-core machines take.
async function pool(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}

const files = nativeSources().cuda;
const jobs = files.flatMap((f) => archs.map((a) => ({ file: f, arch: a })));
const results = await pool(jobs, Math.max(1, Math.min(4, cpus().length)), (j) => compileOne(j.file, j.arch));
const failures = [];
const rows = [];
for (let i = 0; i < jobs.length; i++) {
  const r = results[i];
  if (!r.ok) {
    failures.push(`${jobs[i].file} (${jobs[i].arch}) did not compile with spills as errors:\n${r.log.split('\n').slice(-15).join('\n')}`);
    continue;
  }
  const names = await demangle(r.kernels.map((k) => k.mangled));
  // "mvd::(anonymous namespace)::attn_fwd<64>(float const*, …)" → "mvd::attn_fwd<64>": the parameter list goes.
  const short = (n) => n.replace(/\(anonymous namespace\)::/g, '').replace(/\(.*$/, '');
  r.kernels.forEach((k, j) => rows.push({ file: jobs[i].file, kernel: short(names[j]), ...k }));
}
for (const r of rows)
  if (r.spillStores || r.spillLoads) failures.push(`${r.kernel} (${r.arch}) spills ${r.spillStores} B stores / ${r.spillLoads} B loads`);

for (const f of tensorCoreFiles) {
  if (!files.includes(f)) {
    failures.push(`${f} is missing: GEMM and attention must have CUDA kernels`);
    continue;
  }
  try {
    const n = await ptxHasTensorCores(f);
    console.log(`tensor cores: ${f}: ${n} mma instructions in the sm_80 PTX`);
    if (n === 0) failures.push(`${f}: no mma.sync / wmma.mma in its PTX (the tensor cores are not used)`);
  } catch (e) {
    failures.push(`${f}: PTX generation failed: ${String(e.stderr ?? e.message).slice(-800)}`);
  }
}

// Register counts are a property of one compiler: a baseline from another nvcc is reported, not enforced.
const nvccVersion = (await run(nvcc, ['--version'])).stdout.trim().split('\n').pop();
const key = (r) => `${r.arch} ${r.mangled}`;
const current = Object.fromEntries(
  rows.map((r) => [key(r), { file: r.file, kernel: r.kernel, registers: r.registers, smem: r.smem, stack: r.stack }]),
);
if (!update && existsSync(baselinePath)) {
  const base = JSON.parse(readFileSync(baselinePath, 'utf8'));
  const sameCompiler = base._nvcc === nvccVersion;
  if (!sameCompiler) console.log(`baseline recorded with '${base._nvcc}', this is '${nvccVersion}': resource regressions not enforced`);
  for (const [k, c] of sameCompiler ? Object.entries(current) : []) {
    const b = base[k];
    if (!b) {
      console.log(`new kernel (not in the baseline): ${c.kernel} ${k.split(' ')[0]}`);
      continue;
    }
    for (const field of ['registers', 'smem', 'stack'])
      if (c[field] > b[field])
        failures.push(`${c.kernel} (${k.split(' ')[0]}): ${field} ${b[field]} → ${c[field]} (regression; rerun with --update if intended)`);
  }
}

const sorted = [...rows].sort((a, b) => a.file.localeCompare(b.file) || a.kernel.localeCompare(b.kernel) || a.arch.localeCompare(b.arch));
const md = `${[
  '# CUDA kernel resources (ptxas -v, written by `node scripts/cuda-gates.mjs --update`)',
  '',
  `Registers per thread, static shared memory and stack per kernel (${nvccVersion}); CI fails when a number grows.`,
  '',
  '| file | kernel | arch | registers | smem B | stack B | spills |',
  '|---|---|---|---|---|---|---|',
  ...sorted.map(
    (r) =>
      `| ${relative('native', r.file)} | \`${r.kernel.replace(/\|/g, '\\|')}\` | ${r.arch} | ${r.registers} | ${r.smem} | ${r.stack} | ${r.spillStores + r.spillLoads} |`,
  ),
].join('\n')}\n`;
if (update) {
  writeFileSync(baselinePath, `${JSON.stringify({ _nvcc: nvccVersion, ...current }, null, 1)}\n`);
  writeFileSync(tablePath, md);
  console.log(`recorded ${rows.length} kernel×arch rows in ${relative(root, baselinePath)} and ${relative(root, tablePath)}`);
}
console.log(
  `cuda gates: ${files.length} files, ${rows.length} kernel×arch entries, max registers ${Math.max(0, ...rows.map((r) => r.registers))}`,
);
if (failures.length) {
  console.log(`cuda gates FAILED (${failures.length}):\n- ${failures.join('\n- ')}`);
  process.exit(1);
}
console.log('cuda gates: ok (no spills, no resource regressions, tensor-core instructions present)');
