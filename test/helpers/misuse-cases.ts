// The cases of test/api-misuse.test.ts: each calls the public API wrongly (or at an edge such as an
// empty dimension) and says what must come of it: a typed error of one class, or a result that
// passes a check. Errors may come from the call itself or from the read-back after it.
import {
  DeviceError,
  DisposedError,
  DTypeError,
  MvdError,
  NativeError,
  ShapeError,
  Tensor,
  ValueError,
  add,
  addBroadcast,
  addInPlace,
  adamw,
  allFinite,
  assembleDecoderInput,
  attentionBackward,
  attentionForward,
  crossEntropy,
  distillLoss,
  dropout,
  fill,
  flipFrames,
  framesToClip,
  gatherTokens,
  gelu,
  gemm,
  gemmPackWeights,
  gradNorm,
  layerNormBackward,
  layerNormForward,
  mixBatch,
  mseLoss,
  patchify,
  placeTokens,
  randomErase,
  randomFill,
  resizeCrop,
  rowScale,
  scale,
  scaleTensors,
  scatterTokens,
  sincos2dTable,
  sincos3dTable,
  sinusoid1dTable,
  softmax,
  sumRows,
  sync,
  topkCorrect,
  videomaePixelTarget,
} from '../../lib/index.js';

type ErrorClass = new (...args: never[]) => MvdError;
export interface MisuseCase {
  name: string;
  run: () => unknown;
  /** The error class the case must raise, or a check of its (awaited) result: true or a complaint. */
  expect: ErrorClass | ((result: unknown) => Promise<true | string> | true | string);
}

const f32 = (shape: number[], value = 1): Tensor<'f32'> => {
  const n = shape.reduce((a, b) => a * b, 1);
  return Tensor.fromArray(new Float32Array(n).fill(value), shape);
};
const i32 = (values: number[], shape = [values.length]): Tensor<'i32'> => Tensor.fromArray(new Int32Array(values), shape);
const u8 = (shape: number[]): Tensor<'u8'> => Tensor.fromArray(new Uint8Array(shape.reduce((a, b) => a * b, 1)), shape);
const disposed = (): Tensor<'f32'> => {
  const x = f32([2, 2]);
  x.dispose();
  return x;
};
// A descriptor that is not a Tensor but reaches native code with a real handle: forged views.
const forged = (patch: Record<string, unknown>): Tensor => {
  const x = f32([4]);
  return { handle: x.handle, offset: 0, shape: [4], dtype: 'f32', device: 'cpu', ...patch } as unknown as Tensor;
};
const any = <T>(v: unknown): T => v as T;

/** A result check: the tensor's shape and every element equal to `value` (or per-element values). */
function equals(shape: number[], value: number | number[]): (r: unknown) => Promise<true | string> {
  return async (r) => {
    const x = r as Tensor;
    if (JSON.stringify(x.shape) !== JSON.stringify(shape)) return `shape ${JSON.stringify(x.shape)}, want ${JSON.stringify(shape)}`;
    const a = await x.toArray();
    for (let i = 0; i < a.length; i++) {
      const want = typeof value === 'number' ? value : value[i];
      const got = Number(a[i]);
      if (!(got === want || Math.abs(got - want) <= 1e-6 || (Number.isNaN(want) && Number.isNaN(got))))
        return `element ${i} is ${got}, want ${want}`;
    }
    return true;
  };
}
const gelu1 = 0.8413447460685429; // gelu(1), exact erf

