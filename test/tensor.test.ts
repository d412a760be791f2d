import t from 'tap';
import { Tensor, DisposedError, ShapeError, ValueError, DTypeError, buildInfo, gpuInfo } from '../lib/index.js';
import { addon } from '../lib/native.js';

t.test('round trip of every dtype', async (t) => {
  const f = Tensor.fromArray(new Float32Array([1.5, -2, 3, 4, 5, 6]), [2, 3]);
  t.same(f.shape, [2, 3]);
  t.equal(f.dtype, 'f32');
  t.equal(f.device, 'cpu');
  t.same(Array.from(await f.toArray()), [1.5, -2, 3, 4, 5, 6]);
  const u = Tensor.fromArray(new Uint8Array([0, 255, 7]), [3]);
  t.equal(u.dtype, 'u8');
  t.same(Array.from(await u.toArray()), [0, 255, 7]);
  const i = Tensor.fromArray(new Int32Array([-1, 2 ** 30]), [2]);
  t.same(Array.from(i.toArraySync()), [-1, 2 ** 30]);
  const b = Tensor.fromArray(new Uint16Array([0x3f80]), [1]);
  t.equal(b.dtype, 'bf16');
  for (const x of [f, u, i, b]) x.dispose();
});

t.test('views share storage without copies and survive the base being disposed', async (t) => {
  const base = Tensor.fromArray(
    Float32Array.from({ length: 12 }, (_, i) => i),
    [4, 3],
  );
  const rows = base.slice(1, 3);
  t.same(rows.shape, [2, 3]);
  t.same(Array.from(await rows.toArray()), [3, 4, 5, 6, 7, 8]);
  const flat = rows.reshape([-1]);
  t.same(flat.shape, [6]);
  base.dispose();
  t.same(Array.from(await flat.toArray()), [3, 4, 5, 6, 7, 8], 'a view keeps the storage alive');
  t.throws(() => base.reshape([12]), DisposedError);
  await t.rejects(base.toArray(), DisposedError);
  t.throws(() => rows.reshape([5]), ShapeError);
  t.throws(() => rows.slice(2, 5), ShapeError);
  rows.dispose();
  flat.dispose();
});

t.test('using releases at scope end; memory is accounted', (t) => {
  const before = addon().liveBytes();
  {
    using x = Tensor.zeros([256, 256]);
    t.equal(addon().liveBytes() - before, 256 * 256 * 4);
    t.equal(x.toArraySync()[1000], 0);
  }
  t.equal(addon().liveBytes(), before, 'freed deterministically, not by the GC');
  t.end();
});

t.test('clone is a queued copy', async (t) => {
  const a = Tensor.fromArray(new Float32Array([1, 2, 3]), [3]);
  const c = a.clone();
  a.dispose();
  t.same(Array.from(await c.toArray()), [1, 2, 3]);
  c.dispose();
});

t.test('bad input gives typed errors naming the op', (t) => {
  t.throws(() => Tensor.fromArray(new Float32Array(5), [2, 3]), ShapeError);
  t.throws(() => Tensor.fromArray([1, 2] as unknown as Float32Array, [2]), ValueError);
  t.throws(() => Tensor.empty([2], { device: 'tpu' }), ValueError);
  t.throws(() => Tensor.empty([2], { dtype: 'f64' as never }), DTypeError);
  try {
    Tensor.empty([-1]);
    t.fail('negative dimension accepted');
  } catch (e) {
    t.ok(e instanceof ShapeError);
    t.equal((e as ShapeError).op, 'empty');
  }
  t.end();
});

t.test('build facts and gpuInfo never throw', (t) => {
  const b = buildInfo();
  t.match(b.gemmBackend, /^(onednn|portable)$/);
  t.equal(typeof b.cudaCompiled, 'boolean');
  const g = gpuInfo();
  t.ok(Array.isArray(g.devices));
  if (g.devices.length === 0) t.ok(g.reason.length > 0, `reason given: ${g.reason}`);
  t.end();
});

t.test('a cuda tensor without a usable device is a DeviceError', (t) => {
  if (gpuInfo().devices.length > 0) return t.end();
  t.throws(() => Tensor.empty([2], { device: 'cuda:0' }), { name: 'DeviceError' });
  t.end();
});

t.test('assign copies into an existing view', async (t) => {
  const dst = Tensor.zeros([6]);
  const src = Tensor.fromArray(new Float32Array([7, 8]), [2]);
  dst.slice(2, 4).assign(src);
  t.same(Array.from(await dst.toArray()), [0, 0, 7, 8, 0, 0]);
  t.throws(() => dst.assign(src), ShapeError);
  t.throws(() => dst.slice(0, 2).assign(Tensor.fromArray(new Int32Array(2), [2]) as never), DTypeError);
  dst.dispose();
  src.dispose();
});
