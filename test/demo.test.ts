// A fast smoke test of the demo on tiny settings (every row is present, accuracies are fractions of
// the val clips, the control is marked), its statistics, the image-to-video weight inflation, and
// the probe picking its weight decay from the values it was given.
import t from 'tap';
import { runDemo } from '../lib/methods/demo.js';
import { inflateImageWeights, shrinkAndPerturb } from '../lib/methods/demo-finetune.js';
import { accuracyInterval, chanceBand, compare, pairedDifference, summarizeDemo } from '../lib/methods/demo-stats.js';
import { VisionTransformer } from '../lib/nn/encoder.js';
import { loadStateDict, stateDict } from '../lib/io/checkpoint.js';
import { linearProbe } from '../lib/methods/probe.js';
import { Tensor } from '../lib/tensor.js';
import { synthClipSpec } from '../lib/data/synthetic.js';
import { renderSynthClip } from '../lib/ops/synth.js';
import { BatchSampler } from '../lib/methods/batch.js';
import { train } from '../lib/methods/train.js';
import { VideoClassifier } from '../lib/nn/classifier.js';
import { imageVit, videoVit } from '../lib/nn/config.js';
import { crossEntropy } from '../lib/ops/xent.js';
import type { ClipSource } from '../lib/data/types.js';
import { evaluate } from '../lib/methods/eval.js';

const TINY = {
  frames: 4,
  size: 32,
  trainClips: 64,
  labelledClips: 32,
  valClips: 16,
  probeClips: 32,
  batch: 4,
  teacherSteps: 2,
  studentSteps: 2,
  finetuneSteps: 2,
  probeSteps: 5,
  probeWeightDecays: [1e-4, 1e-1],
};

t.test('runDemo on tiny settings: every encoder fine-tuned and probed on both tasks', async (t) => {
  const stages = new Set<string>();
  const r = await runDemo({ seed: 1, ...TINY, onProgress: (stage) => stages.add(stage) });
  t.same(
    r.rows.map((x) => x.encoder),
    [
      'random init',
      'image teacher (MAE)',
      'video teacher (VideoMAE)',
      'student ← image teacher',
      'student ← video teacher',
      'student ← both (co-taught)',
    ],
  );
  t.same(
    r.rows.map((x) => x.kind),
    ['control', 'teacher', 'teacher', 'student', 'student', 'student'],
  );
  for (const row of r.rows)
    for (const v of [row.finetuned.appearance, row.finetuned.motion, row.probe.appearance, row.probe.motion])
      t.ok(v >= 0 && v <= 1 && Number.isInteger(v * TINY.valClips), `${row.encoder}: ${v} is a count of ${TINY.valClips} val clips`);
  t.equal(r.rows[0].pretrainLoss, null);
  for (const row of r.rows.slice(1)) t.ok(Number.isFinite(row.pretrainLoss), `${row.encoder}: loss ${row.pretrainLoss}`);
  t.ok(Number.isFinite(r.teacherLoss.image) && Number.isFinite(r.teacherLoss.video));
  // Cross-frame similarity is a mean of cosines between different slots: in [-1, 1], and below 1
  // for a random-init encoder on clips whose object moves.
  for (const v of [...r.rows.map((x) => x.frameSimilarity), r.teacherFrameSimilarity.image, r.teacherFrameSimilarity.video])
    t.ok(v >= -1 && v <= 1 + 1e-6, `frame similarity ${v}`);
  t.ok(r.rows[0].frameSimilarity < 0.9999, `random init: slots differ (${r.rows[0].frameSimilarity})`);
  t.equal(r.settings.finetuneSteps, 2);
  t.equal(r.settings.palette, 'fixed');
  // Every encoder is fine-tuned on both tasks (12 stages) and every student distilled.
  t.equal([...stages].filter((s) => s.startsWith('fine-tune ')).length, 12);
  t.equal([...stages].filter((s) => s.startsWith('distil ')).length, 3);
  // The table's summary over this one seed: binomial intervals, a verdict per task.
  const sum = summarizeDemo([r.rows], r.valClips);
  t.equal(sum.rows.length, 6);
  for (const row of sum.rows) t.ok(row.finetuned.motion.half > 0 && row.finetuned.motion.lo < row.finetuned.motion.mean);
});

