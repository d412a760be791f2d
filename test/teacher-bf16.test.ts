// Frozen teachers in bf16 (issue 23) and packed-only weights: bf16 products against float64 on
// bf16-rounded operands, teacher features within a derived bound of the fp32 teacher, a 50-step
// distillation tracking the fp32 run, the fp32 fallback under MVD_CPU_ISA=avx2, and the refusals.
//
// The bound. bf16 keeps 8 significant bits, so rounding to nearest leaves a relative error of at
// most u = 2^-8 per element, spread about uniformly (rms u/√3). A product of two rounded operands
// is off by about √2·u/√3 ≈ 0.0033 relative (rms), and a dot product of such terms with mixed
// signs keeps that relative rms error (measured on one GEMM: 0.0021). A teacher's pre-norm
// features pass through 4 such GEMMs per block (qkv, proj, fc1, fc2) whose errors enter the
// residual stream independently, so after L blocks the rms relative error is about
// 0.0033·√(4L); we allow 2× that for what LayerNorm and softmax amplify.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Tensor, ValueError, DeviceError, buildInfo } from '../lib/index.js';
import { bf16WeightsSupport, gemmPacked, gemmPackWeights } from '../lib/ops/gemm.js';
import { makeTeacher, teacherPrecisionFor } from '../lib/nn/mvd.js';
import { SyntheticDataset } from '../lib/data/synthetic.js';
import { BatchSampler } from '../lib/methods/batch.js';
import { distillRecipe } from '../lib/methods/distill.js';
import { train } from '../lib/methods/train.js';
import { packageRoot } from '../lib/native.js';
import { gemmRef, maxRelErr, randn } from './helpers/reference.js';
import { gelu64 } from './helpers/norm-loss-ref.js';

const bf16 = bf16WeightsSupport();
const noBf16 = !bf16.available && `no bf16 weights here: ${bf16.reason}`;
const U = 2 ** -8;
const perGemm = (Math.SQRT2 * U) / Math.sqrt(3);
const featureBound = (depth: number) => 2 * perGemm * Math.sqrt(4 * depth);

/** x rounded to the nearest bf16 (ties to even); every bf16 value is exact in float32. */
function toBf16(x: ArrayLike<number>): Float32Array {
  const f = new Float32Array(1),
    u = new Uint32Array(f.buffer);
  return Float32Array.from(x, (v) => {
    f[0] = v;
    u[0] = ((u[0] + 0x7fff + ((u[0] >>> 16) & 1)) >>> 16) << 16;
    return f[0];
  });
}

/** Root-mean-square of (a - ref) over that of ref. */
function relRms(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  let e = 0,
    n = 0;
  for (let i = 0; i < ref.length; i++) {
    e += (a[i] - ref[i]) ** 2;
    n += ref[i] ** 2;
  }
  return Math.sqrt(e / n);
}

