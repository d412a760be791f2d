import { writeFile, mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { benchGemm, formatGemm } from '../../bench/gemm.js';
import { benchStep, type StepBenchOptions, type StepBenchResult } from '../../bench/step.js';
import { benchData } from '../../bench/data.js';
import { benchExtract, formatExtract, type ExtractBenchOptions } from '../../bench/extract.js';
import { benchEventLoop, formatEventLoop, type EventLoopBenchOptions } from '../../bench/event-loop.js';
import { runOursInChild, runTorch, runTorchKernels, torchAvailable, TORCH_KERNEL_ENV, type TorchStep } from '../../bench/compare.js';
import { benchKernels, formatKernels } from '../../bench/kernels.js';
import { benchCudaKernels, formatCudaKernels } from '../../bench/kernels-cuda.js';
import { runAllReduceSuite } from '../../bench/allreduce.js';
import { gpuInfo } from '../../device.js';
import { table, fmt, median as med } from '../../bench/timing.js';
import { packageRoot } from '../../native.js';
import { isPreset } from '../../nn/config.js';
import { bf16WeightsSupport, type WeightPrecision } from '../../ops/gemm.js';
import { computeRoof, measureCpuRoofs } from '../../bench/roofline.js';
import { UsageError, type Command } from '../command.js';

const SUITES = ['gemm', 'kernels', 'step', 'data', 'eventloop', 'extract', 'allreduce', 'all'] as const;

function eventLoopOptions(v: Record<string, unknown>, check: boolean): EventLoopBenchOptions {
  const o: EventLoopBenchOptions = {
    method: String(v.method ?? 'videomae') as EventLoopBenchOptions['method'],
    model: String(v.student ?? 'tiny') as EventLoopBenchOptions['model'],
    teacher: String(v.teacher ?? 'base') as EventLoopBenchOptions['teacher'],
    frames: Number(v.frames ?? (check ? 4 : 16)),
    size: Number(v.size ?? (check ? 32 : 112)),
    batch: Number(v.batch ?? 4),
    steps: Number(v.steps ?? (check ? 2 : 5)),
    intervalMs: 10,
  };
  if (o.method !== 'videomae' && o.method !== 'mvd') throw new UsageError(`--method is videomae or mvd (got '${o.method}')`);
  if (!isPreset(o.model) || !isPreset(o.teacher))
    throw new UsageError('--student and --teacher are presets: tiny, small, base, large, huge');
  return o;
}

function stepOptions(v: Record<string, unknown>, check: boolean): StepBenchOptions {
  const o: StepBenchOptions = {
    student: String(v.student ?? (check ? 'tiny' : 'small')) as StepBenchOptions['student'],
    teacher: String(v.teacher ?? (check ? 'tiny' : 'base')) as StepBenchOptions['teacher'],
    frames: Number(v.frames ?? (check ? 4 : 16)),
    size: Number(v.size ?? (check ? 32 : 112)),
    batch: Number(v.batch ?? 2),
    steps: Number(v.steps ?? (check ? 2 : 5)),
    warmup: Number(v.warmup ?? 1),
    maskRatio: Number(v['mask-ratio'] ?? 0.9),
    device: String(v.device ?? 'cpu'),
    data: String(v.data ?? 'memory') as StepBenchOptions['data'],
    workers: Number(v.workers ?? 2),
  };
  if (o.data !== 'memory' && o.data !== 'mp4') throw new UsageError(`--data is memory or mp4 (got '${o.data}')`);
  if (!Number.isInteger(o.workers) || o.workers! < 0) throw new UsageError(`--workers is an integer >= 0 (got '${v.workers}')`);
  if (!isPreset(o.student) || !isPreset(o.teacher))
    throw new UsageError('--student and --teacher are presets: tiny, small, base, large, huge');
  return o;
}

/** One alternating round: ours with each teacher precision, then PyTorch fp32 (and with bf16-autocast teachers when ours ran bf16). */
interface Round {
  ours: StepBenchResult[];
  torch: TorchStep[];
}

/** The teacher precisions the step suite runs: --teacher-precision, or both where this CPU has bf16 weights. */
function stepPrecisions(v: Record<string, unknown>): WeightPrecision[] {
  const p = String(v['teacher-precision'] ?? (bf16WeightsSupport().available ? 'both' : 'fp32'));
  if (p === 'both') return ['fp32', 'bf16'];
  if (p !== 'fp32' && p !== 'bf16') throw new UsageError(`--teacher-precision is fp32, bf16 or both (got '${p}')`);
  return [p];
}

function formatStep(rounds: Round[], peakGflops: number, torchWhy?: string): string {
  const stagesOf = (x: { stages: Record<string, number> }) =>
    Object.entries(x.stages)
      .map(([k, v]) => `${k} ${fmt(100 * v, 0)}%`)
      .join(', ');
  const rows: (string | number)[][] = [];
  const clips = new Map<string, number>();
  const rss = new Map<string, number>();
  const add = (name: string, xs: (StepBenchResult | TorchStep)[], peakCol: string) => {
    const c = med(xs.map((x) => x.clips_per_s)),
      r = med(xs.map((x) => x.peak_rss_bytes));
    clips.set(name, c);
    rss.set(name, r);
    rows.push([name, fmt(c, 3), fmt(med(xs.map((x) => x.step_s_median)), 3), fmt(r / 2 ** 20, 0), peakCol, stagesOf(xs[0])]);
  };
  const precisions = rounds[0].ours.map((x) => x.teacher_precision);
  for (let i = 0; i < precisions.length; i++) {
    const xs = rounds.map((r) => r.ours[i]);
    // % of the fp32 FMA peak: whole step, and the teachers' and student's stages on their own (bf16
    // products can pass 100%: their roof is twice the fp32 one).
    const f = xs[0].flops,
      step = med(xs.map((x) => x.step_s_median));
    const pct = (flops: number, share: number) => fmt((100 * flops) / (step * share * peakGflops * 1e9), 0);
    const share = (k: 'teachers' | 'student') => med(xs.map((x) => x.stages[k]));
    add(
      `mvd, ${precisions[i]} teachers`,
      xs,
      `${pct(f.total, 1)}% (teachers ${pct(f.teachers, share('teachers'))}%, student ${pct(f.student, share('student'))}%)`,
    );
  }
  const torchKinds = rounds[0].torch.map((x) => x.teacher_autocast);
  for (let i = 0; i < torchKinds.length; i++) {
    const xs = rounds.map((r) => r.torch[i]);
    add(`PyTorch ${xs[0].torch}, ${torchKinds[i] ? 'bf16-autocast' : 'fp32'} teachers`, xs, '');
  }
  const ratio = (a: string, b: string, what: string) =>
    clips.has(a) && clips.has(b)
      ? `\n${what}: clips/s ${fmt(clips.get(a)! / clips.get(b)!, 2)}×, peak RSS ${fmt(rss.get(a)! / rss.get(b)!, 2)}×`
      : '';
  const torch = rounds[0].torch[0]?.torch;
  let notes = ratio('mvd, bf16 teachers', 'mvd, fp32 teachers', 'mvd bf16 / mvd fp32 teachers');
  if (torch) {
    notes += ratio('mvd, fp32 teachers', `PyTorch ${torch}, fp32 teachers`, 'mvd / PyTorch, both fp32');
    notes += ratio('mvd, bf16 teachers', `PyTorch ${torch}, fp32 teachers`, 'mvd bf16 teachers / PyTorch fp32');
    notes += ratio('mvd, bf16 teachers', `PyTorch ${torch}, bf16-autocast teachers`, 'mvd / PyTorch, both bf16 teachers');
    notes += ` (${rounds.length} alternating round${rounds.length > 1 ? 's' : ''})`;
  } else if (torchWhy) notes += `\n(no PyTorch comparison: ${torchWhy})`;
  const c = rounds[0].ours[0].config;
  return (
    `MVD step: student ${c.student}, teachers ${c.teacher}, ${c.frames}×${c.size}², batch ${c.batch}, ${c.device}; ` +
    `${fmt(rounds[0].ours[0].flops.total / 1e9, 1)} GFLOP a step, fp32 FMA peak ${fmt(peakGflops, 0)} GFLOP/s (measured now)\n\n` +
    table(['impl', 'clips/s', 'step s (median)', 'peak RSS MiB', '% of FMA peak', 'stages'], rows) +
    notes
  );
}

export const benchCommand: Command = {
  name: 'bench',
  summary: 'benchmarks: GEMM and kernels vs measured roofs, whole MVD steps (vs PyTorch when present), data loading',
  usage: `mvd bench <${SUITES.join('|')}> [--quick] [--check] [--json] [step: --student small --teacher base --frames 16 --size 112 --batch 2 --teacher-precision both --device cpu] [eventloop: --method videomae|mvd --student tiny --teacher base --batch 4 --steps 5] [extract: --student base --frames 16 --size 224 --rounds 3 --video FILE] [allreduce: --ranks 2 --device cpu]`,
  options: {
    quick: { type: 'boolean' },
    check: { type: 'boolean' },
    json: { type: 'boolean' },
    student: { type: 'string' },
    teacher: { type: 'string' },
    frames: { type: 'string' },
    size: { type: 'string' },
    batch: { type: 'string' },
    steps: { type: 'string' },
    warmup: { type: 'string' },
    'mask-ratio': { type: 'string' },
    device: { type: 'string' },
    rounds: { type: 'string' },
    'no-torch': { type: 'boolean' },
    method: { type: 'string' },
    video: { type: 'string' },
    data: { type: 'string' },
    workers: { type: 'string' },
    ranks: { type: 'string' },
    'teacher-precision': { type: 'string' },
  },
  help: {
    quick: 'fewer shapes and shorter runs',
    check: 'CI mode: a tiny configuration for a few seconds; fails only if the harness breaks',
    json: 'print JSON',
    student: 'student preset (small)',
    teacher: 'teacher preset (base)',
    frames: 'frames (16)',
    size: 'frame size (112)',
    batch: 'clips per step (2)',
    steps: 'timed steps per round (5)',
    warmup: 'untimed steps first (1)',
    'mask-ratio': '0.9',
    device: 'cpu',
    rounds: 'alternating rounds with PyTorch (2)',
    'no-torch': 'skip the PyTorch reference',
    method: 'eventloop: videomae (pretrain --student, batch 4 by default) or mvd (distill --student from two --teacher)',
    data: 'step: memory (synthetic clips) or mp4 (the clips as video files through the loader)',
    workers: 'step --data mp4: loader threads (2)',
    video: 'extract: the video for the whole-process run (default ../shared/data/videos/demo.mp4 beside the package)',
    ranks: 'allreduce: processes mpirun starts when the command is not already under an MPI launcher (2)',
    'teacher-precision':
      'step: fp32, bf16 or both, alternating in each round (both where the CPU has AVX512-BF16, else fp32); with bf16, PyTorch also runs with bf16-autocast teachers',
  },
  async run(v, positionals) {
    const suite = positionals[0] ?? 'gemm';
    if (!(SUITES as readonly string[]).includes(suite)) throw new UsageError(`unknown benchmark '${suite}' (one of: ${SUITES.join(', ')})`);
    const check = !!v.check;
    if (suite === 'allreduce')
      return runAllReduceSuite({
        ranks: Number(v.ranks ?? 2),
        device: String(v.device ?? 'cpu'),
        quick: !!v.quick || check,
        json: !!v.json,
      });
    const out: Record<string, unknown> = {};
    const markdown: string[] = [];
    const show = (text: string) => {
      markdown.push(text);
      if (!v.json) console.log(`${text}\n`);
    };
    if (suite === 'gemm' || suite === 'all') {
      const r = await benchGemm({ quick: !!v.quick || check, minSeconds: check ? 0.02 : undefined });
      out.gemm = r;
      show(formatGemm(r));
    }
    if (suite === 'kernels' || suite === 'all') {
      const device = String(v.device ?? 'cpu');
      if (device !== 'cpu') {
        const info = gpuInfo();
        const index = device === 'cuda' ? 0 : Number(/^cuda:(\d+)$/.exec(device)?.[1] ?? NaN);
        const dev = info.devices.find((d) => d.index === index);
        if (!dev)
          throw new UsageError(
            `bench kernels --device ${device}: no such CUDA device (${info.reason || `${info.devices.length} devices`})`,
          );
        const r = await benchCudaKernels(`cuda:${index}`, { check });
        out.kernels = r;
        show(formatCudaKernels(`cuda:${index}`, dev.name, r));
      } else {
        const r = await benchKernels({ quick: !!v.quick || check });
        const torch = v['no-torch'] || check ? { ok: false } : torchAvailable();
        if (torch.ok) {
          const tm = runTorchKernels(!!v.quick);
          for (const x of r.results) {
            const tokens = /× (\d+) ×/.exec(x.shape)?.[1];
            x.torchMs = tm[tokens && x.op.startsWith('attention') ? `${x.op}|${tokens}` : x.op];
          }
        }
        out.kernels = r;
        show(formatKernels(r));
        if (torch.ok)
          show(
            `\nPyTorch ran in its own process, same threads, with ${Object.entries(TORCH_KERNEL_ENV)
              .map(([k, x]) => `${k}=${x}`)
              .join(' ')} (glibc keeps freed memory, as our host cache does).`,
          );
      }
    }
    if (suite === 'step' || suite === 'all') {
      const o = stepOptions(v, check);
      const precisions = stepPrecisions(v);
      const rounds: Round[] = [];
      const torch = v['no-torch'] || check ? { ok: false, why: check ? 'check mode' : '--no-torch' } : torchAvailable();
      const n = Number(v.rounds ?? (torch.ok ? 2 : 1));
      for (let i = 0; i < n; i++) {
        // With PyTorch present each of ours runs in a child too, so every peak RSS figure is per process.
        const ours: StepBenchResult[] = [];
        for (const teacherPrecision of precisions)
          ours.push(torch.ok ? runOursInChild({ ...o, teacherPrecision }) : await benchStep({ ...o, teacherPrecision }));
        const peers = torch.ok ? [runTorch(o)] : [];
        if (torch.ok && precisions.includes('bf16')) peers.push(runTorch(o, true));
        rounds.push({ ours, torch: peers });
      }
      out.step = { rounds, torch: torch.ok ? 'compared' : torch.why };
      show(formatStep(rounds, computeRoof(measureCpuRoofs()), torch.why));
    }
    if (suite === 'data' || suite === 'all') {
      const r = await benchData(check ? { clips: 8, batchSize: 4 } : {});
      out.data = r;
      show(
        `data loader: ${fmt(r.clipsPerSec, 2)} clips/s (${r.clip.join('×')} clips from mp4, ${r.workers} workers, batch ${r.batchSize}); ${fmt(r.msPerBatch, 0)} ms per batch`,
      );
    }
    if (suite === 'extract' || (suite === 'all' && check)) {
      const video = String(v.video ?? join(packageRoot, '..', 'shared', 'data', 'videos', 'demo.mp4'));
      const o: ExtractBenchOptions = {
        preset: String(v.student ?? (check ? 'tiny' : 'base')) as ExtractBenchOptions['preset'],
        frames: Number(v.frames ?? (check ? 4 : 16)),
        size: Number(v.size ?? (check ? 32 : 224)),
        video,
        runs: Number(v.rounds ?? (check ? 1 : 3)),
        torch: !v['no-torch'] && !check,
      };
      if (!isPreset(o.preset)) throw new UsageError('--student is a preset: tiny, small, base, large, huge');
      const r = await benchExtract(o);
      out.extract = r;
      show(formatExtract(o, r));
    }
    if (suite === 'eventloop') {
      const r = await benchEventLoop(eventLoopOptions(v, check));
      out.eventloop = r;
      show(formatEventLoop(r));
    }
    if (suite === 'all' && !check) {
      const dir = join(packageRoot, 'bench', 'results');
      await mkdir(dir, { recursive: true });
      const base = join(dir, `${new Date().toISOString().slice(0, 10)}-${hostname()}`);
      await writeFile(`${base}.json`, JSON.stringify(out, null, 2));
      await writeFile(`${base}.md`, `${markdown.join('\n\n')}\n`);
      if (!v.json) console.log(`wrote ${base}.json and ${base}.md`);
    }
    if (v.json) console.log(JSON.stringify(suite === 'step' ? out.step : suite === 'all' ? out : out[suite], null, 2));
    return 0;
  },
};
