import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '../lib/index.js';
import { loadSafetensors, saveSafetensors, SafetensorsError, readSafetensorsHeader } from '../lib/io/safetensors.js';
import { joinSafetensors } from './helpers/safetensors-bytes.js';

const dir = mkdtempSync(join(tmpdir(), 'mvd-st-'));

const raw = joinSafetensors;

t.test('round trip of every dtype with metadata', async (t) => {
  const p = join(dir, 'a.safetensors');
  const w = Tensor.fromArray(
    Float32Array.from({ length: 6 }, (_, i) => i - 2.5),
    [2, 3],
  );
  const b = Tensor.fromArray(new Uint16Array([0x3f80, 0xc000]), [2]);
  const u = Tensor.fromArray(new Uint8Array([1, 2, 3]), [3]);
  const i = Tensor.fromArray(new Int32Array([-7]), [1, 1]);
  await saveSafetensors(p, { 'blocks.0.attn.qkv.weight': w, bf: b, u8: u, idx: i }, { format: 'pt', note: 'x' });
  const h = await readSafetensorsHeader(p);
  t.equal(h.dataStart % 8, 0, 'data aligned');
  const { tensors, metadata } = await loadSafetensors(p);
  t.same(metadata, { format: 'pt', note: 'x' });
  t.same([...tensors.keys()].sort(), ['bf', 'blocks.0.attn.qkv.weight', 'idx', 'u8']);
  t.same(tensors.get('blocks.0.attn.qkv.weight')!.shape, [2, 3]);
  t.same(Array.from(await tensors.get('blocks.0.attn.qkv.weight')!.toArray()), [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5]);
  t.same(Array.from(await tensors.get('bf')!.toArray()), [0x3f80, 0xc000]);
  t.equal(tensors.get('bf')!.dtype, 'bf16');
  t.same(Array.from(await tensors.get('idx')!.toArray()), [-7]);
  const only = await loadSafetensors(p, { filter: (n) => n === 'u8' });
  t.same([...only.tensors.keys()], ['u8']);
});

t.test('a file written by Python safetensors layout (hand-built) loads', async (t) => {
  const p = join(dir, 'py.safetensors');
  const data = new Float32Array([1, 2, 3, 4]);
  writeFileSync(
    p,
    raw({ __metadata__: { format: 'pt' }, x: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] } }, new Uint8Array(data.buffer)),
  );
  const { tensors } = await loadSafetensors(p);
  t.same(Array.from(await tensors.get('x')!.toArray()), [1, 2, 3, 4]);
});

t.test('corrupt files are clear errors, never out-of-bounds reads', async (t) => {
  const good = readFileSync(join(dir, 'a.safetensors'));
  const cases: [string, Buffer, RegExp][] = [
    ['empty', Buffer.alloc(0), /too short/],
    ['truncated data', good.subarray(0, good.length - 3), /truncated/],
    ['truncated header', good.subarray(0, 20), /exceeds the 12 bytes after the length field/],
    ['huge header length', Buffer.concat([Buffer.from([255, 255, 255, 255, 255, 255, 255, 127]), Buffer.alloc(16)]), /exceeds/],
    ['not json', raw({}, new Uint8Array()).fill(0x41, 8), /not valid JSON/],
    [
      'lying size',
      raw({ x: { dtype: 'F32', shape: [4], data_offsets: [0, 8] } }, new Uint8Array(16)),
      /'x' spans 8 bytes \[0, 8\) but F32 \[4\] needs 16/,
    ],
    [
      'offset past end',
      raw({ x: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(12)),
      /'x' ends at byte 16 of the data but the file holds only 12/,
    ],
    [
      'overlap',
      raw(
        { x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, y: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } },
        new Uint8Array(16),
      ),
      /'y' begins at byte 4 of the data, inside 'x' which ends at 8/,
    ],
    [
      'gap',
      raw(
        { x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, y: { dtype: 'F32', shape: [2], data_offsets: [12, 20] } },
        new Uint8Array(20),
      ),
      /'y' begins at byte 12 of the data but 'x' ends at 8/,
    ],
    [
      'not from 0',
      raw({ x: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12)),
      /'x' begins at byte 4 of the data but the data starts at 0/,
    ],
    [
      'trailing bytes',
      raw({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(9)),
      /cover 8 bytes \(the last, 'x', ends there\) but the data section is 9/,
    ],
    ['reversed offsets', raw({ x: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, new Uint8Array(8)), /begin 8 is after end 0/],
    [
      'metadata not strings',
      raw({ __metadata__: { epoch: 3 }, x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)),
      /__metadata__ 'epoch' is 3, expected a string/,
    ],
    ['header is an array', raw([], new Uint8Array()), /header is an array/],
    ['f16', raw({ x: { dtype: 'F16', shape: [2], data_offsets: [0, 4] } }, new Uint8Array(4)), /convert F16/],
    ['bad shape', raw({ x: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)), /invalid shape/],
  ];
  for (const [name, bytes, re] of cases) {
    const p = join(dir, `bad-${name.replace(/ /g, '-')}.safetensors`);
    writeFileSync(p, bytes);
    await t.rejects(loadSafetensors(p), SafetensorsError, name);
    await t.rejects(loadSafetensors(p), { message: re }, name);
  }
});