export const misuseCases: MisuseCase[] = [
  // ---- Tensor construction ----
  { name: 'zeros [2^31, 2^31] (wrapping byte count)', run: () => Tensor.zeros([2 ** 31, 2 ** 31]), expect: ShapeError },
  { name: 'empty [2^32, 2^32]', run: () => Tensor.empty([2 ** 32, 2 ** 32]), expect: ShapeError },
  { name: 'empty [2^45] f32 (over 2^46 bytes)', run: () => Tensor.empty([2 ** 45]), expect: ShapeError },
  { name: 'zeros u8 [2^47]', run: () => Tensor.zeros([2 ** 47], { dtype: 'u8' }), expect: ShapeError },
  { name: 'empty negative dimension', run: () => Tensor.empty([-1, 3]), expect: ShapeError },
  { name: 'empty fractional dimension', run: () => Tensor.empty([1.5]), expect: ShapeError },
  { name: 'empty NaN dimension', run: () => Tensor.empty([NaN]), expect: ShapeError },
  { name: 'empty Infinity dimension', run: () => Tensor.empty([Infinity]), expect: ShapeError },
  { name: 'empty dimension 2^53', run: () => Tensor.empty([2 ** 53, 0]), expect: ShapeError },
  { name: 'empty string dimension', run: () => Tensor.empty(any(['3'])), expect: ShapeError },
  { name: 'empty shape not an array', run: () => Tensor.empty(any('abc')), expect: ValueError },
  { name: 'empty shape undefined', run: () => Tensor.empty(any(undefined)), expect: ValueError },
  { name: 'empty unknown dtype', run: () => Tensor.empty([2], { dtype: any('f64') }), expect: DTypeError },
  { name: 'zeros unknown dtype', run: () => Tensor.zeros([2], { dtype: any('f16') }), expect: DTypeError },
  { name: 'empty unknown device', run: () => Tensor.empty([2], { device: 'gpu' }), expect: ValueError },
  { name: 'empty malformed cuda device', run: () => Tensor.empty([2], { device: 'cuda:x' }), expect: ValueError },
  { name: 'fromArray length mismatch', run: () => Tensor.fromArray(new Float32Array(3), [2]), expect: ShapeError },
  { name: 'fromArray Float64Array', run: () => Tensor.fromArray(any<Float32Array>(new Float64Array(3)), [3]), expect: ValueError },
  { name: 'fromArray plain array', run: () => Tensor.fromArray(any<Float32Array>([1, 2, 3]), [3]), expect: ValueError },
  { name: 'fromArray negative shape', run: () => Tensor.fromArray(new Float32Array(0), [-2]), expect: ShapeError },
  {
    name: 'fromArray huge shape for a small array',
    run: () => Tensor.fromArray(new Float32Array(4), [2 ** 40, 2 ** 40]),
    expect: ShapeError,
  },
  { name: 'empty [0, 2^40] is an empty tensor', run: () => Tensor.empty([0, 2 ** 40]), expect: equals([0, 2 ** 40], []) },
  {
    name: 'an allocation the OS refuses (2^46 bytes) is a NativeError',
    run: async () => {
      const x = Tensor.empty([2 ** 44]);
      fill(x, 0);
      await sync();
    },
    expect: NativeError,
  },
  // ---- views and lifetime ----
  { name: 'reshape to another element count', run: () => f32([2, 2]).reshape([3, -1]), expect: ShapeError },
  { name: 'reshape not an array', run: () => f32([2, 2]).reshape(any('x')), expect: ValueError },
  { name: 'reshape fractional dimension', run: () => f32([2, 2]).reshape([0.5, 8]), expect: ShapeError },
  { name: 'reshape two free dimensions', run: () => f32([2, 2]).reshape([-1, -1]), expect: ShapeError },
  { name: 'slice fractional start', run: () => f32([4, 2]).slice(1.5), expect: ShapeError },
  { name: 'slice negative start', run: () => f32([4, 2]).slice(-1), expect: ShapeError },
  { name: 'slice past the end', run: () => f32([4, 2]).slice(0, 10), expect: ShapeError },
  { name: 'slice NaN', run: () => f32([4, 2]).slice(NaN), expect: ShapeError },
  { name: 'slice of a 0-d tensor', run: () => f32([]).slice(0, 0), expect: ShapeError },
  { name: 'toArray after dispose', run: () => disposed().toArray(), expect: DisposedError },
  { name: 'reshape after dispose', run: () => disposed().reshape([4]), expect: DisposedError },
  { name: 'gemm on a disposed tensor', run: () => gemm(disposed(), f32([2, 2])), expect: DisposedError },
  { name: 'gelu on a disposed tensor', run: () => gelu(disposed()), expect: DisposedError },
  {
    name: 'dispose twice is harmless',
    run: () => {
      const x = f32([2]);
      x.dispose();
      x.dispose();
      return 'done';
    },
    expect: (r) => r === 'done' || `got ${String(r)}`,
  },
  { name: 'item of a 2-element tensor', run: () => f32([2]).item(), expect: ShapeError },
  { name: 'to an unknown device', run: () => f32([2]).to('gpu'), expect: ValueError },
  { name: 'forged view past its storage', run: () => gelu(forged({ shape: [1000] })), expect: ShapeError },
  { name: 'forged negative offset', run: () => gelu(forged({ offset: -1 })), expect: ValueError },
  { name: 'forged NaN offset', run: () => gelu(forged({ offset: NaN })), expect: ValueError },
  { name: 'forged offset 2^60', run: () => gelu(forged({ offset: 2 ** 60 })), expect: ValueError },
  { name: 'forged missing offset', run: () => gelu(forged({ offset: undefined })), expect: ValueError },
  { name: 'forged wrapping shape', run: () => gelu(forged({ shape: [2 ** 31, 2 ** 31, 4] })), expect: ShapeError },
  { name: 'forged unknown dtype', run: () => gelu(forged({ dtype: 'f64' })), expect: DTypeError },
  { name: 'forged numeric dtype', run: () => gelu(forged({ dtype: 5 })), expect: DTypeError },
  { name: 'forged handle', run: () => gelu(any({ handle: {}, offset: 0, shape: [1], dtype: 'f32', device: 'cpu' })), expect: ValueError },
  { name: 'null tensor', run: () => gelu(any(null)), expect: ValueError },
  { name: 'undefined tensor', run: () => gelu(any(undefined)), expect: ValueError },
  { name: 'number as tensor', run: () => gelu(any(3)), expect: ValueError },
  // ---- gemm: empty dimensions ----
  { name: 'gemm K=0', run: () => gemm(Tensor.zeros([2, 0]), Tensor.zeros([0, 4])), expect: equals([2, 4], 0) },
  { name: 'gemm K=0 with bias', run: () => gemm(f32([2, 0]), f32([0, 3]), { bias: f32([3], 2) }), expect: equals([2, 3], 2) },
  {
    name: 'gemm K=0 accumulating (beta)',
    run: () => gemm(f32([2, 0]), f32([0, 3]), { out: f32([2, 3], 4), beta: 0.5 }),
    expect: equals([2, 3], 2),
  },
  {
    name: 'gemm K=0 beta, bias and GELU',
    run: () => gemm(f32([2, 0]), f32([0, 3]), { out: f32([2, 3], 1), beta: 0.5, bias: f32([3], 0.5), gelu: true }).gelu,
    expect: equals([2, 3], gelu1),
  },
  { name: 'gemm K=0 transA', run: () => gemm(f32([0, 2]), f32([0, 3]), { transA: true }), expect: equals([2, 3], 0) },
  { name: 'gemm K=0 transB', run: () => gemm(f32([2, 0]), f32([3, 0]), { transB: true }), expect: equals([2, 3], 0) },
  {
    name: 'gemm K=0 transA and transB',
    run: () => gemm(f32([0, 2]), f32([3, 0]), { transA: true, transB: true, bias: f32([3], 1) }),
    expect: equals([2, 3], 1),
  },
  {
    name: 'gemm K=0 portable backend',
    run: () => gemm(f32([2, 0]), f32([0, 3]), { backend: 'portable', bias: f32([3], 3) }),
    expect: equals([2, 3], 3),
  },
  {
    name: 'gemm K=0 with packed weights',
    run: () => {
      const b = f32([0, 3]);
      const p = gemmPackWeights(b);
      return gemm(f32([2, 0]), b, p ? { packed: p } : {});
    },
    expect: equals([2, 3], 0),
  },
  { name: 'gemm K=0 with batch dims', run: () => gemm(f32([2, 3, 0]), f32([0, 2])), expect: equals([2, 3, 2], 0) },
  { name: 'gemm M=0', run: () => gemm(f32([0, 3]), f32([3, 4])), expect: equals([0, 4], []) },
  { name: 'gemm N=0', run: () => gemm(f32([2, 3]), f32([3, 0])), expect: equals([2, 0], []) },
  { name: 'gemm M=N=K=0', run: () => gemm(f32([0, 0]), f32([0, 0]), { gelu: true }).gelu, expect: equals([0, 0], []) },
  { name: 'gemm empty batch dim', run: () => gemm(f32([0, 2, 3]), f32([3, 4])), expect: equals([0, 2, 4], []) },
  // ---- gemm: misuse ----
  { name: 'gemm A 1-D', run: () => gemm(f32([3]), f32([3, 2])), expect: ShapeError },
  { name: 'gemm B 3-D', run: () => gemm(f32([2, 3]), f32([1, 3, 2])), expect: ShapeError },
  { name: 'gemm inner mismatch', run: () => gemm(f32([2, 3]), f32([4, 2])), expect: ShapeError },
  { name: 'gemm transposed 3-D A', run: () => gemm(f32([2, 3, 4]), f32([3, 2]), { transA: true }), expect: ShapeError },
  { name: 'gemm A i32', run: () => gemm(i32([1, 2, 3, 4], [2, 2]), f32([2, 2])), expect: DTypeError },
  { name: 'gemm B u8', run: () => gemm(f32([2, 2]), u8([2, 2])), expect: DTypeError },
  { name: 'gemm bias wrong length', run: () => gemm(f32([2, 3]), f32([3, 2]), { bias: f32([3]) }), expect: ShapeError },
  { name: 'gemm bias 2-D', run: () => gemm(f32([2, 3]), f32([3, 2]), { bias: f32([1, 2]) }), expect: ShapeError },
  { name: 'gemm bias i32', run: () => gemm(f32([2, 3]), f32([3, 2]), { bias: i32([1, 2]) }), expect: DTypeError },
  { name: 'gemm out wrong shape', run: () => gemm(f32([2, 3]), f32([3, 2]), { out: f32([3, 2]) }), expect: ShapeError },
  { name: 'gemm beta without out', run: () => gemm(f32([2, 3]), f32([3, 2]), { beta: 1 }), expect: ValueError },
  { name: 'gemm alpha NaN', run: () => gemm(f32([2, 3]), f32([3, 2]), { alpha: NaN }), expect: ValueError },
  { name: 'gemm alpha Infinity', run: () => gemm(f32([2, 3]), f32([3, 2]), { alpha: Infinity }), expect: ValueError },
  { name: 'gemm beta NaN', run: () => gemm(f32([2, 3]), f32([3, 2]), { out: f32([2, 2]), beta: NaN }), expect: ValueError },
  { name: 'gemm alpha string', run: () => gemm(f32([2, 3]), f32([3, 2]), { alpha: any('2') }), expect: ValueError },
  { name: 'gemm unknown backend', run: () => gemm(f32([2, 3]), f32([3, 2]), { backend: any('mkl') }), expect: ValueError },
  {
    name: 'gemm packed from another B',
    run: () => {
      const p = gemmPackWeights(f32([3, 64]));
      return p ? gemm(f32([2, 3]), f32([3, 64]), { packed: p }) : Promise.reject(new ValueError('no pack'));
    },
    expect: ValueError,
  },
  { name: 'gemm B null', run: () => gemm(f32([2, 3]), any(null)), expect: ValueError },
  { name: 'gemmPackWeights 1-D', run: () => gemmPackWeights(f32([4])), expect: ShapeError },
  { name: 'gemmPackWeights i32', run: () => gemmPackWeights(i32([1, 2, 3, 4], [2, 2])), expect: DTypeError },
  // ---- elementwise ----
  { name: 'gelu i32', run: () => gelu(i32([1, 2])), expect: DTypeError },
  { name: 'gelu of an empty tensor', run: () => gelu(f32([0, 5])), expect: equals([0, 5], []) },
  { name: 'add shape mismatch', run: () => add(f32([2, 3]), f32([3, 2])), expect: ShapeError },
  { name: 'add dtype mismatch', run: () => add(f32([2]), i32([1, 2])), expect: DTypeError },
  { name: 'add empty tensors', run: () => add(f32([0]), f32([0])), expect: equals([0], []) },
  { name: 'addInPlace alpha NaN', run: () => addInPlace(f32([2]), f32([2]), NaN), expect: ValueError },
  { name: 'scale by a string', run: () => scale(f32([2]), any('2')), expect: ValueError },
  { name: 'scale by Infinity is IEEE', run: () => scale(f32([2]), Infinity), expect: equals([2], Infinity) },
  { name: 'addBroadcast wrong vector', run: () => addBroadcast(f32([2, 3]), f32([2])), expect: ShapeError },
  { name: 'rowScale wrong scales', run: () => rowScale(f32([2, 3]), f32([3])), expect: ShapeError },
  { name: 'rowScale empty batch', run: () => rowScale(f32([0, 3]), f32([0])), expect: equals([0, 3], []) },
  { name: 'rowScale 0-d x', run: () => rowScale(f32([]), f32([1])), expect: ShapeError },
  { name: 'dropout p = 1.5', run: () => dropout(f32([4]), 1.5, 1), expect: ValueError },
  { name: 'dropout p negative', run: () => dropout(f32([4]), -0.1, 1), expect: ValueError },
  { name: 'dropout p NaN', run: () => dropout(f32([4]), NaN, 1), expect: ValueError },
  { name: 'dropout fractional seed', run: () => dropout(f32([4]), 0.5, 1.5), expect: ValueError },
  { name: 'sumRows over zero rows', run: () => sumRows(f32([0, 3])), expect: equals([3], 0) },
  { name: 'sumRows of zero columns', run: () => sumRows(f32([3, 0])), expect: equals([0], []) },
  { name: 'sumRows accumulate without out', run: () => sumRows(f32([2, 3]), undefined, true), expect: ValueError },
  { name: 'sumRows out wrong shape', run: () => sumRows(f32([2, 3]), f32([2])), expect: ShapeError },
  { name: 'fill i32', run: () => fill(i32([1, 2]), 0), expect: DTypeError },
  { name: 'fill with a string', run: () => fill(f32([2]), any('0')), expect: ValueError },
  // ---- norm ----
  { name: 'layerNorm D = 0', run: () => layerNormForward(f32([2, 0]), null, null, 1e-6).y, expect: ShapeError },
  { name: 'layerNorm 0 rows', run: () => layerNormForward(f32([0, 4]), null, null, 1e-6).y, expect: equals([0, 4], []) },
  { name: 'layerNorm eps negative', run: () => layerNormForward(f32([2, 4]), null, null, -1).y, expect: ValueError },
  { name: 'layerNorm eps NaN', run: () => layerNormForward(f32([2, 4]), null, null, NaN).y, expect: ValueError },
  { name: 'layerNorm weight wrong length', run: () => layerNormForward(f32([2, 4]), f32([3]), f32([3]), 1e-6).y, expect: ShapeError },
  { name: 'layerNorm weight without bias', run: () => layerNormForward(f32([2, 4]), f32([4]), null, 1e-6).y, expect: ValueError },
  { name: 'layerNorm 0-d x', run: () => layerNormForward(f32([]), null, null, 1e-6).y, expect: ShapeError },
  { name: 'layerNorm i32', run: () => layerNormForward(i32([1, 2]), null, null, 1e-6).y, expect: DTypeError },
  {
    name: 'layerNormBackward mean wrong length',
    run: () => layerNormBackward(f32([2, 4]), f32([2, 4]), f32([3]), f32([2]), null).dx,
    expect: ShapeError,
  },
  // ---- attention ----
  { name: 'attention heads 0', run: () => attentionForward(f32([1, 4, 12]), 0).out, expect: ValueError },
  { name: 'attention heads NaN', run: () => attentionForward(f32([1, 4, 12]), NaN).out, expect: ValueError },
  { name: 'attention heads fractional', run: () => attentionForward(f32([1, 4, 12]), 1.5).out, expect: ValueError },
  { name: 'attention heads not dividing D', run: () => attentionForward(f32([1, 4, 12]), 3).out, expect: ShapeError },
  { name: 'attention qkv 2-D', run: () => attentionForward(f32([4, 12]), 1).out, expect: ShapeError },
  { name: 'attention last dim not 3D', run: () => attentionForward(f32([1, 4, 13]), 1).out, expect: ShapeError },
  { name: 'attention zero tokens', run: () => attentionForward(f32([1, 0, 12]), 2).out, expect: ShapeError },
  {
    name: 'attentionBackward out shape mismatch',
    run: () => attentionBackward(f32([1, 4, 4]), f32([1, 4, 12]), f32([1, 3, 4]), f32([1, 1, 4]), 1),
    expect: ShapeError,
  },
  // ---- loss ----
  {
    name: 'distillLoss unknown kind',
    run: () => distillLoss(f32([2]), f32([2]), null, null, { kind: any('huber') }).loss,
    expect: ValueError,
  },
  { name: 'distillLoss shape mismatch', run: () => distillLoss(f32([2]), f32([3]), null, null, { kind: 'l2' }).loss, expect: ShapeError },
  {
    name: 'distillLoss prediction without target',
    run: () => distillLoss(f32([2]), null, null, null, { kind: 'l2' }).loss,
    expect: ValueError,
  },
  {
    name: 'distillLoss negative beta',
    run: () => distillLoss(f32([2]), f32([2]), null, null, { kind: 'smoothl1', beta: -1 }).loss,
    expect: ValueError,
  },
  {
    name: 'distillLoss weight NaN',
    run: () => distillLoss(f32([2]), f32([2]), null, null, { kind: 'l2', wImg: NaN }).loss,
    expect: ValueError,
  },
  { name: 'distillLoss i32 target', run: () => distillLoss(f32([2]), i32([1, 2]), null, null, { kind: 'l2' }).loss, expect: DTypeError },
  { name: 'mseLoss shape mismatch', run: () => mseLoss(f32([2]), f32([2, 1])).loss, expect: ShapeError },
  // The loss kernels define the mean over no elements as 0 (as a missing pair contributes 0).
  { name: 'mseLoss over no elements', run: () => mseLoss(f32([0]), f32([0])).loss, expect: equals([1], 0) },
  // ---- cross-entropy ----
  { name: 'crossEntropy 1-D logits', run: () => crossEntropy(f32([3]), i32([0])).loss, expect: ShapeError },
  { name: 'crossEntropy label count mismatch', run: () => crossEntropy(f32([2, 3]), i32([0])).loss, expect: ShapeError },
  { name: 'crossEntropy label out of range', run: () => crossEntropy(f32([2, 3]), i32([0, 5])).loss, expect: ValueError },
  { name: 'crossEntropy negative label', run: () => crossEntropy(f32([2, 3]), i32([0, -1])).loss, expect: ValueError },
  { name: 'crossEntropy smoothing 2', run: () => crossEntropy(f32([2, 3]), i32([0, 1]), { labelSmoothing: 2 }).loss, expect: ValueError },
  {
    name: 'crossEntropy smoothing NaN',
    run: () => crossEntropy(f32([2, 3]), i32([0, 1]), { labelSmoothing: NaN }).loss,
    expect: ValueError,
  },
  { name: 'crossEntropy soft targets wrong shape', run: () => crossEntropy(f32([2, 3]), f32([2, 2])).loss, expect: ShapeError },
  { name: 'crossEntropy u8 labels', run: () => crossEntropy(f32([2, 3]), u8([2])).loss, expect: DTypeError },
  { name: 'crossEntropy zero classes', run: () => crossEntropy(f32([2, 0]), i32([0, 0])).loss, expect: ShapeError },
  { name: 'softmax 1-D', run: () => softmax(f32([3])), expect: ShapeError },
  { name: 'topkCorrect k = 0', run: () => topkCorrect(f32([2, 3]), i32([0, 1]), [0]), expect: ValueError },
  { name: 'topkCorrect k NaN', run: () => topkCorrect(f32([2, 3]), i32([0, 1]), [NaN]), expect: ValueError },
  { name: 'topkCorrect ks not an array', run: () => topkCorrect(f32([2, 3]), i32([0, 1]), any(1)), expect: ValueError },
  // ---- optimiser ----
  {
    name: 'adamw list lengths differ',
    run: () =>
      adamw([f32([2])], [], [f32([2])], [f32([2])], { lr: [1e-3], weightDecay: [0], beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 1 }),
    expect: ValueError,
  },
  {
    name: 'adamw lr list short',
    run: () =>
      adamw([f32([2])], [f32([2])], [f32([2])], [f32([2])], { lr: [], weightDecay: [0], beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 1 }),
    expect: ValueError,
  },
  {
    name: 'adamw step 0',
    run: () =>
      adamw([f32([2])], [f32([2])], [f32([2])], [f32([2])], { lr: [1e-3], weightDecay: [0], beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 0 }),
    expect: ValueError,
  },
  {
    name: 'adamw beta1 NaN',
    run: () =>
      adamw([f32([2])], [f32([2])], [f32([2])], [f32([2])], { lr: [1e-3], weightDecay: [0], beta1: NaN, beta2: 0.999, eps: 1e-8, step: 1 }),
    expect: ValueError,
  },
  {
    name: 'adamw grad shape mismatch',
    run: () =>
      adamw([f32([2])], [f32([3])], [f32([2])], [f32([2])], { lr: [1e-3], weightDecay: [0], beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 1 }),
    expect: ShapeError,
  },
  {
    name: 'adamw params not an array',
    run: () =>
      adamw(any(f32([2])), [f32([2])], [f32([2])], [f32([2])], {
        lr: [1e-3],
        weightDecay: [0],
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        step: 1,
      }),
    expect: ValueError,
  },
  { name: 'gradNorm of no tensors', run: () => gradNorm([]), expect: equals([1], 0) },
  { name: 'gradNorm of i32', run: () => gradNorm([i32([1])]), expect: DTypeError },
  { name: 'allFinite of no tensors', run: () => allFinite([]), expect: equals([1], 1) },
  // NaN is passed through, not refused: clipping by a NaN norm must reach the non-finite check.
  {
    name: 'scaleTensors by NaN gives NaN',
    run: () => {
      const x = f32([2]);
      scaleTensors([x], NaN);
      return x;
    },
    expect: equals([2], NaN),
  },
  // ---- tokens ----
  { name: 'patchify kernel 0', run: () => patchify(f32([1, 3, 2, 4, 4]), 0, 2, 2), expect: ValueError },
  { name: 'patchify kernel NaN', run: () => patchify(f32([1, 3, 2, 4, 4]), NaN, 2, 2), expect: ValueError },
  { name: 'patchify kernel fractional', run: () => patchify(f32([1, 3, 2, 4, 4]), 1.5, 2, 2), expect: ValueError },
  { name: 'patchify kernel not dividing', run: () => patchify(f32([1, 3, 2, 4, 4]), 2, 3, 2), expect: ShapeError },
  { name: 'patchify 4-D video', run: () => patchify(f32([3, 2, 4, 4]), 2, 2, 2), expect: ShapeError },
  { name: 'gatherTokens f32 indices', run: () => gatherTokens(f32([1, 4, 2]), f32([1, 2])), expect: DTypeError },
  { name: 'gatherTokens index out of range', run: () => gatherTokens(f32([1, 4, 2]), i32([0, 9], [1, 2])), expect: ValueError },
  { name: 'gatherTokens negative index', run: () => gatherTokens(f32([1, 4, 2]), i32([0, -1], [1, 2])), expect: ValueError },
  { name: 'scatterTokens n negative', run: () => scatterTokens(f32([1, 2, 2]), i32([0, 1], [1, 2]), -1), expect: ValueError },
  { name: 'scatterTokens n NaN', run: () => scatterTokens(f32([1, 2, 2]), i32([0, 1], [1, 2]), NaN), expect: ValueError },
  {
    name: 'placeTokens n below the visible count',
    run: () => placeTokens(f32([1, 2, 2]), i32([0, 1], [1, 2]), f32([2]), 1),
    expect: ShapeError,
  },
  {
    name: 'assembleDecoderInput pos wrong',
    run: () => assembleDecoderInput(f32([1, 1, 2]), i32([0], [1, 1]), i32([1], [1, 1]), f32([2]), f32([2, 3])),
    expect: ShapeError,
  },
  // ---- tables, targets, frames, random, augment ----
  { name: 'sincos3dTable d not divisible', run: () => sincos3dTable(5, 2, 2, 2), expect: ValueError },
  { name: 'sincos3dTable NaN size', run: () => sincos3dTable(12, NaN, 2, 2), expect: ValueError },
  { name: 'sinusoid1dTable negative n', run: () => sinusoid1dTable(-1, 4), expect: ValueError },
  { name: 'sinusoid1dTable huge n', run: () => sinusoid1dTable(2 ** 40, 2 ** 20), expect: ValueError },
  { name: 'sincos2dTable odd d', run: () => sincos2dTable(6, 2), expect: ValueError },
  {
    name: 'videomaePixelTarget 4-D video',
    run: () => videomaePixelTarget(f32([3, 2, 16, 16]), { mean: [0, 0, 0], std: [1, 1, 1] }),
    expect: ShapeError,
  },
  {
    name: 'videomaePixelTarget std 0',
    run: () => videomaePixelTarget(f32([1, 3, 2, 16, 16]), { mean: [0, 0, 0], std: [1, 0, 1] }),
    expect: ValueError,
  },
  {
    name: 'videomaePixelTarget mean too short',
    run: () => videomaePixelTarget(f32([1, 3, 2, 16, 16]), { mean: [0, 0], std: [1, 1, 1] }),
    expect: ValueError,
  },
  { name: 'resizeCrop on f32 frames', run: () => resizeCrop(f32([1, 4, 4, 3]), { x: 0, y: 0, w: 4, h: 4 }, 2, 2), expect: DTypeError },
  { name: 'resizeCrop box outside', run: () => resizeCrop(u8([1, 4, 4, 3]), { x: 2, y: 0, w: 4, h: 4 }, 2, 2), expect: ValueError },
  { name: 'resizeCrop output 0 wide', run: () => resizeCrop(u8([1, 4, 4, 3]), { x: 0, y: 0, w: 4, h: 4 }, 2, 0), expect: ValueError },
  { name: 'resizeCrop box NaN', run: () => resizeCrop(u8([1, 4, 4, 3]), { x: NaN, y: 0, w: 4, h: 4 }, 2, 2), expect: ValueError },
  { name: 'flipFrames 2-D', run: () => flipFrames(u8([4, 4])), expect: ShapeError },
  { name: 'framesToClip std 0', run: () => framesToClip(u8([1, 2, 2, 2, 3]), [0, 0, 0], [1, 0, 1]), expect: ValueError },
  { name: 'framesToClip mean wrong length', run: () => framesToClip(u8([1, 2, 2, 2, 3]), [0], [1, 1, 1]), expect: ValueError },
  { name: 'randomFill i32', run: () => randomFill(i32([1, 2]), { dist: 'uniform', a: 0, b: 1 }, 1, 0), expect: DTypeError },
  { name: 'randomFill unknown dist', run: () => randomFill(f32([2]), any({ dist: 'cauchy' }), 1, 0), expect: ValueError },
  { name: 'randomFill negative std', run: () => randomFill(f32([2]), { dist: 'normal', std: -1 }, 1, 0), expect: ValueError },
  { name: 'randomFill uniform a > b', run: () => randomFill(f32([2]), { dist: 'uniform', a: 1, b: 0 }, 1, 0), expect: ValueError },
  { name: 'randomFill NaN seed', run: () => randomFill(f32([2]), { dist: 'uniform', a: 0, b: 1 }, NaN, 0), expect: ValueError },
  { name: 'randomFill negative stream', run: () => randomFill(f32([2]), { dist: 'uniform', a: 0, b: 1 }, 1, -1), expect: ValueError },
  { name: 'mixBatch lambda 2', run: () => mixBatch(f32([2, 3, 1, 2, 2]), 2), expect: ValueError },
  { name: 'mixBatch box outside', run: () => mixBatch(f32([2, 3, 1, 2, 2]), 0.5, { y0: 0, y1: 5, x0: 0, x1: 1 }), expect: ValueError },
  {
    name: 'randomErase rect outside',
    run: () => randomErase(f32([1, 3, 1, 4, 4]), [{ clip: 0, top: 3, left: 0, h: 4, w: 2, seed: 1 }]),
    expect: ValueError,
  },
  {
    name: 'randomErase clip index out of range',
    run: () => randomErase(f32([1, 3, 1, 4, 4]), [{ clip: 3, top: 0, left: 0, h: 1, w: 1, seed: 1 }]),
    expect: ValueError,
  },
  // ---- devices ----
  { name: 'a CUDA tensor where none exists', run: () => Tensor.empty([2], { device: 'cuda:63' }), expect: DeviceError },
];

