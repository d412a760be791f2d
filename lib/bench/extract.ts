// The embedding path as a user meets it, side by side in one run: reading a checkpoint file once,
// loadEncoder on it, the in-process forward of one clip (embed), a whole `mvd extract` process on a
// real video, and PyTorch's in-process forward of the same encoder (bench/torch_forward.py).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../native.js';
import { VisionTransformer } from '../nn/encoder.js';
import { videoVit, type Preset } from '../nn/config.js';
import { modelCardMetadata, modelCardOf } from '../nn/model-card.js';
import { stateDict } from '../io/checkpoint.js';
import { saveSafetensors } from '../io/safetensors.js';
import { loadEncoder } from '../api/encoder.js';
import { torchAvailable, torchPython } from './compare.js';
import { median, fmt, table } from './timing.js';
import { sync } from '../tensor.js';

export interface ExtractBenchOptions {
  preset: Preset;
  frames: number;
  size: number;
  /** A video file for the whole-process run. */
  video: string;
  runs: number;
  torch: boolean;
}

export interface ExtractBenchResult {
  checkpointMB: number;
  readFileS: number;
  loadEncoderS: number;
  forwardS: number;
  extractProcessS: number;
  torchForwardS: number | null;
  torchWhy?: string;
}

export async function benchExtract(o: ExtractBenchOptions): Promise<ExtractBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'mvd-bench-extract-'));
  try {
    const path = join(dir, 'encoder.safetensors');
    {
      using enc = new VisionTransformer(videoVit(o.preset, { frames: o.frames, size: o.size }), { finalNorm: true, seed: 1 });
      await saveSafetensors(path, stateDict(enc), modelCardMetadata(modelCardOf(enc)!));
    }
    // Both timings read the file from the page cache (it was just written): the ratio is the
    // loader's overhead over one plain read.
    const reads: number[] = [],
      loads: number[] = [],
      forwards: number[] = [],
      wholes: number[] = [];
    for (let i = 0; i < o.runs; i++) {
      let t0 = performance.now();
      readFileSync(path);
      reads.push((performance.now() - t0) / 1000);
      t0 = performance.now();
      const e = await loadEncoder(path);
      await sync(); // the weights' copies are queued: done when the queue is
      loads.push((performance.now() - t0) / 1000);
      e.dispose();
    }
    {
      using e = await loadEncoder(path);
      const frames = {
        data: new Uint8Array(o.frames * o.size * o.size * 3).map((_, i) => (i * 2654435761) >>> 24),
        shape: [o.frames, o.size, o.size, 3] as const,
      };
      await e.embed(frames); // warm-up
      for (let i = 0; i < o.runs; i++) {
        const t0 = performance.now();
        await e.embed(frames);
        forwards.push((performance.now() - t0) / 1000);
      }
    }
    const cli = join(packageRoot, 'dist', 'cli', 'main.js');
    for (let i = 0; i < o.runs; i++) {
      const t0 = performance.now();
      const r = spawnSync(
        process.execPath,
        [cli, 'extract', '--checkpoint', path, '--video', o.video, '--out', join(dir, 'f.safetensors')],
        { encoding: 'utf8' },
      );
      if (r.status !== 0) throw new Error(`mvd extract failed (exit ${r.status}): ${r.stderr.slice(-1000)}`);
      wholes.push((performance.now() - t0) / 1000);
    }
    let torchForwardS: number | null = null,
      torchWhy: string | undefined;
    if (o.torch) {
      const avail = torchAvailable();
      if (avail.ok) {
        const r = spawnSync(
          torchPython(),
          [
            join(packageRoot, 'bench', 'torch_forward.py'),
            '--preset',
            o.preset,
            '--frames',
            String(o.frames),
            '--size',
            String(o.size),
            '--runs',
            String(o.runs),
            '--threads',
            String(cpus().length),
          ],
          { encoding: 'utf8' },
        );
        if (r.status !== 0) throw new Error(`torch_forward.py failed: ${r.stderr.slice(-1000)}`);
        torchForwardS = JSON.parse(r.stdout.trim().split('\n').pop()!).forward_s;
      } else torchWhy = avail.why;
    } else torchWhy = 'not asked (--no-torch)';
    return {
      checkpointMB: statSync(path).size / 2 ** 20,
      readFileS: median(reads),
      loadEncoderS: median(loads),
      forwardS: median(forwards),
      extractProcessS: median(wholes),
      torchForwardS,
      ...(torchWhy ? { torchWhy } : {}),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The table, with the three ratios the package issue sets targets for. */
export function formatExtract(o: ExtractBenchOptions, r: ExtractBenchResult): string {
  const rows: (string | number)[][] = [
    ['read the checkpoint file once', fmt(r.readFileS, 3), ''],
    ['loadEncoder (build + load + checks)', fmt(r.loadEncoderS, 3), `${fmt(r.loadEncoderS / r.readFileS, 2)}× the read (target ≤ 2)`],
    ['in-process forward (embed, 1 clip)', fmt(r.forwardS, 3), ''],
    [
      'whole process: mvd extract --video',
      fmt(r.extractProcessS, 3),
      `${fmt(r.extractProcessS / r.forwardS, 2)}× the forward (target ≤ 1.5)`,
    ],
  ];
  if (r.torchForwardS !== null)
    rows.push([
      'PyTorch in-process forward',
      fmt(r.torchForwardS, 3),
      `mvd whole process is ${fmt(r.torchForwardS / r.extractProcessS, 2)}× faster (target ≥ 1.2)`,
    ]);
  return (
    `Extract: ${o.preset} at ${o.frames}×${o.size}², checkpoint ${fmt(r.checkpointMB, 0)} MB, medians of ${o.runs} runs\n\n` +
    table(['what', 'seconds', 'ratio'], rows) +
    (r.torchWhy ? `\n(no PyTorch comparison: ${r.torchWhy})` : '')
  );
}
