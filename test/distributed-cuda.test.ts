// Collectives and data-parallel training on CUDA tensors (issue 19). By default on the emulated
// cuda:0 (build-simt: NCCL is never used there, so CUDA tensors go through MPI with host
// staging); with MVD_TEST_CUDA=native (npm run test:gpu) on the GPU with the normal build, where
// MVD_TEST_NCCL=1 also requires the NCCL path, at world size 1 and, with MVD_TEST_RANKS=2 on a
// machine with two GPUs, world size 2 (one GPU per rank).
import t from 'tap';
import { existsSync } from 'node:fs';
import { emulatedAddon as defaultEmulated } from './helpers/cuda-child.js';
import { hasMpirun, rankEnv, runRanks } from './helpers/dist-run.js';

// MVD_EMULATED_ADDON: another emulated build than build-simt/ (a parallel checkout's own build).
const emulatedAddon = process.env.MVD_EMULATED_ADDON ?? defaultEmulated;
const native = process.env.MVD_TEST_CUDA === 'native';
const wantNccl = process.env.MVD_TEST_NCCL === '1';
const ranks = Number(process.env.MVD_TEST_RANKS ?? 2);
const env = rankEnv(native ? {} : { MVD_ADDON_PATH: emulatedAddon });
const run = (n: number, mode: string, opts: object) => runRanks(n, mode, opts, env, 240_000);

const skip = !native && !existsSync(emulatedAddon) ? `emulated addon not built (${emulatedAddon} missing; run npm run build:simt)` : false;

/** The assertions a collectives run must pass: [ok, name, detail]. */
function runChecks(r: ReturnType<typeof run>, n: number): [boolean, string, string][] {
  const out: [boolean, string, string][] = [
    [r.status === 0, 'exits 0', r.stderr.slice(-2000)],
    [r.lines.length === n, `${n} rank(s) reported`, ''],
  ];
  for (const l of r.lines) {
    const path = String(l.cudaPath);
    if (wantNccl) out.push([/^nccl/.test(path), `rank ${l.rank}: CUDA tensors go through NCCL`, path]);
    else if (!native) out.push([/host staging/.test(path), `rank ${l.rank}: emulated CUDA goes through host staging`, path]);
    for (const c of l.checks as { name: string; ok: boolean; detail: string }[]) out.push([c.ok, `rank ${l.rank}: ${c.name}`, c.detail]);
  }
  return out;
}

// The world-1 run also says whether the addon under test links MPI (the multi-rank tests need it).
let mpiCompiled = false;
t.test('collectives on cuda:0 at world size 1', { skip }, async (t) => {
  const r = run(0, 'collectives', { device: 'cuda:0' });
  mpiCompiled = r.lines[0]?.mpiCompiled === true;
  for (const [ok, name, detail] of runChecks(r, 1)) t.ok(ok, name, { detail });
});
const noRanks = () => (!hasMpirun ? 'mpirun not installed' : !mpiCompiled ? 'the addon under test was built without MPI' : '');

t.test(`collectives on CUDA tensors across ${ranks} ranks`, { skip }, async (t) => {
  if (noRanks()) return t.skip(noRanks(), () => {});
  // One GPU per rank on a real machine; the emulator has one cuda:0 per process.
  for (const [ok, name, detail] of runChecks(run(ranks, 'collectives', { device: native ? 'cuda:local' : 'cuda:0' }), ranks))
    t.ok(ok, name, { detail });
});

// A transformer block with drop path: its gradient bucket is reduced overlapped with backward
// (allReduceStart/Finish), through host staging on the emulator, NCCL on a GPU.
t.test(
  '2 ranks × batch 4 on CUDA train like 1 rank × batch 8 (drop path, overlapped all-reduce)',
  { skip: skip || (native && ranks < 2 && 'one GPU: no second rank to train with') },
  async (t) => {
    if (noRanks()) return t.skip(noRanks(), () => {});
    const device = native ? 'cuda:local' : 'cuda:0';
    const one = run(0, 'train', { globalBatch: 8, steps: 5, device, dropPath: true });
    const two = run(2, 'train', { globalBatch: 8, steps: 5, device, dropPath: true });
    t.equal(one.status, 0, '1 rank', { stderr: one.stderr.slice(-2000) });
    t.equal(two.status, 0, '2 ranks', { stderr: two.stderr.slice(-2000) });
    const a = one.lines[0] as { losses: number[]; all: number[] },
      b = two.lines.find((l) => l.rank === 0) as typeof a;
    const rel = (x: number, y: number) => Math.abs(x - y) / Math.max(1e-3, Math.abs(y));
    t.ok(b.losses.length === 5 && b.losses.every((x, i) => rel(x, a.losses[i]) < 1e-5), 'losses agree', { got: b.losses, want: a.losses });
    t.ok(b.all.length === a.all.length && b.all.every((x, i) => rel(x, a.all[i]) < 1e-5), 'final weights agree');
    t.same(
      two.lines.map((l) => l.started),
      [5, 5],
      'the all-reduce started during backward on both ranks, every step',
    );
  },
);
