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
import { UsageError, type Command } from '../command.js';

const SUITES = ['gemm', 'kernels', 'step', 'data', 'eventloop', 'extract', 'allreduce', 'all'] as const;

function eventLoopOptions(v: Record<string, unknown>, check: boolean): EventLoopBenchOptions {
  const o: EventLoopBenchOptions = {
    method: String(v.method ?? 'videomae') as EventLoopBenchOptions['method'],
    model: String(v.student ?? 'tiny') as EventLoopBenchOptions['model'], teacher: String(v.teacher ?? 'base') as EventLoopBenchOptions['teacher'],
    frames: Number(v.frames ?? (check ? 4 : 16)), size: Number(v.size ?? (check ? 32 : 112)), batch: Number(v.batch ?? 4),
    steps: Number(v.steps ?? (check ? 2 : 5)), intervalMs: 10,
  };
  if (o.method !== 'videomae' && o.method !== 'mvd') throw new UsageError(`--method is videomae or mvd (got '${o.method}')`);
  if (!isPreset(o.model) || !isPreset(o.teacher)) throw new UsageError('--student and --teacher are presets: tiny, small, base, large, huge');
  return o;
}

function stepOptions(v: Record<string, unknown>, check: boolean): StepBenchOptions {
  const o: StepBenchOptions = {
    student: String(v.student ?? (check ? 'tiny' : 'small')) as StepBenchOptions['student'],
    teacher: String(v.teacher ?? (check ? 'tiny' : 'base')) as StepBenchOptions['teacher'],
    frames: Number(v.frames ?? (check ? 4 : 16)), size: Number(v.size ?? (check ? 32 : 112)), batch: Number(v.batch ?? 2),
    steps: Number(v.steps ?? (check ? 2 : 5)), warmup: Number(v.warmup ?? 1), maskRatio: Number(v['mask-ratio'] ?? 0.9), device: String(v.device ?? 'cpu'),
    data: String(v.data ?? 'memory') as StepBenchOptions['data'], workers: Number(v.workers ?? 2),
  };
  if (o.data !== 'memory' && o.data !== 'mp4') throw new UsageError(`--data is memory or mp4 (got '${o.data}')`);
  if (!Number.isInteger(o.workers) || o.workers! < 0) throw new UsageError(`--workers is an integer >= 0 (got '${v.workers}')`);
  if (!isPreset(o.student) || !isPreset(o.teacher)) throw new UsageError('--student and --teacher are presets: tiny, small, base, large, huge');
  return o;
}

interface Round { ours: StepBenchResult; torch?: TorchStep }

function formatStep(rounds: Round[], torchWhy?: string): string {
  const o = rounds.map((r) => r.ours);
  const rows: (string | number)[][] = [['mvd', fmt(med(o.map((x) => x.clips_per_s)), 3), fmt(med(o.map((x) => x.step_s_median)), 3), fmt(med(o.map((x) => x.peak_rss_bytes)) / 2 ** 20, 0),
    Object.entries(o[0].stages).map(([k, v]) => `${k} ${fmt(100 * v, 0)}%`).join(', ')]];
  const t = rounds.map((r) => r.torch).filter((x): x is TorchStep => !!x);
  let ratio = '';
  if (t.length) {
    rows.push([`PyTorch ${t[0].torch}`, fmt(med(t.map((x) => x.clips_per_s)), 3), fmt(med(t.map((x) => x.step_s_median)), 3), fmt(med(t.map((x) => x.peak_rss_bytes)) / 2 ** 20, 0),
      Object.entries(t[0].stages).map(([k, v]) => `${k} ${fmt(100 * v, 0)}%`).join(', ')]);
    ratio = `\nmvd / PyTorch: clips/s ${fmt(med(o.map((x) => x.clips_per_s)) / med(t.map((x) => x.clips_per_s)), 2)}×, peak RSS ${fmt(med(o.map((x) => x.peak_rss_bytes)) / med(t.map((x) => x.peak_rss_bytes)), 2)}× (${rounds.length} alternating rounds)`;
  } else if (torchWhy) ratio = `\n(no PyTorch comparison: ${torchWhy})`;
  const c = o[0].config;
  return `MVD step: student ${c.student}, teachers ${c.teacher}, ${c.frames}×${c.size}², batch ${c.batch}, ${c.device}\n\n` +
    table(['impl', 'clips/s', 'step s (median)', 'peak RSS MiB', 'stages'], rows) + ratio;
}