/** Runs one case; its queued work is awaited too, so a failure inside a kernel counts. */
export async function runMisuseCase(c: MisuseCase): Promise<{ ok: boolean; detail: string }> {
  let result: unknown;
  let error: unknown;
  try {
    result = await c.run();
    await sync();
  } catch (e) {
    error = e;
  }
  // A sticky failure left by this case would be reported by the next one: clear it here.
  await sync().catch(() => undefined);
  const expectsError = typeof c.expect === 'function' && c.expect.prototype instanceof MvdError;
  if (expectsError) {
    const cls = c.expect as ErrorClass;
    if (error instanceof cls) return { ok: true, detail: '' };
    if (error === undefined) return { ok: false, detail: `no error, expected ${cls.name}` };
    return { ok: false, detail: `expected ${cls.name}, got ${(error as Error)?.name}: ${(error as Error)?.message}` };
  }
  if (error !== undefined) return { ok: false, detail: `unexpected ${(error as Error)?.name}: ${(error as Error)?.message}` };
  try {
    const verdict = await (c.expect as (r: unknown) => Promise<true | string>)(result);
    return verdict === true ? { ok: true, detail: '' } : { ok: false, detail: verdict };
  } catch (e) {
    return { ok: false, detail: `check threw ${(e as Error)?.name}: ${(e as Error)?.message}` };
  }
}
