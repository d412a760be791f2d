// `mvd eval`: multi-view test of a fine-tuned classifier (SPEC §4.6) on the synthetic set or a list file.
import { APPEARANCE_CLASSES, MOTION_CLASSES } from '../../data/synthetic.js';
import { readListFile, VideoClipDataset } from '../../data/datasets.js';
import type { ClipSource } from '../../data/types.js';
import { PRESETS, type Preset } from '../../nn/config.js';
import { readSafetensorsHeader } from '../../io/safetensors.js';
import { loadWeights } from '../../io/checkpoint.js';
import { makeClassifier } from '../../methods/finetune.js';
import { evaluate, SyntheticTestViews, type EvalResult } from '../../methods/eval.js';
import { UsageError, type FlagCommand } from '../command.js';
import { isRankZero, world } from '../../dist/world.js';
import { framesFlag, JSON_FLAG, LABEL, modelFlag, POS, reportSkipped, sizeFlag } from './common.js';

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
  r.confusion.forEach((row, k) =>
    lines.push(`  ${`${k} ${r.perClass[k].name}`.slice(0, 16).padEnd(16)}${row.map((x) => String(x).padStart(w)).join('')}`),
  );
  return lines.join('\n');
}

/** A word the checkpoint's metadata names, checked like the flag would be. */
function fromMetadata<T extends string>(key: string, value: string | undefined, words: readonly T[], ck: string): T | undefined {
  if (value !== undefined && !words.includes(value as T))
    throw new UsageError(`${ck}: metadata ${key} '${value}' is not one of: ${words.join(', ')}; give --${key}`);
  return value as T | undefined;
}

