// Loading reads each tensor's bytes from the file straight into its own storage (native
// readFileRanges): the loaded bytes are exactly the file's, writing to a loaded tensor or to a
// parameter that adopted one never reaches the file, and the reader's edges (a file that shrank
// after its header was read, an unreadable descriptor, malformed ranges) are typed errors.
import t from 'tap';
import { closeSync, mkdtempSync, openSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor, DTypeError, DeviceError, NativeError, ValueError } from '../lib/index.js';
import { addon } from '../lib/native.js';
import { videoVit } from '../lib/nn/config.js';
import { VisionTransformer } from '../lib/nn/encoder.js';
import { loadWeights, saveWeights } from '../lib/io/checkpoint.js';
import { SafetensorsError, loadSafetensors, readSafetensorsHeader } from '../lib/io/safetensors.js';
import { joinSafetensors } from './helpers/safetensors-bytes.js';

const dir = mkdtempSync(join(tmpdir(), 'mvd-io-load-'));

/** Deterministic bytes (a 32-bit LCG): any pattern, NaN payloads included, must come back unchanged. */
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

const asBytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

// A 3-byte u8 tensor first puts every later tensor at an odd file offset; an empty one sits between.
const LAYOUT: [string, string, number[], number][] = [
  ['a_u8', 'U8', [3], 1],
  ['b_f32', 'F32', [2, 5], 4],
  ['c_empty', 'F32', [0, 4], 4],
  ['d_bf16', 'BF16', [7], 2],
  ['e_i32', 'I32', [3], 4],
];

function writeOddFile(path: string): void {
  const header: Record<string, object> = {};
  let off = 0;
  for (const [name, dtype, shape, size] of LAYOUT) {
    const n = shape.reduce((a, b) => a * b, 1) * size;
    header[name] = { dtype, shape, data_offsets: [off, off + n] };
    off += n;
  }
  writeFileSync(path, joinSafetensors(header, bytes(off, 7)));
}

t.test('each loaded tensor holds exactly its bytes of the file, at any alignment', async (t) => {
  const p = join(dir, 'odd.safetensors');
  writeOddFile(p);
  const file = readFileSync(p);
  const h = await readSafetensorsHeader(p);
  t.equal(h.dataStart % 2, 1, 'the data section starts at an odd offset');
  const { tensors } = await loadSafetensors(p);
  t.same(
    [...tensors.keys()].sort(),
    LAYOUT.map(([n]) => n),
  );
  for (const [name, e] of h.tensors) {
    const x = tensors.get(name)!;
    t.same(x.shape, e.shape, `${name}: shape`);
    t.equal(x.dtype, e.dtype, `${name}: dtype`);
    const got = asBytes(await x.toArray());
    const want = file.subarray(h.dataStart + e.begin, h.dataStart + e.end);
    t.equal(got.length, want.length, `${name}: ${want.length} bytes`);
    t.ok(Buffer.from(got).equals(want), `${name}: the file's bytes, unchanged`);
    x.dispose();
  }
});

t.test('writing to a loaded tensor does not change the file', async (t) => {
  const p = join(dir, 'odd.safetensors');
  const before = readFileSync(p);
  const { tensors } = await loadSafetensors(p);
  const f = tensors.get('b_f32') as Tensor<'f32'>;
  using zeros = Tensor.zeros([2, 5]);
  f.assign(zeros);
  t.same(Array.from(await f.toArray()), new Array(10).fill(0), 'the tensor was overwritten');
  const u = tensors.get('a_u8') as Tensor<'u8'>;
  using ones = Tensor.fromArray(new Uint8Array([1, 1, 1]), [3]);
  u.assign(ones);
  t.same(Array.from(await u.toArray()), [1, 1, 1]);
  t.ok(readFileSync(p).equals(before), 'the file is byte-identical');
  const again = await loadSafetensors(p, { filter: (n) => n === 'b_f32' });
  const h = await readSafetensorsHeader(p);
  const e = h.tensors.get('b_f32')!;
  t.ok(
    Buffer.from(asBytes(await again.tensors.get('b_f32')!.toArray())).equals(before.subarray(h.dataStart + e.begin, h.dataStart + e.end)),
    'a second load reads the original values',
  );
  for (const x of [...tensors.values(), ...again.tensors.values()]) x.dispose();
});

