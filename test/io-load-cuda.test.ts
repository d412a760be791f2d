// Loading onto a CUDA device: each tensor is read from the file into host memory once and uploaded
// on the device's queue (native readFileRanges). The bytes on the device are the file's, an op
// queued right after the load sees them, and writing to a loaded tensor leaves the file alone.
// Runs in a child on the emulated addon (or a real GPU: helpers/cuda-child.ts).
import { fileURLToPath } from 'node:url';
import { childChecks, isCudaChild, runInCudaChild } from './helpers/cuda-child.js';

const here = fileURLToPath(import.meta.url);

async function child(): Promise<void> {
  const { mkdtempSync, readFileSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const lib = await import('../lib/index.js');
  const { loadSafetensors, readSafetensorsHeader } = await import('../lib/io/safetensors.js');
  const { joinSafetensors } = await import('./helpers/safetensors-bytes.js');
  const dev = 'cuda:0';
  await childChecks(async (check) => {
    const p = join(mkdtempSync(join(tmpdir(), 'mvd-io-cuda-')), 'odd.safetensors');
    // A 3-byte u8 tensor first: the f32 and i32 data then sit at odd file offsets.
    const f32 = Float32Array.from({ length: 24 }, (_, i) => (i - 11.5) / 3);
    const data = Buffer.concat([Buffer.from([9, 8, 7]), Buffer.from(f32.buffer), Buffer.from(Int32Array.of(-5, 6).buffer)]);
    writeFileSync(
      p,
      joinSafetensors(
        {
          a: { dtype: 'U8', shape: [3], data_offsets: [0, 3] },
          b: { dtype: 'F32', shape: [4, 6], data_offsets: [3, 99] },
          c: { dtype: 'I32', shape: [2], data_offsets: [99, 107] },
        },
        data,
      ),
    );
    const before = readFileSync(p);
    const h = await readSafetensorsHeader(p);
    const { tensors } = await loadSafetensors(p, { device: dev });
    for (const [name, e] of h.tensors) {
      const x = tensors.get(name)!;
      const got = await x.toArray();
      const want = before.subarray(h.dataStart + e.begin, h.dataStart + e.end);
      check(
        `${name}: on ${dev} with the file's bytes`,
        x.device === dev && Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(want),
        `device ${x.device}, ${got.byteLength} bytes vs ${want.length}`,
      );
    }
    // An op queued straight after the load must run after the upload.
    const b = tensors.get('b') as import('../lib/tensor.js').Tensor<'f32'>;
    using doubled = lib.scale(b, 2);
    const d = await doubled.toArray();
    check(
      'an op queued after the load sees the uploaded values',
      d.every((v, i) => v === 2 * f32[i]),
      `first ${d[0]} vs ${2 * f32[0]}`,
    );
    using zeros = lib.Tensor.zeros([4, 6], { device: dev });
    b.assign(zeros);
    check(
      'the loaded tensor was overwritten',
      (await b.toArray()).every((v: number) => v === 0),
    );
    check('the file is byte-identical', readFileSync(p).equals(before));
    for (const x of tensors.values()) x.dispose();

    // loadWeights reads onto the model's device: the parameters end up there with the file's bytes.
    const { videoVit } = await import('../lib/nn/config.js');
    const { VisionTransformer } = await import('../lib/nn/encoder.js');
    const { loadWeights, saveWeights } = await import('../lib/io/checkpoint.js');
    const cfg = videoVit('tiny', { frames: 4, size: 32 });
    const wp = join(p, '..', 'enc.safetensors');
    {
      using src = new VisionTransformer(cfg, { finalNorm: true, seed: 2 });
      await saveWeights(wp, src);
    }
    const file = readFileSync(wp);
    const wh = await readSafetensorsHeader(wp);
    lib.setDefaultDevice(dev);
    let m: InstanceType<typeof VisionTransformer>;
    try {
      m = new VisionTransformer(cfg, { finalNorm: true, init: 'none' });
    } finally {
      lib.setDefaultDevice('cpu');
    }
    await loadWeights(wp, m);
    let wrong = '';
    for (const [name, prm] of m.namedParameters()) {
      if (!prm.trainable) continue;
      const e = wh.tensors.get(name)!;
      const got = await prm.value.toArray();
      if (
        prm.value.device !== dev ||
        !Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(file.subarray(wh.dataStart + e.begin, wh.dataStart + e.end))
      )
        wrong ||= `${name} on ${prm.value.device}`;
    }
    check(`loadWeights into a model on ${dev}: every parameter there, with the file's bytes`, wrong === '', wrong);
    m.dispose();

    // Key mapping on the model's device: VideoMAE's q_bias + v_bias joined into a timm-style qkv.bias.
    lib.setDefaultDevice(dev);
    let timm: InstanceType<typeof VisionTransformer>;
    try {
      timm = new VisionTransformer({ ...cfg, qkvBias: 'qkv' }, { finalNorm: true, init: 'none' });
    } finally {
      lib.setDefaultDevice('cpu');
    }
    await loadWeights(wp, timm);
    const qkv = timm.namedParameters().find(([n]) => n === 'blocks.0.attn.qkv.bias')![1].value;
    const e = wh.tensors.get('blocks.0.attn.q_bias')!,
      ev = wh.tensors.get('blocks.0.attn.v_bias')!;
    const floatsOf = (x: { begin: number; end: number }) =>
      new Float32Array(file.buffer.slice(file.byteOffset + wh.dataStart + x.begin, file.byteOffset + wh.dataStart + x.end));
    const want = [...floatsOf(e), ...new Array(e.end / 4 - e.begin / 4).fill(0), ...floatsOf(ev)];
    const got = Array.from(await qkv.toArray());
    check(
      `q_bias + v_bias joined into qkv.bias on ${dev}`,
      qkv.device === dev && got.length === want.length && got.every((v, i) => v === want[i]),
      `device ${qkv.device}, ${got.length} vs ${want.length} values`,
    );
    timm.dispose();
  });
}

if (isCudaChild) await child();
else await runInCudaChild(here, 'safetensors load onto cuda:0: the file bytes, in queue order, file untouched');
