// `mvd plot curves|similarity|recon`: PNG pictures of runs and encoders.
import { join } from 'node:path';
import type { Tensor } from '../../tensor.js';
import { SyntheticDataset } from '../../data/synthetic.js';
import { PRESETS, type Preset } from '../../nn/config.js';
import { stackClips } from '../../methods/batch.js';
import {
  curvesFigure,
  frameSimilarity,
  loadFeatureEncoder,
  meanOffDiagonal,
  readRunLog,
  reconFigure,
  reconstructionStrips,
  similarityFigure,
} from '../../plot/figures.js';
import { UsageError, type FlagCommand, type Flags } from '../command.js';
import { JSON_FLAG } from './common.js';
import { decodeCentreClip } from '../../api/clip.js';

const KINDS = ['curves', 'similarity', 'recon'] as const;

/** The flags each kind of plot reads; any other flag given is a usage error. */
const USES: Record<(typeof KINDS)[number], readonly string[]> = {
  curves: ['run', 'out', 'width', 'json'],
  similarity: ['checkpoint', 'out', 'model', 'frames', 'size', 'index', 'seed', 'video', 'json'],
  recon: ['run', 'out', 'index', 'json'],
};

async function curves(f: Flags): Promise<number> {
  const run = f.str('run');
  const log = readRunLog(run);
  const out = f.optStr('out') ?? join(run, 'curves.png');
  const fig = curvesFigure(log, { width: f.num('width'), title: run.split('/').filter(Boolean).pop() });
  await fig.save(out);
  const last = Object.fromEntries(Object.entries(log.losses).map(([k, ys]) => [k, ys[ys.length - 1]]));
  console.log(
    f.bool('json')
      ? JSON.stringify({ out, width: fig.width, height: fig.height, steps: log.steps.length, last }, null, 2)
      : `wrote ${out} (${fig.width}×${fig.height}): ${log.steps.length} steps of ${Object.keys(log.losses).join(', ')} and lr; last ${JSON.stringify(last)}`,
  );
  return 0;
}

async function similarity(f: Flags): Promise<number> {
  const frames = f.num('frames'),
    size = f.num('size');
  using enc = await loadFeatureEncoder(f.str('checkpoint'), { frames, size, preset: f.optWord<Preset>('model') });
  let clip: Tensor, source: string;
  const video = f.optStr('video');
  if (video !== undefined) {
    clip = await decodeCentreClip(video, frames, size);
    source = video;
  } else {
    const index = f.num('index'),
      seed = f.num('seed');
    clip = stackClips([await new SyntheticDataset({ seed, count: index + 1, frames, size }).get(index)]).video;
    source = `synthetic clip ${index} (seed ${seed})`;
  }
  using feats = enc.features(clip);
  clip.dispose();
  const m = await frameSimilarity(feats, enc.slots);
  const off = meanOffDiagonal(m);
  const out = f.optStr('out') ?? 'similarity.png';
  const fig = similarityFigure(m, `${enc.kind} ${enc.preset}: mean off-diag ${off.toFixed(3)}`);
  await fig.save(out);
  console.log(
    f.bool('json')
      ? JSON.stringify(
          {
            out,
            width: fig.width,
            height: fig.height,
            kind: enc.kind,
            preset: enc.preset,
            source,
            slots: enc.slots,
            meanOffDiagonal: off,
            matrix: m,
          },
          null,
          2,
        )
      : [
          `wrote ${out} (${fig.width}×${fig.height}): ${enc.kind} ${enc.preset} encoder on ${source}, ${enc.slots} temporal slots, mean off-diagonal cosine ${off.toFixed(3)}`,
          ...m.map((row) => `  ${row.map((x) => x.toFixed(2).padStart(5)).join(' ')}`),
        ].join('\n'),
  );
  return 0;
}

async function recon(f: Flags): Promise<number> {
  const run = f.str('run');
  const r = await reconstructionStrips(run, { index: f.num('index') });
  const fig = reconFigure(r);
  const out = f.optStr('out') ?? join(run, 'recon.png');
  await fig.save(out);
  console.log(
    f.bool('json')
      ? JSON.stringify(
          { out, width: fig.width, height: fig.height, method: r.method, frames: r.rows[0].images.length, maskedMse: r.maskedMse },
          null,
          2,
        )
      : `wrote ${out} (${fig.width}×${fig.height}): ${r.method} masked input / reconstruction / target, ${r.rows[0].images.length} frame(s); masked-token MSE ${r.maskedMse.toFixed(4)}`,
  );
  return 0;
}

export const plotCommand: FlagCommand = {
  name: 'plot',
  summary: 'PNG pictures: loss/lr curves of a run, cross-frame feature similarity of an encoder, MAE/VideoMAE reconstructions',
  usage:
    'mvd plot curves --run RUN [--out F.png] | mvd plot similarity --checkpoint W.safetensors [--index 0 | --video F.mp4] [--out F.png] | mvd plot recon --run RUN [--index 0] [--out F.png]',
  positional: { name: 'plot', words: KINDS },
  flags: {
    run: { type: 'in-dir', what: 'run folder', help: 'run folder (curves: log.jsonl; recon: config.json + weights)' },
    checkpoint: {
      type: 'in-file',
      what: 'checkpoint',
      help: 'similarity: encoder weights (MVD student, VideoMAE, MAE image teacher or fine-tuned)',
    },
    out: { type: 'out-file', help: 'PNG path', defaultNote: 'RUN/curves.png, RUN/recon.png, similarity.png' },
    model: { type: 'word', words: PRESETS, help: 'similarity: preset', defaultNote: 'from the embedding width' },
    frames: { type: 'int', min: 2, help: 'similarity: frames', default: 16 },
    size: { type: 'int', min: 16, help: 'similarity: frame size', default: 112 },
    index: { type: 'int', min: 0, help: 'synthetic clip index', default: 0 },
    seed: { type: 'int', min: 0, help: 'similarity: synthetic seed', default: 0 },
    video: { type: 'in-file', what: 'video', help: 'similarity: a video file instead of a synthetic clip (centre window and crop)' },
    width: { type: 'int', min: 200, max: 10000, help: 'curves: image width in pixels', default: 800 },
    json: JSON_FLAG,
  },
  check(f, what) {
    if (!what) throw new UsageError(`say what to plot: ${KINDS.join(', ')} (e.g. mvd plot curves --run RUN)`);
    const kind = what as (typeof KINDS)[number];
    for (const k of Object.keys(f.table))
      if (f.given(k) && !USES[kind].includes(k)) throw new UsageError(`--${k} does not apply to mvd plot ${kind}`);
    if (kind === 'similarity') {
      if (!f.given('checkpoint')) throw new UsageError('--checkpoint W.safetensors is required');
      if (f.given('video') && (f.given('index') || f.given('seed')))
        throw new UsageError('--video replaces the synthetic clip: drop --index and --seed');
    } else if (!f.given('run'))
      throw new UsageError(
        kind === 'curves' ? '--run RUN is required' : '--run RUN is required (a `mvd pretrain --method mae|videomae --out RUN` folder)',
      );
  },
  async run(f, what) {
    return what === 'similarity' ? similarity(f) : what === 'curves' ? curves(f) : recon(f);
  },
};