t.test('bf16 products equal float64 on the bf16-rounded operands, for every row count, with bias and GELU', { skip: noBf16 }, async (t) => {
  let seed = 40;
  for (const [N, K] of [
    [1, 1],
    [33, 129],
    [768, 96],
    [96, 768],
    [200, 300],
  ]) {
    const B = randn(N * K, seed++),
      bias = randn(N, seed++);
    using w = Tensor.fromArray(B, [N, K]);
    using bt = Tensor.fromArray(bias, [N]);
    using packed = gemmPackWeights(w, { transB: true, precision: 'bf16' })!;
    // Half the fp32 floats, on oneDNN's blocks (N padded to 64, K to 32) behind a small header.
    const padded = Math.ceil(N / 64) * 64 * Math.ceil(K / 32) * 32;
    t.ok(packed.buffer.numel <= padded / 2 + 256, `${N}x${K}: the bf16 copy holds ${packed.buffer.numel} floats (fp32: ${N * K})`);
    const Br = toBf16(B);
    for (const M of [1, 31, 160, 784]) {
      const A = randn(M * K, seed++);
      using a = Tensor.fromArray(A, [M, K]);
      const ref = gemmRef(toBf16(A), Br, M, N, K, { transB: true, bias });
      // Only fp32 accumulation separates the two: the fp32 tolerance of the plain GEMM tests.
      const tol = 1e-5 * Math.sqrt(K + 1) * 4;
      const g = gemmPacked(a, packed, { bias: bt, gelu: true });
      t.ok(maxRelErr(await g.out.toArray(), ref) < tol, `${M}x${N}x${K} + bias`);
      t.ok(maxRelErr(await g.gelu.toArray(), ref.map(gelu64)) < tol + 1e-6, `${M}x${N}x${K} gelu`);
      g.out.dispose();
      g.gelu.dispose();
      // Against the unrounded operands: the per-GEMM bound above.
      using c = gemmPacked(a, packed);
      const err = relRms(await c.toArray(), gemmRef(A, B, M, N, K, { transB: true }));
      t.ok(err < 2 * perGemm, `${M}x${N}x${K}: rms relative error ${err.toExponential(2)} < ${(2 * perGemm).toExponential(2)}`);
    }
  }
});

const canPack = /packed weights/.test(buildInfo().gemmBackendDetail);

t.test(
  'packed-only fp32 weights give the plain product with no B to fall back on',
  { skip: !canPack && 'this build cannot pack fp32 weights' },
  async (t) => {
    const [M, N, K] = [65, 96, 80];
    const A = randn(M * K, 1),
      B = randn(N * K, 2),
      bias = randn(N, 3);
    using a = Tensor.fromArray(A, [M, K]);
    using w = Tensor.fromArray(B, [N, K]);
    using bt = Tensor.fromArray(bias, [N]);
    using packed = gemmPackWeights(w, { transB: true })!;
    using c = gemmPacked(a, packed, { bias: bt });
    t.ok(maxRelErr(await c.toArray(), gemmRef(A, B, M, N, K, { transB: true, bias })) < 1e-4);
  },
);

t.test(
  'a bf16 teacher holds each weight once, gives features within the bound, and cannot train or be saved',
  { skip: noBf16 },
  async (t) => {
    for (const [preset, depth] of [
      ['tiny', 4],
      ['small', 12],
    ] as const) {
      const fp32 = makeTeacher('vid', { preset, frames: 4, size: 32, seed: 3 });
      const half = makeTeacher('vid', { preset, frames: 4, size: 32, seed: 3 });
      using clip = Tensor.fromArray(randn(2 * 3 * 4 * 32 * 32, 9), [2, 3, 4, 32, 32]);
      fp32.packWeights('fp32');
      half.packWeights('bf16');
      t.equal(half.packedPrecision, 'bf16');
      using a = fp32.features(clip);
      using b = half.features(clip);
      const err = relRms(await b.toArray(), await a.toArray());
      t.ok(
        err < featureBound(depth),
        `${preset} (depth ${depth}): rms relative error ${err.toExponential(2)} < bound ${featureBound(depth).toExponential(2)}`,
      );
      t.ok(err > 1e-5, 'the bf16 path was taken (features differ from fp32)');
      const fc1 = half.encoder.namedParameters().find(([n]) => n === 'blocks.0.mlp.fc1.weight')![1];
      t.ok(fc1.released, 'the fp32 weight was freed');
      t.throws(() => fc1.value, ValueError, 'reading it is an error, not stale data');
      t.throws(() => half.encoder.train(), /released when the weights were packed/);
      t.throws(() => half.packWeights('fp32'), /held in bf16/);
      t.doesNotThrow(() => half.packWeights('bf16'), 'packing again in the same precision keeps the packs');
      fp32.dispose();
      half.dispose();
    }
  },
);

