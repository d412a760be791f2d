// `mvd finetune`: the SPEC §4 recipe over the shared training loop; checked flags (and --config
// JSON) become FinetuneOptions. Validation after training is the single centre view (SPEC §4.6:
// the reported numbers come from `mvd eval`'s multi-view test).
import { join } from 'node:path';
import { SyntheticDataset, APPEARANCE_CLASSES, MOTION_CLASSES } from '../../data/synthetic.js';
import { readListFile, VideoClipDataset } from '../../data/datasets.js';
import type { ClipSource } from '../../data/types.js';
import type { Preset } from '../../nn/config.js';
import { readSafetensorsHeader } from '../../io/safetensors.js';
import { saveWeights } from '../../io/checkpoint.js';
import { modelCardMetadata, modelCardOf } from '../../nn/model-card.js';
import { BatchSampler } from '../../methods/batch.js';
import { train } from '../../methods/train.js';
import {
  FINETUNE_DEFAULTS,
  checkpointKind,
  finetuneRecipe,
  loadBackbone,
  makeClassifier,
  type FinetuneOptions,
} from '../../methods/finetune.js';
import { evaluate, SyntheticTestViews } from '../../methods/eval.js';
import { Progress } from '../progress.js';
import { UsageError, type FlagCommand, type Flags } from '../command.js';
import { checkTrainFlags, dataKind, dataShard, LABEL, reportSkipped, trainOptions, TRAIN_FLAGS } from './common.js';
import { isRankZero } from '../../dist/world.js';

/** Number of classes of a list: the largest label + 1 (or --classes). */
function classesOf(labels: number[], given: number | undefined): number {
  const n = given ?? Math.max(...labels) + 1;
  if (n < 2) throw new UsageError(`the list has only label 0: give --classes (at least 2)`);
  const over = labels.find((y) => y >= n);
  if (over !== undefined) throw new UsageError(`label ${over} in the list is outside --classes ${n}`);
  return n;
}

const PROB = (help: string, dflt: number) => ({ type: 'number' as const, min: 0, max: 1, help, default: dflt });

/** Rules between flags that only fine-tuning has. */
function checkFinetuneFlags(f: Flags): void {
  checkTrainFlags(f);
  const list = dataKind(f) === 'list';
  for (const k of list ? ['label', 'val-clips'] : ['classes', 'val-list', 'sampling'])
    if (f.given(k)) throw new UsageError(`--${k} applies to ${list ? 'synthetic' : 'list'} data only`);
  const [lo, hi] = f.numbers('crop-scale');
  if (lo > hi) throw new UsageError(`--crop-scale ${lo},${hi}: lo must not exceed hi`);
}

