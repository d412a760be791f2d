// Runs our step benchmark and bench/torch_ref.py in separate processes (so each peak RSS is its
// own), alternating rounds in one invocation, and reports our/PyTorch ratios.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { packageRoot } from '../native.js';
import type { StepBenchOptions, StepBenchResult } from './step.js';

export interface TorchStep {
  impl: 'torch';
  torch: string;
  threads: number;
  clips_per_s: number;
  step_s_median: number;
  peak_rss_bytes: number;
  stages: Record<string, number>;
  /** True when the teachers ran under torch.autocast('cpu', dtype=torch.bfloat16). */
  teacher_autocast: boolean;
}

let python = 'python3';

/**
 * A Python that can import torch: $MVD_PYTHON, then python3 on PATH, then Debian's /usr/bin/python3
 * (where python3-torch installs, even when PATH leads to another Python first). Or why none.
 */
export function torchAvailable(): { ok: boolean; why?: string } {
  const candidates = [process.env.MVD_PYTHON, 'python3', '/usr/bin/python3'].filter((x): x is string => !!x);
  for (const py of candidates) {
    const r = spawnSync(py, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
    if (!r.error && r.status === 0) {
      python = py;
      return { ok: true };
    }
  }
  return {
    ok: false,
    why: `no Python that imports torch among ${candidates.join(', ')} (Debian: apt-get install python3-torch, or set MVD_PYTHON)`,
  };
}

/** The Python torchAvailable() found (call it first). */
export function torchPython(): string {
  return python;
}

function stepArgs(o: StepBenchOptions): string[] {
  return [
    '--student',
    o.student,
    '--teacher',
    o.teacher,
    '--frames',
    String(o.frames),
    '--size',
    String(o.size),
    '--batch',
    String(o.batch),
    '--steps',
    String(o.steps),
    '--warmup',
    String(o.warmup),
  ];
}

export function runOursInChild(o: StepBenchOptions): StepBenchResult {
  const cli = join(packageRoot, 'dist', 'cli', 'main.js');
  const precision = o.teacherPrecision ? ['--teacher-precision', o.teacherPrecision] : [];
  const r = spawnSync(
    process.execPath,
    [
      cli,
      'bench',
      'step',
      ...stepArgs(o),
      ...precision,
      '--data',
      o.data ?? 'memory',
      '--workers',
      String(o.workers ?? 2),
      '--mask-ratio',
      String(o.maskRatio),
      '--json',
      '--no-torch',
      '--rounds',
      '1',
    ],
    { encoding: 'utf8', maxBuffer: 16 << 20 },
  );
  if (r.status !== 0) throw new Error(`bench step child failed: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout).rounds[0].ours[0];
}

/** bench/torch_ref.py's step; `autocastTeachers` runs its teachers under bf16 autocast (the fair peer of bf16 teachers). */
export function runTorch(o: StepBenchOptions, autocastTeachers = false): TorchStep {
  const script = join(packageRoot, 'bench', 'torch_ref.py');
  if (!existsSync(script)) throw new Error(`${script} missing`);
  // Same thread count as ours (PyTorch may default to 1 intra-op thread).
  const r = spawnSync(
    python,
    [
      script,
      ...stepArgs(o),
      '--mask-ratio',
      String(o.maskRatio),
      '--threads',
      String(cpus().length),
      '--teacher-autocast',
      autocastTeachers ? '1' : '0',
    ],
    { encoding: 'utf8', maxBuffer: 16 << 20 },
  );
  if (r.status !== 0) throw new Error(`torch_ref.py failed: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

/**
 * glibc settings for the PyTorch kernel timings. By default glibc maps every block over 32 MB
 * fresh and unmaps it on free, so each large PyTorch output is page-faulted in again on every call;
 * on the VMs this was measured on that made x + x on 38 MB take 76 ms instead of 0.9 ms and
 * attention at 1568 tokens 8x slower (bench/NOTES.md "A fair PyTorch"). Keeping freed memory
 * (what our host cache does, and what jemalloc or tcmalloc give PyTorch users) times the kernels.
 */
export const TORCH_KERNEL_ENV = { MALLOC_MMAP_MAX_: '0', MALLOC_TRIM_THRESHOLD_: String(2 ** 40) };

/** Times the kernel suite's ops in PyTorch (bench/torch_kernels.py); keys "op|tokens" or "op". */
export function runTorchKernels(quick: boolean): Record<string, number> {
  const script = join(packageRoot, 'bench', 'torch_kernels.py');
  const r = spawnSync(python, [script, String(cpus().length), quick ? 'quick' : 'full'], {
    encoding: 'utf8',
    maxBuffer: 16 << 20,
    env: { ...process.env, ...TORCH_KERNEL_ENV },
  });
  if (r.status !== 0) throw new Error(`torch_kernels.py failed: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}