t.test('parameters that adopted loaded tensors hold the file bytes, and writing them leaves the file alone', async (t) => {
  const p = join(dir, 'enc.safetensors');
  const cfg = videoVit('tiny', { frames: 4, size: 32 });
  {
    using src = new VisionTransformer(cfg, { finalNorm: true, seed: 3 });
    await saveWeights(p, src);
  }
  const before = readFileSync(p);
  const h = await readSafetensorsHeader(p);
  using m = new VisionTransformer(cfg, { finalNorm: true, init: 'none' });
  await loadWeights(p, m);
  let checked = 0;
  for (const [name, prm] of m.namedParameters()) {
    if (!prm.trainable) continue;
    const e = h.tensors.get(name)!;
    if (!Buffer.from(asBytes(await prm.value.toArray())).equals(before.subarray(h.dataStart + e.begin, h.dataStart + e.end))) {
      t.fail(`${name} differs from the file`);
      continue;
    }
    checked++;
    using z = Tensor.zeros(prm.value.shape);
    prm.value.assign(z);
  }
  t.equal(checked, m.namedParameters().filter(([, prm]) => prm.trainable).length, `all ${checked} parameters equal the file's bytes`);
  const w = m.namedParameters().find(([n]) => n === 'blocks.0.attn.qkv.weight')![1].value;
  t.equal(
    (await w.toArray()).every((v) => v === 0),
    true,
    'the parameters were overwritten',
  );
  t.ok(readFileSync(p).equals(before), 'the file is byte-identical');
});

t.test('a file that shrinks after its header was read is a SafetensorsError naming the tensor', async (t) => {
  const p = join(dir, 'shrinks.safetensors');
  writeOddFile(p);
  const size = statSync(p).size;
  // The filter runs after the header is validated and before any data is read: the same moment
  // another process could truncate the file.
  const shrink = (name: string) => {
    if (name === 'a_u8') truncateSync(p, size - 5);
    return true;
  };
  await t.rejects(loadSafetensors(p, { filter: shrink }), SafetensorsError);
  writeOddFile(p);
  await t.rejects(
    loadSafetensors(p, { filter: shrink }),
    /file ended inside tensor 'e_i32' \(bytes \d+–\d+ of the data; it was \d+ bytes when opened\)/,
  );
});

t.test('readFileRanges: short reads, unreadable descriptors and malformed ranges', async (t) => {
  const p = join(dir, 'odd.safetensors');
  const size = statSync(p).size;
  const fh = await open(p, 'r');
  try {
    const full = await addon().readFileRanges(
      fh.fd,
      [
        { offset: 0, shape: [8], dtype: 'u8' },
        { offset: size - 4, shape: [1], dtype: 'i32' },
      ],
      'cpu',
    );
    t.equal(full.endedAt, -1, 'ranges inside the file: complete');
    t.equal(full.tensors.length, 2);
    for (const d of full.tensors) Tensor.fromNative(d).dispose();
    const short = await addon().readFileRanges(
      fh.fd,
      [
        { offset: 0, shape: [8], dtype: 'u8' },
        { offset: size - 2, shape: [1], dtype: 'f32' },
      ],
      'cpu',
    );
    t.same(short, { endedAt: 1, tensors: [] }, 'the file ends inside range 1: its index, no tensors');
    const past = await addon().readFileRanges(fh.fd, [{ offset: size + 100, shape: [1], dtype: 'u8' }], 'cpu');
    t.equal(past.endedAt, 0, 'a range past the end');
    t.throws(() => addon().readFileRanges(fh.fd, [{ offset: 0, shape: [2], dtype: 'f64' }], 'cpu'), DTypeError);
    t.throws(() => addon().readFileRanges(fh.fd, [{ offset: -1, shape: [2], dtype: 'u8' }], 'cpu'), ValueError);
    t.throws(() => addon().readFileRanges(fh.fd, [{ offset: 0, shape: [-2], dtype: 'u8' }], 'cpu'), /shape/);
    t.throws(() => addon().readFileRanges(fh.fd, [{ offset: 0, shape: [2], dtype: 'u8' }], 'tpu'), DeviceError);
    t.throws(() => addon().readFileRanges(-1, [], 'cpu'), ValueError);
  } finally {
    await fh.close();
  }
  // A directory opens but cannot be read: the OS's reason comes back as a typed error.
  const dfd = openSync(dir, 'r');
  try {
    await t.rejects(addon().readFileRanges(dfd, [{ offset: 0, shape: [4], dtype: 'u8' }], 'cpu'), NativeError);
    await t.rejects(
      addon().readFileRanges(dfd, [{ offset: 0, shape: [4], dtype: 'u8' }], 'cpu'),
      /readFileRanges.*at file offset 0 failed: Is a directory/,
    );
  } finally {
    closeSync(dfd);
  }
});
