// A fast smoke test of the demo on tiny settings: every row is present, accuracies are fractions,
// the controls are marked, and the probe picks its weight decay from the values it was given.
import t from 'tap';
import { runDemo } from '../lib/methods/demo.js';
import { linearProbe } from '../lib/methods/probe.js';
import { Tensor } from '../lib/tensor.js';

t.test('runDemo on tiny settings gives the student rows and the controls', async (t) => {
  const r = await runDemo({
    seed: 1, frames: 4, size: 32, trainClips: 32, valClips: 16, batch: 4,
    teacherSteps: 2, studentSteps: 2, probeSteps: 5, probeWeightDecays: [1e-4, 1e-1],
  });
  t.same(r.rows.map((x) => x.student), [
    'random init (no pretraining)', 'image teacher', 'video teacher', 'both (co-teaching)',
    'video teacher itself (VideoMAE)', 'supervised on appearance (ceiling)', 'supervised on motion (ceiling)',
  ]);
  t.same(r.rows.map((x) => x.kind), ['control', 'student', 'student', 'student', 'control', 'control', 'control']);
  for (const row of r.rows)
    for (const v of [row.appearance, row.motion, row.appearanceTrain, row.motionTrain]) t.ok(v >= 0 && v <= 1, `${row.student}: ${v}`);
  t.ok(r.chanceBand > 0.2 && r.chanceBand < 0.22, `band ${r.chanceBand} for 16 clips`);
  t.ok(Number.isFinite(r.teacherLoss.image) && Number.isFinite(r.teacherLoss.video));
});

t.test('linearProbe: standardised features, weight decay chosen on the train split only', async (t) => {
  // Two separable classes along dimension 0 with a large offset and scale on every dimension.
  const n = 40, d = 3;
  const make = (m: number, seed: number) => {
    const x = new Float32Array(m * d), y = new Int32Array(m);
    for (let i = 0; i < m; i++) {
      y[i] = i % 2;
      x[i * d] = 1000 + 50 * (y[i] ? 1 : -1) + ((i * 7 + seed) % 5);
      x[i * d + 1] = -500 + ((i * 13 + seed) % 11);
      x[i * d + 2] = 3 * ((i * 3 + seed) % 7);
    }
    return { x: Tensor.fromArray(x, [m, d]), y };
  };
  const tr = make(n, 1), va = make(20, 2);
  const r = await linearProbe(tr, va, 2, { steps: 60, weightDecay: [1e-4, 1e-2], seed: 3 });
  t.equal(r.valAcc, 1);
  t.equal(r.trainAcc, 1);
  t.ok([1e-4, 1e-2].includes(r.weightDecay));
  const ln = await linearProbe(tr, va, 2, { steps: 60, norm: 'layernorm' });
  t.equal(ln.weightDecay, 1e-4);
  tr.x.dispose();
  va.x.dispose();
});