export const finetuneCommand: FlagCommand = {
  name: 'finetune',
  summary: 'fine-tune a classifier (SPEC §4: layer decay, drop path, mixup/cutmix, label smoothing, repeated augmentation)',
  usage:
    'mvd finetune [--checkpoint STUDENT.safetensors] [--model tiny] [--label appearance|motion | --list train.txt --root DIR] [--out RUN] [--resume]',
  flags: {
    checkpoint: {
      type: 'in-file',
      what: 'checkpoint',
      help: 'encoder to start from: MVD student, VideoMAE or fine-tuned weights (default: random init)',
    },
    label: LABEL,
    classes: { type: 'int', min: 2, help: 'number of classes (list data)', defaultNote: 'largest label + 1' },
    'val-list': { type: 'in-file', what: 'list file', help: 'list file for the centre-view validation after training' },
    'val-clips': { type: 'int', min: 1, help: 'synthetic validation clips', defaultNote: 'max(4, clips/4)' },
    repeated: { type: 'int', min: 1, help: 'repeated augmentation: clips per video', default: FINETUNE_DEFAULTS.repeated },
    'layer-decay': { type: 'number', above: 0, max: 1, help: 'layer-wise lr decay', default: FINETUNE_DEFAULTS.layerDecay },
    'drop-path': { type: 'number', min: 0, below: 1, help: 'stochastic depth', default: FINETUNE_DEFAULTS.dropPath },
    'fc-dropout': { type: 'number', min: 0, below: 1, help: 'dropout before the head', default: FINETUNE_DEFAULTS.fcDropout },
    smoothing: { type: 'number', min: 0, below: 1, help: 'label smoothing', default: FINETUNE_DEFAULTS.labelSmoothing },
    mixup: { type: 'number', min: 0, help: 'Mixup alpha (0 = off)', default: 0.8 },
    cutmix: { type: 'number', min: 0, help: 'CutMix alpha (0 = off)', default: 1.0 },
    'mix-prob': PROB('probability a batch is mixed', 1),
    'switch-prob': PROB('probability of CutMix instead of Mixup', 0.5),
    flip: {
      ...PROB('flip probability', 0.5),
      default: undefined,
      defaultNote: '0.5; 0 for --label motion and --sampling tsn, where left/right is the label',
    },
    'crop-scale': {
      type: 'numbers',
      length: 2,
      above: 0,
      max: 1,
      help: 'random-resized-crop area range lo,hi',
      default: FINETUNE_DEFAULTS.cropScale,
    },
    sampling: { type: 'word', words: ['dense', 'tsn'], help: 'list data: dense (Kinetics) or tsn (SSv2)', default: 'dense' },
    ...TRAIN_FLAGS,
    batch: { ...TRAIN_FLAGS.batch, help: 'videos per micro-batch (the model sees videos × --repeated clips)' },
    lr: { ...TRAIN_FLAGS.lr, help: 'base lr, scaled by videos × accumulate / 256', default: FINETUNE_DEFAULTS.baseLr },
    'min-lr': { ...TRAIN_FLAGS['min-lr'], default: FINETUNE_DEFAULTS.baseMinLr },
  },
  check: checkFinetuneFlags,
  async run(f) {
    const model = f.word<Preset>('model');
    const frames = f.num('frames'),
      size = f.num('size'),
      seed = f.num('seed'),
      batch = f.num('batch');
    const repeated = f.num('repeated');
    const sampling = f.word<'dense' | 'tsn'>('sampling');
    const onBadVideo = f.word<'skip' | 'fail'>('on-bad-video');
    const ck = f.optStr('checkpoint');
    let label: 'appearance' | 'motion' | undefined, classes: number, classNames: readonly string[] | undefined;
    let trainSrc: ClipSource,
      valSrc: ClipSource | null = null;
    let flipDefault = FINETUNE_DEFAULTS.flip;
    if (dataKind(f) === 'synthetic') {
      label = f.word<'appearance' | 'motion'>('label');
      classNames = label === 'appearance' ? APPEARANCE_CLASSES : MOTION_CLASSES;
      classes = classNames.length;
      if (label === 'motion') flipDefault = 0;
      const n = f.num('clips');
      trainSrc = new SyntheticDataset({ seed, count: n, frames, size, label });
      valSrc = new SyntheticTestViews({
        seed: seed + 100000,
        count: f.optNum('val-clips') ?? Math.max(4, n >> 2),
        frames,
        size,
        label,
        numClips: 1,
        numCrops: 1,
      });
    } else {
      const items = await readListFile(f.str('list'), { root: f.optStr('root') });
      classes = classesOf(
        items.map((x) => x.label),
        f.optNum('classes'),
      );
      if (sampling === 'tsn') flipDefault = 0;
      trainSrc = new VideoClipDataset({
        // The dataset applies RandAugment itself when the addon can; otherwise only its parameters are drawn.
        items,
        transform: {
          kind: 'finetune',
          sampling,
          numFrames: frames,
          stride: 4,
          size,
          flip: f.optNum('flip') ?? flipDefault,
          numSample: repeated,
        },
        onBadVideo,
      });
      const vl = f.optStr('val-list');
      if (vl)
        valSrc = new VideoClipDataset({
          items: await readListFile(vl, { root: f.optStr('root') }),
          transform: { kind: 'val', sampling, numFrames: frames, stride: 4, size },
          onBadVideo,
        });
    }
    const mixupAlpha = f.num('mixup'),
      cutmixAlpha = f.num('cutmix');
    const [cropLo, cropHi] = f.numbers('crop-scale');
    let posEmbed: 'sincos3d' | 'sinusoid1d' = 'sincos3d';
    if (ck) {
      const kind = checkpointKind((await readSafetensorsHeader(ck)).tensors.keys());
      if (kind === 'image')
        throw new UsageError(`${ck} is an image (MAE) checkpoint: fine-tune from a video encoder (an MVD student or VideoMAE weights)`);
      if (kind === 'videomae') posEmbed = 'sinusoid1d';
    }
    const fo: FinetuneOptions = {
      preset: model,
      frames,
      size,
      numClasses: classes,
      batchSize: batch,
      label,
      repeated,
      seed,
      posEmbed,
      dropPath: f.num('drop-path'),
      fcDropout: f.num('fc-dropout'),
      labelSmoothing: f.num('smoothing'),
      mix:
        mixupAlpha <= 0 && cutmixAlpha <= 0
          ? false
          : { mixupAlpha, cutmixAlpha, prob: f.num('mix-prob'), switchProb: f.num('switch-prob') },
      flip: f.optNum('flip') ?? flipDefault,
      cropScale: [cropLo, cropHi],
    };
    const json = f.bool('json');
    // A backbone read from a file fills the whole encoder (loadBackbone refuses one that does not): no random init first.
    const fromFile = !!ck && !f.bool('resume');
    const classifier = makeClassifier({ ...fo, encoderInit: fromFile ? 'none' : 'random' });
    if (fromFile) {
      const rep = await loadBackbone(classifier, ck);
      if (!json) process.stderr.write(`loaded ${rep.loaded.length} weights from ${ck} (${posEmbed}); fresh: ${rep.missing.join(', ')}\n`);
    }
    const data = new BatchSampler(trainSrc, batch, seed, dataShard());
    const recipe = finetuneRecipe(data, fo, classifier);
    const steps = f.num('steps'),
      acc = f.num('accumulate');
    const out = f.optStr('out');
    const p = new Progress(!!process.stderr.isTTY, json);
    // SPEC §4.4: the lr-scaling batch counts videos, not the repeated clips.
    const r = await train(recipe, {
      ...trainOptions(f, batch * acc),
      beta2: FINETUNE_DEFAULTS.beta2,
      layerDecay: { decay: f.num('layer-decay'), depth: classifier.config.depth },
      onStep: (rec) => p.update('finetune', steps, rec, batch * acc * repeated),
    });
    p.done();
    const meta = {
      method: 'finetune',
      classes: String(classes),
      pos: posEmbed,
      frames: String(frames),
      size: String(size),
      model,
      ...(label ? { label } : {}),
    };
    const card = modelCardOf(classifier, { method: 'finetune', ...(classNames ? { classNames: [...classNames] } : {}) });
    if (out && isRankZero())
      await saveWeights(join(out, 'model.safetensors'), classifier, { ...meta, ...(card ? modelCardMetadata(card) : {}) });
    let val: { top1: number; videos: number } | null = null;
    let valResult: object | null = null;
    if (valSrc) {
      const e = await evaluate(classifier, valSrc, { classes, label, classNames, onBadVideo });
      val = { top1: e.top1, videos: e.videos };
      valResult = e;
    }
    reportSkipped(r, recipe, valResult);
    const last = r.history[r.history.length - 1];
    const summary = {
      method: 'finetune',
      steps,
      resumedFrom: r.resumedFrom,
      startStep: r.startStep,
      finalLosses: last?.losses ?? null,
      val,
      out: out ?? null,
    };
    console.log(
      json
        ? JSON.stringify(summary, null, 2)
        : `finetune: ${steps} steps${r.resumedFrom ? ` (resumed at ${r.startStep})` : ''}, final ${JSON.stringify(last?.losses ?? {})}` +
            (val ? `, val top-1 ${(100 * val.top1).toFixed(1)}% (${val.videos} videos, centre view)` : '') +
            (out ? `; weights in ${join(out, 'model.safetensors')}` : ''),
    );
    recipe.dispose();
    return 0;
  },
};