t.test('runDemo rejects settings it cannot run, naming them', async (t) => {
  await t.rejects(runDemo({ seed: 1, ...TINY, finetuneSteps: 0 }), {
    name: 'ValueError',
    message: /finetuneSteps must be a positive integer, got 0/,
  });
  await t.rejects(runDemo({ seed: 1, ...TINY, probeClips: 65 }), {
    name: 'ValueError',
    message: /probeClips \(65\) must be at most trainClips \(64\)/,
  });
  for (const bad of [65, 0, 2.5])
    await t.rejects(runDemo({ seed: 1, ...TINY, labelledClips: bad }), {
      name: 'ValueError',
      message: new RegExp(`labelledClips must be null \\(the whole pool\\) or an integer in \\[1, trainClips = 64\\], got ${bad}`),
    });
  await t.rejects(runDemo({ seed: 1, ...TINY, finetuneLayerDecay: 1.5 }), {
    name: 'ValueError',
    message: /finetuneLayerDecay must be in \(0, 1\] or null, got 1.5/,
  });
  await t.rejects(runDemo({ seed: 1, ...TINY, teacherTargets: 'pixels' as 'raw' }), {
    name: 'ValueError',
    message: /teacherTargets must be normalized or raw, got 'pixels'/,
  });
});

t.test('teacherTargets: raw pixel targets reach the teachers (normalised ones have unit scale)', async (t) => {
  const tiny = {
    ...TINY,
    seed: 2,
    trainClips: 16,
    labelledClips: 16,
    valClips: 8,
    probeClips: 8,
    studentSteps: 1,
    finetuneSteps: 1,
    probeSteps: 2,
    probeWeightDecays: [1e-2],
    // The hard set at patch 16 (where this was measured): nearly every patch has texture to normalise.
    patch: 16,
    clutter: { min: 8, max: 16 },
    palette: 'random' as const,
  };
  const norm = await runDemo({ ...tiny, teacherTargets: 'normalized' });
  const raw = await runDemo({ ...tiny, teacherTargets: 'raw' });
  // Per-patch normalised targets have variance 1, so an untrained decoder's loss is about 1; raw
  // pixels in [0, 1] (MAE) and ImageNet-normalised pixels (VideoMAE) give other scales.
  t.ok(Math.abs(norm.teacherLoss.video - 1) < 0.2, `normalised VideoMAE loss ${norm.teacherLoss.video}`);
  t.not(raw.teacherLoss.video.toFixed(3), norm.teacherLoss.video.toFixed(3), `raw ${raw.teacherLoss.video}`);
  t.not(raw.teacherLoss.image.toFixed(3), norm.teacherLoss.image.toFixed(3), `raw MAE ${raw.teacherLoss.image}`);
});

t.test("inflateImageWeights: the image encoder's kernels and biases, exactly, in video names", async (t) => {
  const image = new VisionTransformer(imageVit('tiny', { size: 32, patch: 8 }), { finalNorm: true, seed: 3 });
  const cfg = videoVit('tiny', { frames: 4, size: 32, patch: 8 });
  const w = await inflateImageWeights(image, cfg);
  const src = stateDict(image);
  const k = (await src.get('patch_embed.proj.weight')!.toArray()) as Float32Array;
  const v = (await w.get('patch_embed.proj.weight')!.toArray()) as Float32Array;
  t.same(w.get('patch_embed.proj.weight')!.shape, [128, 3, 2, 8, 8]);
  // Both frames of a tubelet carry half the image kernel: a still clip embeds as the image does.
  let worst = 0;
  for (let oc = 0; oc < 128 * 3; oc++)
    for (let j = 0; j < 64; j++) worst = Math.max(worst, Math.abs(v[oc * 2 * 64 + j] + v[(oc * 2 + 1) * 64 + j] - k[oc * 64 + j]));
  t.ok(worst < 1e-6, `tubelet sum = image kernel (worst ${worst})`);
  const qkv = (await src.get('blocks.2.attn.qkv.bias')!.toArray()) as Float32Array;
  t.same([...((await w.get('blocks.2.attn.q_bias')!.toArray()) as Float32Array)], [...qkv.slice(0, 128)]);
  t.same([...((await w.get('blocks.2.attn.v_bias')!.toArray()) as Float32Array)], [...qkv.slice(256)]);
  t.notOk(w.has('cls_token') || w.has('norm.weight'), 'no counterpart in the video classifier');
  // Everything of the encoder but the positional table loads into the classifier.
  const clf = new VideoClassifier(cfg, { numClasses: 4, seed: 1 });
  const rep = loadStateDict(clf, w, { mayStayFresh: ['head.', 'fc_norm.'] });
  t.same(
    rep.missing.filter((n) => !n.startsWith('head.') && !n.startsWith('fc_norm.')),
    [],
  );
  const wrong = await inflateImageWeights(image, videoVit('tiny', { frames: 4, size: 32, patch: 16 })).catch((e: Error) => e);
  t.match(wrong, { name: 'ShapeError', message: /\[128,3,8,8\] does not fit a video encoder of dim 128, patch 16/ });
  for (const x of w.values()) x.dispose();
  clf.dispose();
  image.dispose();
});

