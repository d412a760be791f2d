// `mvd plot curves|similarity|recon`: PNG pictures of runs and encoders.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '../../tensor.js';
import { SyntheticDataset } from '../../data/synthetic.js';
import { decodeFrames, probeVideo } from '../../data/video.js';
import { denseCentreIndices } from '../../data/sampling.js';
import { centreCrop } from '../../data/augment.js';
import { framesToClip } from '../../ops/frames.js';
import { isPreset, PRESETS, type Preset } from '../../nn/config.js';
import { IMAGENET_MEAN, IMAGENET_STD, stackClips } from '../../methods/batch.js';
import {
  curvesFigure, frameSimilarity, loadFeatureEncoder, meanOffDiagonal, readRunLog, reconFigure, reconstructionStrips, similarityFigure,
} from '../../plot/figures.js';
import { UsageError, type Command } from '../command.js';

const KINDS = ['curves', 'similarity', 'recon'];

export const plotCommand: Command = {
  name: 'plot',
  summary: 'PNG pictures: loss/lr curves of a run, cross-frame feature similarity of an encoder, MAE/VideoMAE reconstructions',
  usage: 'mvd plot curves --run RUN [--out F.png] | mvd plot similarity --checkpoint W.safetensors [--index 0 | --video F.mp4] [--out F.png] | mvd plot recon --run RUN [--index 0] [--out F.png]',
  options: {
    run: { type: 'string' }, checkpoint: { type: 'string' }, out: { type: 'string' }, model: { type: 'string' }, frames: { type: 'string' },
    size: { type: 'string' }, index: { type: 'string' }, seed: { type: 'string' }, video: { type: 'string' }, width: { type: 'string' }, json: { type: 'boolean' },
  },
  help: {
    run: 'run folder (curves: log.jsonl; recon: config.json + weights)', checkpoint: 'similarity: encoder weights (MVD student, VideoMAE, MAE image teacher or fine-tuned)',
    out: 'PNG path (default: RUN/curves.png, RUN/recon.png, similarity.png)', model: 'similarity: preset (default: from the embedding width)',
    frames: 'similarity: frames (default 16)', size: 'similarity: frame size (default 112)', index: 'synthetic clip index (default 0)',
    seed: 'similarity: synthetic seed (default 0)', video: 'similarity: a video file instead of a synthetic clip (centre window and crop)',
    width: 'curves: image width (default 800)', json: 'print the numbers as JSON',
  },
  async run(v, positionals) {
    const what = positionals[0];
    if (!what || !KINDS.includes(what)) throw new UsageError(`say what to plot: ${KINDS.join(', ')} (e.g. mvd plot curves --run RUN)`);
    if (what === 'curves') {
      if (typeof v.run !== 'string') throw new UsageError('--run RUN is required');
      const log = readRunLog(v.run);
      const out = (v.out as string | undefined) ?? join(v.run, 'curves.png');
      const fig = curvesFigure(log, { width: Number(v.width ?? 800), title: v.run.split('/').filter(Boolean).pop() });
      await fig.save(out);
      const last = Object.fromEntries(Object.entries(log.losses).map(([k, ys]) => [k, ys[ys.length - 1]]));
      console.log(v.json ? JSON.stringify({ out, width: fig.width, height: fig.height, steps: log.steps.length, last }, null, 2)
        : `wrote ${out} (${fig.width}×${fig.height}): ${log.steps.length} steps of ${Object.keys(log.losses).join(', ')} and lr; last ${JSON.stringify(last)}`);
      return 0;
    }
    if (what === 'similarity') {
      if (typeof v.checkpoint !== 'string') throw new UsageError('--checkpoint W.safetensors is required');
      if (!existsSync(v.checkpoint)) throw new UsageError(`checkpoint ${v.checkpoint} not found`);
      const frames = Number(v.frames ?? 16), size = Number(v.size ?? 112);
      const mp = v.model as string | undefined;
      if (mp !== undefined && !isPreset(mp)) throw new UsageError(`unknown model '${mp}' (one of ${PRESETS.join(', ')})`);
      using enc = await loadFeatureEncoder(v.checkpoint, { frames, size, preset: mp as Preset | undefined });
      let clip: Tensor, source: string;
      if (typeof v.video === 'string') {
        const info = await probeVideo(v.video);
        const { resized, crop } = centreCrop(info.width, info.height, size);
        const dec = await decodeFrames(v.video, denseCentreIndices(info.frameCount, frames, 4), { info, resize: resized, crop, outW: size, outH: size });
        using u8 = Tensor.fromArray(dec.data, [1, frames, size, size, 3]);
        clip = framesToClip(u8, IMAGENET_MEAN, IMAGENET_STD);
        source = v.video;
      } else {
        const index = Number(v.index ?? 0), seed = Number(v.seed ?? 0);
        clip = stackClips([await new SyntheticDataset({ seed, count: index + 1, frames, size }).get(index)]).video;
        source = `synthetic clip ${index} (seed ${seed})`;
      }
      using f = enc.features(clip);
      clip.dispose();
      const m = await frameSimilarity(f, enc.slots);
      const off = meanOffDiagonal(m);
      const out = (v.out as string | undefined) ?? 'similarity.png';
      const fig = similarityFigure(m, `${enc.kind} ${enc.preset}: mean off-diag ${off.toFixed(3)}`);
      await fig.save(out);
      console.log(v.json ? JSON.stringify({ out, width: fig.width, height: fig.height, kind: enc.kind, preset: enc.preset, source, slots: enc.slots, meanOffDiagonal: off, matrix: m }, null, 2)
        : [`wrote ${out} (${fig.width}×${fig.height}): ${enc.kind} ${enc.preset} encoder on ${source}, ${enc.slots} temporal slots, mean off-diagonal cosine ${off.toFixed(3)}`,
          ...m.map((row) => '  ' + row.map((x) => x.toFixed(2).padStart(5)).join(' '))].join('\n'));
      return 0;
    }
    if (typeof v.run !== 'string') throw new UsageError('--run RUN is required (a `mvd pretrain --method mae|videomae --out RUN` folder)');
    const r = await reconstructionStrips(v.run, { index: Number(v.index ?? 0) });
    const fig = reconFigure(r);
    const out = (v.out as string | undefined) ?? join(v.run, 'recon.png');
    await fig.save(out);
    console.log(v.json ? JSON.stringify({ out, width: fig.width, height: fig.height, method: r.method, frames: r.rows[0].images.length, maskedMse: r.maskedMse }, null, 2)
      : `wrote ${out} (${fig.width}×${fig.height}): ${r.method} masked input / reconstruction / target, ${r.rows[0].images.length} frame(s); masked-token MSE ${r.maskedMse.toFixed(4)}`);
    return 0;
  },
};
