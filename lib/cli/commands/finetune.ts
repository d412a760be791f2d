// `mvd finetune`: the SPEC §4 recipe over the shared training loop; flags (and --config JSON)
// become FinetuneOptions. Validation after training is the single centre view (SPEC §4.6: the
// reported numbers come from `mvd eval`'s multi-view test).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SyntheticDataset, APPEARANCE_CLASSES, MOTION_CLASSES } from '../../data/synthetic.js';
import { readListFile, VideoClipDataset } from '../../data/datasets.js';
import type { ClipSource } from '../../data/types.js';
import { readSafetensorsHeader } from '../../io/safetensors.js';
import { saveWeights } from '../../io/checkpoint.js';
import { scaleLr } from '../../optim/schedule.js';
import { BatchSampler } from '../../methods/batch.js';
import { train } from '../../methods/train.js';
import { FINETUNE_DEFAULTS, checkpointKind, finetuneRecipe, loadBackbone, makeClassifier, type FinetuneOptions } from '../../methods/finetune.js';
import { evaluate, SyntheticTestViews } from '../../methods/eval.js';
import { Progress } from '../progress.js';
import { UsageError, type Command } from '../command.js';
import { COMMON, COMMON_HELP, opts, preset } from './train.js';

/** Number of classes of a list: the largest label + 1 (or --classes). */
function classesOf(labels: number[], given: string | undefined): number {
  const n = given !== undefined ? Number(given) : Math.max(...labels) + 1;
  if (!Number.isInteger(n) || n < 2) throw new UsageError(`--classes must be an integer >= 2 (got ${given})`);
  const over = labels.find((y) => y >= n);
  if (over !== undefined) throw new UsageError(`label ${over} in the list is outside --classes ${n}`);
  return n;
}