t.test('50 distillation steps with bf16 teachers track the fp32 run', { skip: noBf16 }, async (t) => {
  const run = async (precision: 'fp32' | 'bf16') => {
    const teachers = {
      img: makeTeacher('img', { preset: 'tiny', frames: 4, size: 32, seed: 5 }),
      vid: makeTeacher('vid', { preset: 'tiny', frames: 4, size: 32, seed: 4 }),
    };
    const data = new BatchSampler(new SyntheticDataset({ seed: 2, count: 400, frames: 4, size: 32 }), 4, 2);
    const r = distillRecipe(data, { student: 'tiny', frames: 4, size: 32, teachers, seed: 1, teacherPrecision: precision });
    t.equal(r.teacherPrecision, precision);
    const out = await train(r, { steps: 50, lr: 1e-3, minLr: 1e-4, warmupSteps: 5, weightDecay: 0.05 });
    r.dispose();
    for (const x of Object.values(teachers)) x.dispose();
    return out.history.map((h) => h.losses.loss);
  };
  const a = await run('fp32'),
    b = await run('bf16');
  t.equal(a.length, 50);
  // Targets differ by about the feature bound, so each loss may move by a few times that; the
  // worst step over the run is the test, and the curves must end where they end together.
  const rel = a.map((x, i) => Math.abs(b[i] - x) / x);
  const worst = Math.max(...rel);
  t.ok(worst < 0.02, `worst per-step relative loss difference ${worst.toExponential(2)} < 2%`);
  t.ok(
    a[49] < a[0] && b[49] < b[0],
    `both runs learn (fp32 ${a[0].toFixed(4)} → ${a[49].toFixed(4)}, bf16 ${b[0].toFixed(4)} → ${b[49].toFixed(4)})`,
  );
});

t.test('teacher precision: auto picks what the CPU can run; a request it cannot meet names both sides', async (t) => {
  t.equal(teacherPrecisionFor('auto', 'cpu'), bf16.available ? 'bf16' : 'fp32');
  t.equal(teacherPrecisionFor('fp32', 'cpu'), 'fp32');
  t.equal(teacherPrecisionFor('auto', 'cuda:0'), 'bf16');
  t.throws(() => teacherPrecisionFor('fp32', 'cuda:0'), DeviceError);
  t.throws(() => teacherPrecisionFor('half' as 'fp32', 'cpu'), ValueError);
  if (!bf16.available) t.throws(() => teacherPrecisionFor('bf16', 'cpu'), DeviceError);
});

t.test('MVD_CPU_ISA=avx2 takes the fp32 teachers and refuses bf16 by name', async (t) => {
  const script = `
    import { teacherPrecisionFor } from ${JSON.stringify(join(packageRoot, 'dist', 'nn', 'mvd.js'))};
    const out = { auto: teacherPrecisionFor('auto', 'cpu') };
    try { teacherPrecisionFor('bf16', 'cpu'); out.bf16 = 'accepted'; } catch (e) { out.bf16 = e.constructor.name + ': ' + e.message; }
    console.log(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, MVD_CPU_ISA: 'avx2' },
  });
  t.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  t.equal(out.auto, 'fp32');
  t.match(out.bf16, /^DeviceError: teacher precision bf16 was asked for.*MVD_CPU_ISA=avx2/);
});

t.test('bf16 packs serve y = x·Wᵀ + b only: other products through them are refused', { skip: noBf16 }, async (t) => {
  using a = Tensor.fromArray(randn(4 * 8, 1), [4, 8]);
  using w = Tensor.fromArray(randn(6 * 8, 2), [6, 8]);
  const packed = gemmPackWeights(w, { transB: true, precision: 'bf16' })!;
  const { gemm } = await import('../lib/ops/gemm.js');
  const c = gemm(a, w, { transB: true, alpha: 2, packed });
  await t.rejects(c.toArray(), /bf16 packed weights serve C = A·op\(B\) \+ bias only/);
  packed.dispose();
});
