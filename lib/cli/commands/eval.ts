// `mvd eval`: multi-view test of a fine-tuned classifier (SPEC §4.6) on the synthetic set or a list file.
import { existsSync } from 'node:fs';
import { APPEARANCE_CLASSES, MOTION_CLASSES } from '../../data/synthetic.js';
import { readListFile, VideoClipDataset } from '../../data/datasets.js';
import type { ClipSource } from '../../data/types.js';
import { readSafetensorsHeader } from '../../io/safetensors.js';
import { loadWeights } from '../../io/checkpoint.js';
import { makeClassifier } from '../../methods/finetune.js';
import { evaluate, SyntheticTestViews, type EvalResult } from '../../methods/eval.js';
import { UsageError, type Command } from '../command.js';
import { preset } from './train.js';

const pct = (x: number | null) => (x === null ? '   -  ' : `${(100 * x).toFixed(1).padStart(5)}%`);

export function formatEval(r: EvalResult, how: string): string {
  const lines = [
    `eval: ${r.videos} videos × ${r.views} views (${how}): top-1 ${(100 * r.top1).toFixed(1)}%, top-${Math.min(5, r.classes)} ${(100 * r.top5).toFixed(1)}%, mean class accuracy ${(100 * r.meanClassAccuracy).toFixed(1)}%`,
    'per class:',
    ...r.perClass.map((c) => `  ${c.name.padEnd(16)} ${pct(c.accuracy)} (${c.correct}/${c.count})`),
    'confusion (rows: true class, columns: predicted):',
  ];
  const w = Math.max(4, ...r.confusion.flat().map((x) => String(x).length + 1));
  lines.push(`  ${''.padEnd(16)}${r.perClass.map((_, k) => String(k).padStart(w)).join('')}`);
  r.confusion.forEach((row, k) => lines.push(`  ${`${k} ${r.perClass[k].name}`.slice(0, 16).padEnd(16)}${row.map((x) => String(x).padStart(w)).join('')}`));
  return lines.join('\n');
}

export const evalCommand: Command = {
  name: 'eval',
  summary: 'multi-view test of a fine-tuned classifier: softmax averaged over clips × crops; top-1/top-5, per class, confusion',
  usage: 'mvd eval --checkpoint RUN/model.safetensors [--model tiny] [--label appearance|motion | --list val.txt --root DIR] [--num-clips 2 --num-crops 3] [--json]',
  options: {
    checkpoint: { type: 'string' }, model: { type: 'string' }, frames: { type: 'string' }, size: { type: 'string' }, label: { type: 'string' },
    clips: { type: 'string' }, seed: { type: 'string' }, list: { type: 'string' }, root: { type: 'string' }, sampling: { type: 'string' },
    'num-clips': { type: 'string' }, 'num-crops': { type: 'string' }, stride: { type: 'string' }, batch: { type: 'string' }, pos: { type: 'string' },
    json: { type: 'boolean' },
  },
  help: {
    checkpoint: 'fine-tuned classifier weights (mvd finetune --out RUN writes RUN/model.safetensors)', model: 'preset (default: from the checkpoint, else tiny)',
    frames: 'frames per view (default: from the checkpoint, else 16)', size: 'view size (default: from the checkpoint, else 112)',
    label: 'synthetic label set: appearance (default) or motion', clips: 'synthetic test videos (default 64)', seed: 'synthetic seed (default 100000: not the training clips)',
    list: 'list file (path label per line) of test videos', root: 'root of the list paths', sampling: 'dense (Kinetics, default) or tsn (SSv2)',
    'num-clips': 'temporal views per video (default 2; K400 uses 5)', 'num-crops': 'spatial crops per clip (default 3)', stride: 'dense sampling stride (default 4)',
    batch: 'videos per forward batch (default 4)', pos: 'positional table sincos3d|sinusoid1d (default: from the checkpoint)', json: 'print the result as JSON',
  },
  async run(v) {
    const ck = v.checkpoint;
    if (typeof ck !== 'string') throw new UsageError('--checkpoint is required (the model.safetensors of a `mvd finetune --out RUN` run)');
    if (!existsSync(ck)) throw new UsageError(`checkpoint ${ck} not found`);
    const header = await readSafetensorsHeader(ck);
    const head = header.tensors.get('head.weight');
    if (!head) throw new UsageError(`${ck} has no head.weight: it is not a fine-tuned classifier (make one with \`mvd finetune --out RUN\`)`);
    const classes = head.shape[0];
    const md = header.metadata;
    const model = preset((v.model as string | undefined) ?? md.model);
    const frames = Number(v.frames ?? md.frames ?? 16), size = Number(v.size ?? md.size ?? 112);
    const numClips = Number(v['num-clips'] ?? 2), numCrops = Number(v['num-crops'] ?? 3);
    if (!(numClips >= 1 && numCrops >= 1)) throw new UsageError('--num-clips and --num-crops must be >= 1');
    const pos = (v.pos ?? md.pos ?? 'sincos3d') as 'sincos3d' | 'sinusoid1d';
    let source: ClipSource, label: string | undefined, classNames: readonly string[] | undefined;
    const sampling = (v.sampling ?? 'dense') as 'dense' | 'tsn';
    if (typeof v.list === 'string') {
      if (!existsSync(v.list)) throw new UsageError(`list file ${v.list} not found`);
      const items = await readListFile(v.list, { root: v.root as string | undefined });
      const over = items.find((x) => x.label >= classes);
      if (over) throw new UsageError(`${v.list}: label ${over.label} (${over.path}) is outside the checkpoint's ${classes} classes`);
      source = new VideoClipDataset({ items, transform: { kind: 'test', sampling, numClips, numCrops, numFrames: frames, stride: Number(v.stride ?? 4), size }, onBadVideo: 'fail' });
    } else {
      label = (v.label as string | undefined) ?? md.label ?? 'appearance';
      if (label !== 'appearance' && label !== 'motion') throw new UsageError('--label is appearance or motion');
      classNames = label === 'appearance' ? APPEARANCE_CLASSES : MOTION_CLASSES;
      if (classNames.length !== classes) throw new UsageError(`${ck} has ${classes} classes; the synthetic ${label} task has ${classNames.length}`);
      source = new SyntheticTestViews({ seed: Number(v.seed ?? 100000), count: Number(v.clips ?? 64), frames, size, label: label as 'appearance' | 'motion', numClips, numCrops });
    }
    using classifier = makeClassifier({ preset: model, frames, size, numClasses: classes, posEmbed: pos, seed: 0 });
    await loadWeights(ck, classifier, { strict: true });
    const r = await evaluate(classifier, source, {
      classes, label, classNames, batchVideos: Number(v.batch ?? 4),
      onProgress: v.json || !process.stderr.isTTY ? undefined : (d, n) => process.stderr.write(`\reval ${d}/${n} videos`),
    });
    if (!v.json && process.stderr.isTTY) process.stderr.write('\n');
    const how = `${numClips} clip${numClips > 1 ? 's' : ''} × ${numCrops} crop${numCrops > 1 ? 's' : ''}`;
    console.log(v.json ? JSON.stringify({ checkpoint: ck, numClips, numCrops, ...r }, null, 2) : formatEval(r, how));
    return 0;
  },
};