export const finetuneCommand: Command = {
  name: 'finetune',
  summary: 'fine-tune a classifier (SPEC §4: layer decay, drop path, mixup/cutmix, label smoothing, repeated augmentation)',
  usage: 'mvd finetune [--checkpoint STUDENT.safetensors] [--model tiny] [--label appearance|motion | --list train.txt --root DIR] [--out RUN] [--resume]',
  options: {
    checkpoint: { type: 'string' }, label: { type: 'string' }, classes: { type: 'string' }, 'val-list': { type: 'string' }, 'val-clips': { type: 'string' },
    repeated: { type: 'string' }, 'layer-decay': { type: 'string' }, 'drop-path': { type: 'string' }, 'fc-dropout': { type: 'string' },
    smoothing: { type: 'string' }, mixup: { type: 'string' }, cutmix: { type: 'string' }, 'mix-prob': { type: 'string' }, 'switch-prob': { type: 'string' },
    flip: { type: 'string' }, 'crop-scale': { type: 'string' }, sampling: { type: 'string' }, ...COMMON,
  },
  help: {
    checkpoint: 'encoder to start from: MVD student, VideoMAE or fine-tuned weights (default: random init)',
    label: 'synthetic label set: appearance (default) or motion', classes: 'number of classes (list data; default: largest label + 1)',
    'val-list': 'list file for the centre-view validation after training', 'val-clips': 'synthetic validation clips (default clips/4)',
    repeated: 'repeated augmentation: clips per video (default 2)', 'layer-decay': 'layer-wise lr decay (default 0.75)',
    'drop-path': 'default 0.1', 'fc-dropout': 'dropout before the head (default 0)', smoothing: 'label smoothing (default 0.1)',
    mixup: 'Mixup alpha (default 0.8; 0 = off)', cutmix: 'CutMix alpha (default 1.0; 0 = off)', 'mix-prob': 'probability a batch is mixed (default 1)',
    'switch-prob': 'CutMix instead of Mixup (default 0.5)', flip: 'flip probability (default 0.5; 0 for --label motion and --sampling tsn, where left/right is the label)',
    'crop-scale': 'random-resized-crop area range lo,hi (default 0.08,1)', sampling: 'list data: dense (Kinetics, default) or tsn (SSv2)',
    ...COMMON_HELP,
    batch: 'videos per micro-batch (default 8; the model sees videos × --repeated clips)', lr: 'base lr, scaled by videos/256 (default 5e-4)',
    'min-lr': 'base min lr (default 1e-6)', 'mask-ratio': '(unused by fine-tuning)',
  },
  async run(v) {
    const get = opts(v);
    const model = preset(get('model'));
    const frames = Number(get('frames', '16')), size = Number(get('size', '112')), seed = Number(get('seed', '0')), batch = Number(get('batch', '8'));
    const repeated = Number(get('repeated', String(FINETUNE_DEFAULTS.repeated)));
    const sampling = get('sampling', 'dense') as 'dense' | 'tsn';
    if (sampling !== 'dense' && sampling !== 'tsn') throw new UsageError('--sampling is dense or tsn');
    const ck = get('checkpoint');
    if (ck !== undefined && !existsSync(ck)) throw new UsageError(`checkpoint ${ck} not found`);
    const useList = (get('data') ?? (get('list') ? 'list' : 'synthetic')) !== 'synthetic';
    let label: string | undefined, classes: number, classNames: readonly string[] | undefined;
    let trainSrc: ClipSource, valSrc: ClipSource | null = null;
    let flipDefault = FINETUNE_DEFAULTS.flip;
    if (!useList) {
      label = get('label', 'appearance');
      if (label !== 'appearance' && label !== 'motion') throw new UsageError('--label is appearance or motion');
      classNames = label === 'appearance' ? APPEARANCE_CLASSES : MOTION_CLASSES;
      classes = classNames.length;
      if (label === 'motion') flipDefault = 0;
      const n = Number(get('clips', '256'));
      trainSrc = new SyntheticDataset({ seed, count: n, frames, size, label: label as 'appearance' | 'motion' });
      valSrc = new SyntheticTestViews({ seed: seed + 100000, count: Number(get('val-clips', String(Math.max(4, n >> 2)))), frames, size, label: label as 'appearance' | 'motion', numClips: 1, numCrops: 1 });
    } else {
      const list = get('list');
      if (!list) throw new UsageError('--data list needs --list FILE');
      if (!existsSync(list)) throw new UsageError(`list file ${list} not found`);
      const items = await readListFile(list, { root: get('root') });
      classes = classesOf(items.map((x) => x.label), get('classes'));
      if (sampling === 'tsn') flipDefault = 0;
      const flipP = Number(get('flip', String(flipDefault)));
      trainSrc = new VideoClipDataset({
        // The dataset applies RandAugment itself when the addon can; otherwise only its parameters are drawn.
        items, transform: { kind: 'finetune', sampling, numFrames: frames, stride: 4, size, flip: flipP, numSample: repeated },
        onBadVideo: get('on-bad-video', 'skip') as 'skip' | 'fail', onBad: (r) => process.stderr.write(`bad video skipped: ${r.file}: ${r.reason}\n`),
      });
      const vl = get('val-list');
      if (vl) {
        if (!existsSync(vl)) throw new UsageError(`list file ${vl} not found`);
        valSrc = new VideoClipDataset({ items: await readListFile(vl, { root: get('root') }), transform: { kind: 'val', sampling, numFrames: frames, stride: 4, size } });
      }
    }
    const mixupAlpha = Number(get('mixup', '0.8')), cutmixAlpha = Number(get('cutmix', '1.0'));
    const cs = get('crop-scale', '0.08,1')!.split(',').map(Number);
    if (cs.length !== 2 || !cs.every((x) => x > 0 && x <= 1) || cs[0] > cs[1]) throw new UsageError('--crop-scale is lo,hi with 0 < lo <= hi <= 1');
    let posEmbed: 'sincos3d' | 'sinusoid1d' = 'sincos3d';
    if (ck) {
      const kind = checkpointKind((await readSafetensorsHeader(ck)).tensors.keys());
      if (kind === 'image') throw new UsageError(`${ck} is an image (MAE) checkpoint: fine-tune from a video encoder (an MVD student or VideoMAE weights)`);
      if (kind === 'videomae') posEmbed = 'sinusoid1d';
    }
    const fo: FinetuneOptions = {
      preset: model, frames, size, numClasses: classes, batchSize: batch, label, repeated, seed, posEmbed,
      dropPath: Number(get('drop-path', '0.1')), fcDropout: Number(get('fc-dropout', '0')), labelSmoothing: Number(get('smoothing', '0.1')),
      mix: mixupAlpha <= 0 && cutmixAlpha <= 0 ? false : { mixupAlpha, cutmixAlpha, prob: Number(get('mix-prob', '1')), switchProb: Number(get('switch-prob', '0.5')) },
      flip: Number(get('flip', String(flipDefault))), cropScale: [cs[0], cs[1]],
    };
    const classifier = makeClassifier(fo);
    if (ck && !v.resume) {
      const rep = await loadBackbone(classifier, ck);
      if (!v.json) process.stderr.write(`loaded ${rep.loaded.length} weights from ${ck} (${posEmbed}); fresh: ${rep.missing.join(', ')}\n`);
    }
    const data = new BatchSampler(trainSrc, batch, seed);
    const recipe = finetuneRecipe(data, fo, classifier);
    const steps = Number(get('steps', '100'));
    const acc = Number(get('accumulate', '1'));
    // SPEC §4.4: the lr-scaling batch counts videos, not the repeated clips.
    const videos = batch * acc;
    const out = get('out');
    const p = new Progress(!!process.stderr.isTTY, !!v.json);
    const cfg = { command: 'finetune', ...Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'json')) };
    const r = await train(recipe, {
      steps, accumulate: acc, lr: scaleLr(Number(get('lr', '5e-4')), videos), minLr: scaleLr(Number(get('min-lr', '1e-6')), videos),
      warmupSteps: Number(get('warmup', String(Math.round(steps / 10)))), weightDecay: Number(get('weight-decay', '0.05')), beta2: FINETUNE_DEFAULTS.beta2,
      layerDecay: { decay: Number(get('layer-decay', '0.75')), depth: classifier.config.depth },
      runDir: out, resume: !!v.resume, checkpointEvery: Number(get('checkpoint-every', '50')), config: cfg,
      onStep: (rec) => p.update('finetune', steps, rec, batch * acc * repeated),
    });
    p.done();
    const meta = { method: 'finetune', classes: String(classes), pos: posEmbed, frames: String(frames), size: String(size), model, ...(label ? { label } : {}) };
    if (out) await saveWeights(join(out, 'model.safetensors'), classifier, meta);
    let val: { top1: number; videos: number } | null = null;
    if (valSrc) {
      const e = await evaluate(classifier, valSrc, { classes, label, classNames });
      val = { top1: e.top1, videos: e.videos };
    }
    const last = r.history[r.history.length - 1];
    const summary = { method: 'finetune', steps, resumedFrom: r.resumedFrom, startStep: r.startStep, finalLosses: last?.losses ?? null, val, out: out ?? null };
    console.log(v.json ? JSON.stringify(summary, null, 2)
      : `finetune: ${steps} steps${r.resumedFrom ? ` (resumed at ${r.startStep})` : ''}, final ${JSON.stringify(last?.losses ?? {})}` +
        (val ? `, val top-1 ${(100 * val.top1).toFixed(1)}% (${val.videos} videos, centre view)` : '') +
        (out ? `; weights in ${join(out, 'model.safetensors')}` : ''));
    recipe.dispose();
    return 0;
  },
};