export const benchCommand: Command = {
  name: 'bench',
  summary: 'benchmarks: GEMM and kernels vs measured roofs, whole MVD steps (vs PyTorch when present), data loading',
  usage: `mvd bench <${SUITES.join('|')}> [--quick] [--check] [--json] [step: --student small --teacher base --frames 16 --size 112 --batch 2 --device cpu] [eventloop: --method videomae|mvd --student tiny --teacher base --batch 4 --steps 5] [extract: --student base --frames 16 --size 224 --rounds 3 --video FILE] [allreduce: --ranks 2 --device cpu]`,
  options: {
    quick: { type: 'boolean' }, check: { type: 'boolean' }, json: { type: 'boolean' }, student: { type: 'string' }, teacher: { type: 'string' },
    frames: { type: 'string' }, size: { type: 'string' }, batch: { type: 'string' }, steps: { type: 'string' }, warmup: { type: 'string' },
    'mask-ratio': { type: 'string' }, device: { type: 'string' }, rounds: { type: 'string' }, 'no-torch': { type: 'boolean' },
    method: { type: 'string' }, video: { type: 'string' }, data: { type: 'string' }, workers: { type: 'string' }, ranks: { type: 'string' },
  },
  help: {
    quick: 'fewer shapes and shorter runs', check: 'CI mode: a tiny configuration for a few seconds; fails only if the harness breaks',
    json: 'print JSON', student: 'student preset (small)', teacher: 'teacher preset (base)', frames: 'frames (16)', size: 'frame size (112)', batch: 'clips per step (2)',
    steps: 'timed steps per round (5)', warmup: 'untimed steps first (1)', 'mask-ratio': '0.9', device: 'cpu', rounds: 'alternating rounds with PyTorch (2)',
    'no-torch': 'skip the PyTorch reference',
    method: 'eventloop: videomae (pretrain --student, batch 4 by default) or mvd (distill --student from two --teacher)',
    data: 'step: memory (synthetic clips) or mp4 (the clips as video files through the loader)', workers: 'step --data mp4: loader threads (2)',
    video: 'extract: the video for the whole-process run (default ../shared/data/videos/demo.mp4 beside the package)',
    ranks: 'allreduce: processes mpirun starts when the command is not already under an MPI launcher (2)',
  },
  async run(v, positionals) {
    const suite = positionals[0] ?? 'gemm';
    if (!(SUITES as readonly string[]).includes(suite)) throw new UsageError(`unknown benchmark '${suite}' (one of: ${SUITES.join(', ')})`);
    const check = !!v.check;
    if (suite === 'allreduce') return runAllReduceSuite({ ranks: Number(v.ranks ?? 2), device: String(v.device ?? 'cpu'), quick: !!v.quick || check, json: !!v.json });
    const out: Record<string, unknown> = {};
    const markdown: string[] = [];
    const show = (text: string) => {
      markdown.push(text);
      if (!v.json) console.log(text + '\n');
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
        if (!dev) throw new UsageError(`bench kernels --device ${device}: no such CUDA device (${info.reason || `${info.devices.length} devices`})`);
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
        if (torch.ok) show(`\nPyTorch ran in its own process, same threads, with ${Object.entries(TORCH_KERNEL_ENV).map(([k, x]) => `${k}=${x}`).join(' ')} (glibc keeps freed memory, as our host cache does).`);
      }
    }
    if (suite === 'step' || suite === 'all') {
      const o = stepOptions(v, check);
      const rounds: Round[] = [];
      const torch = v['no-torch'] || check ? { ok: false, why: check ? 'check mode' : '--no-torch' } : torchAvailable();
      const n = Number(v.rounds ?? (torch.ok ? 2 : 1));
      for (let i = 0; i < n; i++) {
        // With PyTorch present each of ours runs in a child too, so both peak RSS figures are per process.
        const ours = torch.ok ? runOursInChild(o) : await benchStep(o);
        rounds.push({ ours, torch: torch.ok ? runTorch(o) : undefined });
      }
      out.step = { rounds, torch: torch.ok ? 'compared' : torch.why };
      show(formatStep(rounds, torch.why));
    }
    if (suite === 'data' || suite === 'all') {
      const r = await benchData(check ? { clips: 8, batchSize: 4 } : {});
      out.data = r;
      show(`data loader: ${fmt(r.clipsPerSec, 2)} clips/s (${r.clip.join('×')} clips from mp4, ${r.workers} workers, batch ${r.batchSize}); ${fmt(r.msPerBatch, 0)} ms per batch`);
    }
    if (suite === 'extract' || (suite === 'all' && check)) {
      const video = String(v.video ?? join(packageRoot, '..', 'shared', 'data', 'videos', 'demo.mp4'));
      const o: ExtractBenchOptions = {
        preset: String(v.student ?? (check ? 'tiny' : 'base')) as ExtractBenchOptions['preset'], frames: Number(v.frames ?? (check ? 4 : 16)),
        size: Number(v.size ?? (check ? 32 : 224)), video, runs: Number(v.rounds ?? (check ? 1 : 3)), torch: !v['no-torch'] && !check,
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
      await writeFile(`${base}.md`, markdown.join('\n\n') + '\n');
      if (!v.json) console.log(`wrote ${base}.json and ${base}.md`);
    }
    if (v.json) console.log(JSON.stringify(suite === 'step' ? out.step : suite === 'all' ? out : out[suite], null, 2));
    return 0;
  },
};