t.test('demo statistics: binomial for one seed, t over seeds, verdicts by non-overlap', async (t) => {
  const one = accuracyInterval([0.5], 256);
  t.ok(Math.abs(one.half - 1.96 * Math.sqrt(0.25 / 256)) < 1e-12);
  const three = accuracyInterval([0.4, 0.5, 0.6], 256);
  t.ok(Math.abs(three.half - (4.303 * 0.1) / Math.sqrt(3)) < 1e-9, `t interval ${three.half}`);
  t.ok(Math.abs(chanceBand(0.25, 256) - 0.053) < 1e-3);
  const row = (encoder: string, kind: string, app: number, mot: number) => ({
    encoder,
    kind,
    finetuned: { appearance: app, motion: mot },
    probe: { appearance: 0.25, motion: 0.25 },
  });
  const seeds = [0, 1, 2].map((d) => [
    row('random init', 'control', 0.4 + d / 100, 0.25 + d / 100),
    row('teacher', 'teacher', 0.65 + d / 100, 0.27 + d / 100),
  ]);
  const s = summarizeDemo(seeds, 256);
  t.same(s.controlAboveChance, { appearance: true, motion: false });
  t.same(s.beatRandom, { appearance: ['teacher'], motion: [] });
  t.equal(compare(s.rows[1].finetuned.appearance, s.rows[0].finetuned.appearance), 'above');
  t.equal(compare(s.rows[0].finetuned.motion, s.rows[1].finetuned.motion), 'within');
  t.throws(() => summarizeDemo([seeds[0], seeds[1].slice(0, 1)], 256), {
    name: 'ValueError',
    message: /every seed must have the rows random init, teacher/,
  });
  t.throws(() => accuracyInterval([], 256), { name: 'ValueError' });
  // Paired: the teacher is 0.02 above random init at every seed while both move by 0.3 across
  // seeds, so the cells' intervals overlap but the difference's interval is above 0.
  const wide = [0, 0.3, 0.6].map((d, i) => [
    row('random init', 'control', 0.2 + d, 0.3),
    row('teacher', 'teacher', 0.22 + d + i / 1000, 0.3),
  ]);
  const w = summarizeDemo(wide, 256);
  t.same(w.beatRandom.appearance, [], 'cells overlap');
  const p = w.pairedVsRandom.appearance[0];
  t.equal(p.encoder, 'teacher');
  t.ok(Math.abs(p.diff.mean - 0.021) < 1e-12 && p.diff.lo > 0, `difference ${p.diff.mean} ± ${p.diff.half}`);
  t.ok(Math.abs(p.diff.half - (4.303 * 0.001) / Math.sqrt(3)) < 1e-9);
  t.same(summarizeDemo([wide[0]], 256).pairedVsRandom, { appearance: [], motion: [] }, 'one seed: no paired interval');
  t.equal(pairedDifference([0.5], [0.4]), null);
  t.throws(() => pairedDifference([0.5, 0.6], [0.4]), { name: 'ValueError' });
});

t.test('linearProbe: standardised features, weight decay chosen on the train split only', async (t) => {
  // Two separable classes along dimension 0 with a large offset and scale on every dimension.
  const n = 40,
    d = 3;
  const make = (m: number, seed: number) => {
    const x = new Float32Array(m * d),
      y = new Int32Array(m);
    for (let i = 0; i < m; i++) {
      y[i] = i % 2;
      x[i * d] = 1000 + 50 * (y[i] ? 1 : -1) + ((i * 7 + seed) % 5);
      x[i * d + 1] = -500 + ((i * 13 + seed) % 11);
      x[i * d + 2] = 3 * ((i * 3 + seed) % 7);
    }
    return { x: Tensor.fromArray(x, [m, d]), y };
  };
  const tr = make(n, 1),
    va = make(20, 2);
  const r = await linearProbe(tr, va, 2, { steps: 60, weightDecay: [1e-4, 1e-2], seed: 3 });
  t.equal(r.valAcc, 1);
  t.equal(r.trainAcc, 1);
  t.ok([1e-4, 1e-2].includes(r.weightDecay));
  const ln = await linearProbe(tr, va, 2, { steps: 60, norm: 'layernorm', keepHead: true });
  t.equal(ln.weightDecay, 1e-4);
  // keepHead: the fitted classifier, which on layer-normed val rows gives the reported accuracy
  // (what LP-FT loads into a VideoClassifier's head behind fc_norm at its identity start).
  const w = (await ln.head!.get('weight')!.toArray()) as Float32Array;
  const b = (await ln.head!.get('bias')!.toArray()) as Float32Array;
  t.same(ln.head!.get('weight')!.shape, [2, d]);
  const xv = (await va.x.toArray()) as Float32Array;
  let right = 0;
  for (let i = 0; i < 20; i++) {
    const row = Array.from(xv.subarray(i * d, i * d + d));
    const mu = row.reduce((a, v) => a + v, 0) / d;
    const sd = Math.sqrt(row.reduce((a, v) => a + (v - mu) ** 2, 0) / d + 1e-6);
    const z = row.map((v) => (v - mu) / sd);
    const logit = (c: number) => b[c] + z.reduce((a, v, j) => a + v * w[c * d + j], 0);
    if ((logit(1) > logit(0) ? 1 : 0) === va.y[i]) right++;
  }
  t.equal(right / 20, ln.valAcc, 'the kept head reproduces the probe');
  for (const x of ln.head!.values()) x.dispose();
  t.equal(r.head, undefined, 'no head unless asked');
  tr.x.dispose();
  va.x.dispose();
});

