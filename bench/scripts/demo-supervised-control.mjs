// Supervised tiny-ViT control on the synthetic set (docs/DEMO.md, experiments 9–13).
// node bench/scripts/demo-supervised-control.mjs TASK POOL STEPS CLUTTER [SIZE PATCH PRESET]
//   TASK appearance|motion|quadrant; POOL fresh (every clip new) or a clip count; CLUTTER n → n..2n
//   env: LR, WARM, RSCALE (object radius ×), PSCALE (texture period ×), BW=1 (palette 'fixed': white/black object),
//   CCOL=1 (object colour = appearance class: linearly decodable). Needs `npm run build` first.
import { SyntheticDataset } from '../../dist/data/synthetic.js';
import { BatchSampler, stackClips } from '../../dist/methods/batch.js';
import { VideoClassifier } from '../../dist/nn/classifier.js';
import { videoVit } from '../../dist/nn/config.js';
import { crossEntropy } from '../../dist/ops/xent.js';
import { Tensor } from '../../dist/tensor.js';
import { train } from '../../dist/methods/train.js';
const [task = 'appearance', poolArg = 'fresh', stepsArg = '400', clutArg = '8', sizeArg = '64', patchArg = '16', preset = 'tiny'] =
  process.argv.slice(2);
const steps = +stepsArg,
  B = 16,
  frames = 8,
  size = +sizeArg,
  patch = +patchArg;
const clutter = { min: +clutArg, max: 2 * +clutArg };
const count = poolArg === 'fresh' ? steps * B : +poolArg;
class DS extends SyntheticDataset {
  spec(i) {
    const s = super.spec(i);
    const k = +(process.env.RSCALE ?? 1);
    if (k !== 1) {
      const p = s.params,
        h = (frames - 1) / 2;
      const mx = p.cx + p.vx * h,
        my = p.cy + p.vy * h;
      p.radius *= k;
      p.period *= +(process.env.PSCALE ?? 1);
      const r = 1.35 * p.radius;
      const cl = (v) => Math.min(size - r, Math.max(r, v));
      const nx = cl(mx),
        ny = cl(my);
      p.cx = nx - p.vx * h;
      p.cy = ny - p.vy * h;
    }
    if (process.env.CCOL) {
      const C = [
        [255, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
        [255, 255, 255],
      ][s.appearance];
      s.params.colorA = C;
      s.params.colorB = C;
    }
    return s;
  }
}
const palette = process.env.BW ? 'fixed' : 'random';
const trainSet = new DS({ seed: 1, count, frames, size, clutter, palette });
const valSet = new DS({ seed: 100001, count: 256, frames, size, clutter, palette });
const quad = (ds, i) => {
  const p = ds.spec(i).params,
    h = (frames - 1) / 2;
  const x = p.cx + p.vx * h,
    y = p.cy + p.vy * h;
  return (x >= size / 2 ? 1 : 0) + (y >= size / 2 ? 2 : 0);
};
const labelOf = (ds, b) => (task === 'quadrant' ? Int32Array.from(b.indices, (i) => quad(ds, i)) : b.labelSets[task]);
const data = new BatchSampler(trainSet, B, 1);
const model = new VideoClassifier(videoVit(preset, { frames, size, patch }), { numClasses: 4, seed: 5, initScale: 1 });
const recipe = {
  name: 'sup',
  model,
  async step(i) {
    const b = await data.batch(i);
    const logits = model.forward(b.video);
    const y = Tensor.fromArray(labelOf(trainSet, b), [B]);
    const r = crossEntropy(logits, y);
    model.backward(r.dLogits);
    const loss = await r.loss.item();
    r.loss.dispose();
    r.dLogits.dispose();
    b.video.dispose();
    logits.dispose();
    y.dispose();
    return { loss };
  },
  dispose() {},
};
const t0 = performance.now();
const run = await train(recipe, {
  steps,
  lr: +(process.env.LR ?? 1e-3),
  minLr: 1e-5,
  warmupSteps: +(process.env.WARM ?? 20),
  weightDecay: 0.05,
  beta2: 0.999,
});
const h = run.history;
const m = (a) => (a.reduce((s, r) => s + r.losses.loss, 0) / a.length).toFixed(3);
async function acc(ds, n) {
  model.eval();
  let ok = 0;
  for (let s = 0; s < n; s += 32) {
    const idx = Array.from({ length: Math.min(32, n - s) }, (_, k) => s + k);
    const b = stackClips(idx.map((i) => ds.getSync(i)));
    const lg = model.forward(b.video);
    const v = await lg.toArray();
    lg.dispose();
    const y = labelOf(ds, b);
    for (let r = 0; r < idx.length; r++) {
      let best = 0;
      for (let c = 1; c < 4; c++) if (v[r * 4 + c] > v[r * 4 + best]) best = c;
      if (best === y[r]) ok++;
    }
    b.video.dispose();
  }
  model.train?.(true);
  return ((100 * ok) / n).toFixed(1);
}
console.log(
  JSON.stringify({
    task,
    pool: poolArg,
    steps,
    clutter: clutArg,
    size,
    patch,
    preset,
    lossStart: m(h.slice(0, 20)),
    lossEnd: m(h.slice(-20)),
    train: await acc(trainSet, Math.min(256, count)),
    val: await acc(valSet, 256),
    s: ((performance.now() - t0) / 1000).toFixed(0),
  }),
);
