import t from 'tap';
import { Tensor, ShapeError, DTypeError, ValueError } from '../lib/index.js';
import { attentionForward, attentionBackward } from '../lib/ops/attention.js';
import { maxRelErr, randn } from './helpers/reference.js';
import { attentionRef, attentionBackwardRef, f32, type AttnShape } from './helpers/attention-ref.js';
import { runnableIsas, withIsa } from './helpers/isa.js';

// FlashAttention's rule: at most 2x (outputs) / 3x (gradients) the error of a naive float32
// implementation against float64, plus a small floor (1e-6; 1e-5 for gradients, where at N = 1 the
// naive dS cancels to exactly 0 but the kernel's D_i = rowsum(dO ∘ O) leaves a few-ulp residue).
function within(
  what: string,
  got: ArrayLike<number>,
  ref: ArrayLike<number>,
  naive: ArrayLike<number>,
  factor: number,
  floor: number,
): [boolean, string] {
  const e = maxRelErr(got, ref),
    en = maxRelErr(naive, ref);
  return [e <= factor * en + floor, `${what}: kernel ${e.toExponential(2)} vs naive f32 ${en.toExponential(2)}`];
}

const shapes: AttnShape[] = [
  { B: 3, N: 33, heads: 5, hd: 64 },
  { B: 1, N: 129, heads: 2, hd: 80 },
  { B: 2, N: 1, heads: 3, hd: 64 },
  { B: 1, N: 17, heads: 1, hd: 8 },
];

// Every build of the kernels this CPU can run (AVX2, and AVX-512 where present) against float64.
for (const isa of runnableIsas())
  for (const s of shapes)
    t.test(`attention forward/backward match float64 (${isa}, B=${s.B} N=${s.N} heads=${s.heads} hd=${s.hd})`, (t) =>
      withIsa(isa, async () => {
        const D = s.heads * s.hd;
        const X = randn(s.B * s.N * 3 * D, s.N + s.hd).map((v) => v * 1.5);
        const G = randn(s.B * s.N * D, 7 + s.N);
        const qkv = Tensor.fromArray(X, [s.B, s.N, 3 * D]);
        const { out, lse } = attentionForward(qkv, s.heads);
        t.same(out.shape, [s.B, s.N, D]);
        t.same(lse.shape, [s.B, s.heads, s.N]);
        const ref = attentionRef(X, s),
          naive = attentionRef(X, s, f32);
        t.ok(...within('out', await out.toArray(), ref.out, naive.out, 2, 1e-6));
        t.ok(...within('lse', await lse.toArray(), ref.lse, naive.lse, 2, 1e-6));
        const dOut = Tensor.fromArray(G, [s.B, s.N, D]);
        const dqkv = attentionBackward(dOut, qkv, out, lse, s.heads);
        t.same(dqkv.shape, [s.B, s.N, 3 * D]);
        t.ok(...within('dqkv', await dqkv.toArray(), attentionBackwardRef(X, G, s), attentionBackwardRef(X, G, s, f32), 3, 1e-5));
        for (const x of [qkv, out, lse, dOut, dqkv]) x.dispose();
      }),
    );

t.test('attention backward agrees with a central difference of the kernel forward along a random direction', async (t) => {
  // Directional derivative of L = Σ W ∘ attention(qkv) along a random direction, central
  // differences on the kernel's own forward (float32, so a loose bound).
  const s: AttnShape = { B: 1, N: 6, heads: 2, hd: 8 };
  const D = s.heads * s.hd;
  const X = randn(s.N * 3 * D, 3),
    W = randn(s.N * D, 4),
    U = randn(s.N * 3 * D, 5);
  const loss = async (eps: number) => {
    const x = Tensor.fromArray(
      X.map((v, i) => v + eps * U[i]),
      [1, s.N, 3 * D],
    );
    const { out } = attentionForward(x, s.heads);
    const o = await out.toArray();
    let l = 0;
    for (let i = 0; i < o.length; i++) l += W[i] * o[i];
    return l;
  };
  const qkv = Tensor.fromArray(X, [1, s.N, 3 * D]);
  const { out, lse } = attentionForward(qkv, s.heads);
  const g = await attentionBackward(Tensor.fromArray(W, [1, s.N, D]), qkv, out, lse, s.heads).toArray();
  let analytic = 0;
  for (let i = 0; i < g.length; i++) analytic += g[i] * U[i];
  const eps = 1e-2;
  const fd = ((await loss(eps)) - (await loss(-eps))) / (2 * eps);
  t.ok(Math.abs(fd - analytic) <= 2e-3 * (1 + Math.abs(analytic)), `fd ${fd} vs backward ${analytic}`);
});

t.test('attention argument errors are typed and name op, shapes and device', (t) => {
  try {
    attentionForward(Tensor.zeros([2, 4, 100]), 3);
    t.fail('accepted 100 channels for 3 heads');
  } catch (e) {
    t.ok(e instanceof ShapeError);
    const err = e as ShapeError;
    t.equal(err.op, 'attentionForward');
    t.match(err.shapes, /qkv \[2,4,100\]/);
    t.equal(err.device, 'cpu');
  }
  t.throws(() => attentionForward(Tensor.zeros([2, 4]), 1), ShapeError, 'needs [B, N, 3D]');
  t.throws(() => attentionForward(Tensor.zeros([1, 4, 3 * 129]), 1), ShapeError, 'head_dim above 128');
  t.throws(() => attentionForward(Tensor.zeros([1, 4, 12], { dtype: 'i32' }), 1), DTypeError);
  t.throws(() => attentionForward(Tensor.zeros([1, 4, 12]), 0), ValueError);
  t.throws(() => attentionForward(Tensor.zeros([1, 4, 12]), 1.5), ValueError);
  const qkv = Tensor.zeros([2, 4, 24]);
  const { out, lse } = attentionForward(qkv, 2);
  t.throws(() => attentionBackward(Tensor.zeros([2, 4, 7]), qkv, out, lse, 2), ShapeError, 'dOut shape');
  t.throws(() => attentionBackward(out, qkv, out, Tensor.zeros([2, 4, 2]), 2), ShapeError, 'lse is [B, heads, N]');
  t.throws(() => attentionBackward(out, qkv, out, lse, 4), ShapeError, 'heads must match out');
  t.throws(() => attentionBackward(Tensor.zeros([2, 4, 8], { dtype: 'i32' }), qkv, out, lse, 2), DTypeError);
  t.end();
});