t.test('positive control: the supervised path generalises to unseen clips when the label is in the pixels linearly', async (t) => {
  // The training path generalises (docs/DEMO.md, sessions 1–5: the hard set's random colours, not
  // the path, held the old demo at chance): with the object's colour coding the class, a classifier
  // trained on fresh clips (none repeated) must score far above chance on clips it never saw.
  // A broken backward, optimiser or batching fails it.
  const frames = 4,
    size = 32,
    batch = 8,
    steps = 200;
  const colours: [number, number, number][] = [
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
    [255, 255, 255],
  ];
  const source = (seed: number, count: number): ClipSource => ({
    length: count,
    async get(index: number) {
      const s = synthClipSpec(seed, index, frames, size, { min: 0, max: 0 });
      const p = { ...s.params, radius: s.params.radius * 1.5, colorA: colours[s.appearance], colorB: colours[s.appearance] };
      return {
        frames: renderSynthClip(p),
        shape: [1, frames, size, size, 3],
        label: s.appearance,
        labels: { appearance: s.appearance },
        index,
        requested: index,
        bad: [],
      };
    },
  });
  const data = new BatchSampler(source(1, steps * batch), batch, 1);
  const model = new VideoClassifier(videoVit('tiny', { frames, size }), { numClasses: 4, seed: 2, initScale: 1 });
  await train(
    {
      name: 'colour-control',
      model,
      async step(i) {
        const b = await data.batch(i);
        using logits = model.forward(b.video);
        using y = Tensor.fromArray(b.labels, [b.labels.length]);
        const r = crossEntropy(logits, y);
        model.backward(r.dLogits);
        const loss = await r.loss.item();
        for (const z of [r.loss, r.dLogits, b.video]) z.dispose();
        return { loss };
      },
      dispose: () => {},
    },
    { steps, lr: 1e-3, minLr: 1e-5, warmupSteps: 5, weightDecay: 0.05, beta2: 0.999 },
  );
  const r = await evaluate(model, source(999, 64), { classes: 4, batchVideos: 64 });
  const right = r.top1 * 64;
  model.dispose();
  // Chance is 16/64 with a 95% band of ±7; 0.6 leaves room for numeric drift, not for a broken path.
  t.ok(right / 64 > 0.6, `unseen clips: ${right}/64 right (chance 16)`);
});

t.test("shrink-and-perturb: each encoder weight is shrink × pretrained + perturb × the classifier's fresh one", async (t) => {
  const cfg = videoVit('tiny', { frames: 4, size: 32, patch: 8 });
  using pre = new VisionTransformer(cfg, { finalNorm: false, seed: 11 });
  using model = new VideoClassifier(cfg, { numClasses: 4, seed: 7, initScale: 1 });
  const w = stateDict(pre);
  const fresh = stateDict(model);
  const names = [...w.keys()].filter((k) => k.startsWith('blocks.') || k.startsWith('patch_embed.'));
  t.ok(names.length > 10, `${names.length} encoder weights mixed`);
  const check = async (sp: { shrink: number; perturb: number }) => {
    const m = shrinkAndPerturb(model, w, sp);
    let worst = 0;
    for (const k of names) {
      const [a, b, c] = await Promise.all([w.get(k)!.toArray(), fresh.get(k)!.toArray(), m.weights.get(k)!.toArray()]);
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(c[i] - (sp.shrink * a[i] + sp.perturb * b[i])));
    }
    m.dispose();
    return worst;
  };
  t.equal(await check({ shrink: 0, perturb: 1 }), 0, '0, 1: exactly the fresh encoder (the random-init row)');
  t.equal(await check({ shrink: 1, perturb: 0 }), 0, '1, 0: exactly the pretrained encoder');
  t.ok((await check({ shrink: 0.3, perturb: 1 })) < 1e-6, '0.3, 1: to float rounding');
  await t.rejects(runDemo({ seed: 1, ...TINY, finetuneShrinkPerturb: { shrink: 0, perturb: 0 } }), {
    message: /finetuneShrinkPerturb must be null or \{ shrink, perturb \} of non-negative numbers, not both 0/,
  });
});
