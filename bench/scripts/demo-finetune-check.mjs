// The issue-20 starting point through the demo's own fine-tuning (docs/DEMO.md, experiment 18):
// VideoMAE pretraining, then random init and the VideoMAE encoder each fine-tuned on both tasks.
//   DIST=dist node bench/scripts/demo-finetune-check.mjs '{"frames":8,"vmaeSteps":1500,"ftSteps":300,"mask":0.9}'
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
const dist = resolve(process.env.DIST ?? new URL('../../dist', import.meta.url).pathname);
const M = async (p) => import(pathToFileURL(`${dist}/${p}`).href);
const { SyntheticDataset } = await M('data/synthetic.js');
const { videoVit } = await M('nn/config.js');
const { BatchSampler } = await M('methods/batch.js');
const { videomaeRecipe } = await M('methods/pretrain.js');
const { train, tailMean } = await M('methods/train.js');
const { stateDict } = await M('io/checkpoint.js');
const { finetuneAndScore } = await M('methods/demo-finetune.js');
const o = {
  frames: 8,
  size: 32,
  patch: 8,
  vmaeSteps: 1500,
  ftSteps: 300,
  lr: 1.5e-3,
  mask: 0.9,
  seed: 1,
  tasks: ['appearance', 'motion'],
  head: 1,
  rows: ['random', 'videomae'],
  ...JSON.parse(process.argv[2] ?? '{}'),
};
const set = (seed, count) =>
  new SyntheticDataset({ seed, count, frames: o.frames, size: o.size, clutter: { min: 0, max: 0 }, palette: 'fixed' });
const trainSet = set(o.seed, 8192),
  val = set(o.seed + 100000, 256);
const t0 = performance.now();
const secs = () => +((performance.now() - t0) / 1000).toFixed(0);
const out = { ...o };
const vm = videomaeRecipe(new BatchSampler(trainSet, 16, o.seed), {
  preset: 'tiny',
  frames: o.frames,
  size: o.size,
  maskRatio: o.mask,
  seed: o.seed + 2,
  override: { patch: o.patch },
});
const run = await train(vm, { steps: o.vmaeSteps, lr: 1.5e-3, minLr: 1e-4, warmupSteps: Math.round(o.vmaeSteps / 10), weightDecay: 0.05 });
out.vmaeLoss = [+run.history[0].losses.loss.toFixed(3), +tailMean(run.history, 'loss').toFixed(3)];
out.vmaeSecs = secs();
const cfg = (pos) => videoVit('tiny', { frames: o.frames, size: o.size, patch: o.patch, posEmbed: pos });
for (const [name, c, w] of [
  ['random', cfg('sincos3d'), null],
  ['videomae', cfg('sinusoid1d'), stateDict(vm.model)],
].filter(([n]) => o.rows.includes(n)))
  for (const task of o.tasks) {
    out[`${name}.${task}`] = await finetuneAndScore(c, w, task, trainSet, val, {
      steps: o.ftSteps,
      batch: 16,
      lr: o.lr,
      headInitScale: o.head,
      seed: o.seed + 6,
    });
    out[`${name}.${task}.s`] = secs();
  }
console.log(JSON.stringify(out));
