// The pretraining method table (lib/methods/pretrain-methods.ts) that `mvd pretrain --method` reads:
// each name builds its own recipe, which runs a step, and the default mask ratios are SPEC's.
import t from 'tap';
import { SyntheticDataset } from '../lib/data/synthetic.js';
import { BatchSampler } from '../lib/methods/batch.js';
import { PRETRAIN_METHODS, PRETRAIN_METHOD_NAMES } from '../lib/methods/pretrain-methods.js';
import { MaeModel, VideoMaeModel } from '../lib/methods/pretrain.js';
import { Mam2Model } from '../lib/nn/mam2.js';

t.test('every method builds the recipe of its name and takes a step', async (t) => {
  t.same(PRETRAIN_METHOD_NAMES, ['mae', 'videomae', 'mam2']);
  const models = { mae: MaeModel, videomae: VideoMaeModel, mam2: Mam2Model };
  for (const name of PRETRAIN_METHOD_NAMES) {
    const data = new BatchSampler(new SyntheticDataset({ seed: 1, count: 4, frames: 4, size: 32 }), 2, 1);
    const r = PRETRAIN_METHODS[name].recipe(data, { preset: 'tiny', frames: 4, size: 32, maskRatio: 0.5, seed: 1 });
    t.equal(r.name, name, `${name}: recipe name`);
    t.ok(r.model instanceof models[name], `${name}: model is a ${models[name].name}`);
    const losses = await r.step(0);
    t.ok(Number.isFinite(losses.loss), `${name}: finite loss ${losses.loss}`);
    r.dispose();
  }
});

t.test('default mask ratios: 0.75 for image MAE, 0.9 for the video methods (SPEC §7–§9)', async (t) => {
  t.equal(PRETRAIN_METHODS.mae.maskRatio, 0.75);
  t.equal(PRETRAIN_METHODS.videomae.maskRatio, 0.9);
  t.equal(PRETRAIN_METHODS.mam2.maskRatio, 0.9);
});