function intFromMetadata(key: string, value: string | undefined, ck: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${ck}: metadata ${key} '${value}' is not a positive integer; give --${key}`);
  return n;
}

export const evalCommand: FlagCommand = {
  name: 'eval',
  summary: 'multi-view test of a fine-tuned classifier: softmax averaged over clips × crops; top-1/top-5, per class, confusion',
  usage:
    'mvd eval --checkpoint RUN/model.safetensors [--model tiny] [--label appearance|motion | --list val.txt --root DIR] [--num-clips 2 --num-crops 3] [--json]',
  flags: {
    checkpoint: {
      type: 'in-file',
      what: 'checkpoint',
      required: true,
      help: 'fine-tuned classifier weights (mvd finetune --out RUN writes RUN/model.safetensors)',
    },
    model: { ...modelFlag(), default: undefined, defaultNote: 'from the checkpoint, else tiny' },
    frames: framesFlag(undefined, 'from the checkpoint, else 16'),
    size: sizeFlag(undefined, 'from the checkpoint, else 112'),
    label: { ...LABEL, default: undefined, defaultNote: 'from the checkpoint, else appearance' },
    clips: { type: 'int', min: 1, help: 'synthetic test videos', default: 64 },
    seed: { type: 'int', min: 0, help: 'synthetic seed (not the training clips)', default: 100000 },
    list: { type: 'in-file', what: 'list file', help: 'list file (path label per line) of test videos' },
    root: { type: 'in-dir', what: 'root folder', help: 'root of the list paths' },
    sampling: { type: 'word', words: ['dense', 'tsn'], help: 'dense (Kinetics) or tsn (SSv2)', default: 'dense' },
    'num-clips': { type: 'int', min: 1, help: 'temporal views per video (K400 uses 5)', default: 2 },
    'num-crops': { type: 'int', min: 1, help: 'spatial crops per clip', default: 3 },
    stride: { type: 'int', min: 1, help: 'dense sampling stride', default: 4 },
    batch: { type: 'int', min: 1, help: 'videos per forward batch', default: 4 },
    pos: { ...POS, default: undefined, defaultNote: 'from the checkpoint, else sincos3d' },
    'on-bad-video': {
      type: 'word',
      words: ['skip', 'fail'],
      help: 'an unreadable video is left out of every count (skip) or stops the run (fail)',
      default: 'skip',
    },
    json: JSON_FLAG,
  },
  check(f) {
    const list = f.given('list');
    for (const k of list ? ['label', 'clips', 'seed'] : ['root', 'sampling', 'stride', 'on-bad-video'])
      if (f.given(k)) throw new UsageError(`--${k} applies to ${list ? 'synthetic' : 'list'} data only`);
  },
  async run(f) {
    const ck = f.str('checkpoint');
    const header = await readSafetensorsHeader(ck);
    const head = header.tensors.get('head.weight');
    if (!head)
      throw new UsageError(`${ck} has no head.weight: it is not a fine-tuned classifier (make one with \`mvd finetune --out RUN\`)`);
    const classes = head.shape[0];
    const md = header.metadata;
    const model = f.optWord<Preset>('model') ?? fromMetadata('model', md.model, PRESETS, ck) ?? 'tiny';
    const frames = f.optNum('frames') ?? intFromMetadata('frames', md.frames, ck) ?? 16;
    const size = f.optNum('size') ?? intFromMetadata('size', md.size, ck) ?? 112;
    const numClips = f.num('num-clips'),
      numCrops = f.num('num-crops');
    const pos =
      f.optWord<'sincos3d' | 'sinusoid1d'>('pos') ?? fromMetadata('pos', md.pos, ['sincos3d', 'sinusoid1d'] as const, ck) ?? 'sincos3d';
    let source: ClipSource, label: 'appearance' | 'motion' | undefined, classNames: readonly string[] | undefined;
    const onBadVideo = f.word<'skip' | 'fail'>('on-bad-video');
    if (f.given('list')) {
      const list = f.str('list');
      const items = await readListFile(list, { root: f.optStr('root') });
      const over = items.find((x) => x.label >= classes);
      if (over) throw new UsageError(`${list}: label ${over.label} (${over.path}) is outside the checkpoint's ${classes} classes`);
      source = new VideoClipDataset({
        items,
        transform: { kind: 'test', sampling: f.word('sampling'), numClips, numCrops, numFrames: frames, stride: f.num('stride'), size },
        onBadVideo,
      });
    } else {
      label =
        f.optWord<'appearance' | 'motion'>('label') ??
        fromMetadata('label', md.label, ['appearance', 'motion'] as const, ck) ??
        'appearance';
      classNames = label === 'appearance' ? APPEARANCE_CLASSES : MOTION_CLASSES;
      if (classNames.length !== classes)
        throw new UsageError(`${ck} has ${classes} classes; the synthetic ${label} task has ${classNames.length}`);
      source = new SyntheticTestViews({ seed: f.num('seed'), count: f.num('clips'), frames, size, label, numClips, numCrops });
    }
    // strict: every weight comes from the file, so the encoder skips its random initialisation.
    using classifier = makeClassifier({ preset: model, frames, size, numClasses: classes, posEmbed: pos, seed: 0, encoderInit: 'none' });
    await loadWeights(ck, classifier, { strict: true });
    const json = f.bool('json');
    const r = await evaluate(classifier, source, {
      classes,
      label,
      classNames,
      batchVideos: f.num('batch'),
      onBadVideo,
      onProgress:
        json || !process.stderr.isTTY || !isRankZero()
          ? undefined
          : (d, n) => process.stderr.write(`\reval ${d}/${n} videos${world().size > 1 ? ` (rank 0's share of ${world().size})` : ''}`),
    });
    // Every rank holds the gathered scores of all videos; one of them reports.
    if (!isRankZero()) return 0;
    if (!json && process.stderr.isTTY) process.stderr.write('\n');
    reportSkipped(r);
    const how = `${numClips} clip${numClips > 1 ? 's' : ''} × ${numCrops} crop${numCrops > 1 ? 's' : ''}`;
    console.log(json ? JSON.stringify({ checkpoint: ck, numClips, numCrops, ...r }, null, 2) : formatEval(r, how));
    return 0;
  },
};
