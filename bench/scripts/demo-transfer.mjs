// The demo's transfer experiments of session 10 (docs/DEMO.md, 32–35): random init against the
// VideoMAE teacher (or a student distilled from it) under one fine-tuning protocol, on one task.
// Teachers come from trainDemoTeachers and are cached per settings in $CACHE (default
// /tmp/mvd-demo-teachers), so each further row costs one fine-tune. Needs `npm run build` (or DIST).
//   node bench/scripts/demo-transfer.mjs '{"seed":2,"lr":5e-4,"labelled":256,"lp":true}'
// Options: seed, lr (every row), steps (fine-tune), labelled (clips), lp (head first fitted as a
// linear probe on the labelled clips' frozen features: LP-FT), rows ('random', 'videomae',
// 'student', 'noise': another random init where the teacher would be), studentSteps, task, shrink and perturb (shrink-and-perturb of a pretrained start:
// shrink × pretrained + perturb × a fresh initialisation, weight by weight).
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
const dist = resolve(process.env.DIST ?? new URL('../../dist', import.meta.url).pathname);
const M = (p) => import(pathToFileURL(`${dist}/${p}`).href);
const { SyntheticDataset } = await M('data/synthetic.js');
const { videoVit } = await M('nn/config.js');
const { VisionTransformer } = await M('nn/encoder.js');
const { Teacher } = await M('nn/mvd.js');
const { loadStateDict, stateDict } = await M('io/checkpoint.js');
const { BatchSampler } = await M('methods/batch.js');
const { distillRecipe } = await M('methods/distill.js');
const { train } = await M('methods/train.js');
const { DEMO_DEFAULTS } = await M('methods/demo.js');
const { trainDemoTeachers, loadDemoTeachers, saveDemoTeachers } = await M('methods/demo-teachers.js');
const { finetuneAndScore } = await M('methods/demo-finetune.js');
const { Tensor } = await M('tensor.js');
const { extractFeatures, linearProbe } = await M('methods/probe.js');

const o = {
  seed: 1,
  lr: 1.5e-3,
  steps: 200,
  labelled: 256,
  lp: false,
  rows: ['random', 'videomae'],
  studentSteps: 300,
  task: 'appearance',
  ...JSON.parse(process.argv[2] ?? '{}'),
};
const d = { ...DEMO_DEFAULTS, seed: o.seed };
const set = (seed, count) => new SyntheticDataset({ seed, count, frames: d.frames, size: d.size, clutter: d.clutter, palette: d.palette });
const val = set(o.seed + 100000, d.valClips),
  labelled = set(o.seed, o.labelled);
const cache = process.env.CACHE ?? '/tmp/mvd-demo-teachers';
mkdirSync(cache, { recursive: true });
const file = join(cache, `s${o.seed}-n${d.teacherSteps}-m${d.teacherMaskRatio}.safetensors`);
if (!existsSync(file)) {
  const t = await trainDemoTeachers(d);
  await saveDemoTeachers(file, t, { command: 'bench/scripts/demo-transfer.mjs', version: '-' });
  t.dispose();
}
const teachers = await loadDemoTeachers(file);
const cfg = (pos) => videoVit(d.preset, { frames: d.frames, size: d.size, patch: d.patch, posEmbed: pos });
const out = { ...o };
for (const row of o.rows) {
  const pos = row === 'videomae' || row === 'noise' ? 'sinusoid1d' : 'sincos3d';
  let weights = null;
  if (row === 'videomae') weights = teachers.video;
  // 'noise': another random init in the VideoMAE encoder's place (the control for shrink-and-perturb).
  if (row === 'noise') {
    const other = new VisionTransformer(cfg(pos), { finalNorm: false, seed: o.seed + 8 });
    weights = new Map([...stateDict(other)].map(([k, t]) => [k, t.clone()]));
    other.dispose();
  }
  if (row === 'student') {
    const tenc = new VisionTransformer(cfg('sinusoid1d'), { finalNorm: true, init: 'none' });
    loadStateDict(tenc, teachers.video);
    const r = distillRecipe(new BatchSampler(set(o.seed, d.trainClips), d.batch, o.seed), {
      student: d.preset,
      frames: d.frames,
      size: d.size,
      patch: d.patch,
      teachers: { vid: new Teacher('vid', tenc) },
      maskRatio: d.maskRatio,
      seed: o.seed + 3,
    });
    const n = o.studentSteps;
    await train(r, { steps: n, lr: 1.5e-3, minLr: 1e-4, warmupSteps: Math.round(n / 10), weightDecay: 0.05 });
    weights = new Map([...stateDict(r.model.encoder)].map(([k, t]) => [k, t.clone()]));
    r.dispose();
    tenc.dispose();
  }
  const w = new Map(weights ?? []);
  if (weights && (o.shrink !== undefined || o.perturb !== undefined)) {
    const fresh = new VisionTransformer(cfg(pos), { finalNorm: false, seed: o.seed + 7 });
    const init = stateDict(fresh);
    for (const [k, t] of weights) {
      const f = init.get(k);
      if (!f || !(k.startsWith('blocks.') || k.startsWith('patch_embed.'))) continue;
      const a = await t.toArray(),
        b = await f.toArray();
      const m = new Float32Array(a.length);
      for (let i = 0; i < a.length; i++) m[i] = (o.shrink ?? 1) * a[i] + (o.perturb ?? 0) * b[i];
      w.set(k, Tensor.fromArray(m, t.shape));
    }
    fresh.dispose();
  }
  if (o.lp) {
    // LP-FT: the head starts as a linear probe of the frozen encoder on the same labelled clips,
    // fitted on layer-normed features (= fc_norm at its initial identity).
    const enc = new VisionTransformer(cfg(pos), { finalNorm: false, seed: o.seed + 6 });
    if (weights) loadStateDict(enc, weights);
    else for (const [k, t] of stateDict(enc)) w.set(k, t.clone());
    const tr = await extractFeatures(enc, labelled),
      va = await extractFeatures(enc, val);
    const r = await linearProbe({ x: tr.features, y: tr.labelSets[o.task] }, { x: va.features, y: va.labelSets[o.task] }, 4, {
      steps: 300,
      seed: o.seed,
      weightDecay: [1e-4, 1e-2, 1e-1, 1],
      norm: 'layernorm',
      keepHead: true,
    });
    out[`${row}.lp`] = +(100 * r.valAcc).toFixed(1);
    for (const [n, t] of r.head) w.set(`head.${n}`, t);
    enc.dispose();
  }
  const s = { steps: o.steps, batch: d.batch, lr: o.lr, headInitScale: d.headInitScale, layerDecay: null, seed: o.seed + 6 };
  out[`${row}.ft`] = +(100 * (await finetuneAndScore(cfg(pos), w.size ? w : null, o.task, labelled, val, s))).toFixed(1);
  console.error(JSON.stringify({ row, lp: out[`${row}.lp`], ft: out[`${row}.ft`] }));
}
teachers.dispose();
console.log(JSON.stringify(out));
