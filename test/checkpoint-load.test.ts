// The hostile tester's cases (project issue 17): each used to load silently wrong and exit 0. Each
// is now a typed error naming the file, the key and both sides, and leaves the model untouched.
import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor, DTypeError, ShapeError, ValueError, type MvdError } from '../lib/index.js';
import { videoVit } from '../lib/nn/config.js';
import { VisionTransformer } from '../lib/nn/encoder.js';
import { VideoClassifier } from '../lib/nn/classifier.js';
import { loadWeights, saveWeights, stateDict } from '../lib/io/checkpoint.js';
import { SafetensorsError, saveSafetensors } from '../lib/io/safetensors.js';
import type { Module } from '../lib/nn/module.js';
import { f32ByteOffset, joinSafetensors, shiftHeaderLength, splitSafetensors } from './helpers/safetensors-bytes.js';

const dir = mkdtempSync(join(tmpdir(), 'mvd-ckload-'));
// The tiny preset: dim 128, so the qkv weight is [384,128] as in the issue.
const cfg = () => videoVit('tiny', { frames: 2, size: 32 });
const encoder = (seed: number) => new VisionTransformer(cfg(), { finalNorm: true, seed });
const source = encoder(1);
const good = join(dir, 'good.safetensors');
await saveWeights(good, source);
const goodBytes = readFileSync(good);

/** Every parameter's bytes, in order: equal snapshots = bit-identical weights. */
function snapshot(m: Module): Buffer {
  return Buffer.concat(
    [...stateDict(m).values()].map((v) => {
      const a = v.toArraySync();
      return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    }),
  );
}

function edited(edit: (raw: ReturnType<typeof splitSafetensors>) => void): Buffer {
  const raw = splitSafetensors(goodBytes);
  raw.data = Buffer.from(raw.data);
  edit(raw);
  return joinSafetensors(raw.header, raw.data);
}

async function bf16Weight(): Promise<Buffer> {
  const sd = new Map(stateDict(source));
  using w = Tensor.zeros([128, 128], { dtype: 'bf16' });
  sd.set('blocks.0.attn.proj.weight', w);
  const p = join(dir, 'bf16.safetensors');
  await saveSafetensors(p, sd);
  return readFileSync(p);
}

const cases: [string, () => Buffer | Promise<Buffer>, new (...a: never[]) => MvdError, RegExp][] = [
  [
    'transposed weight: [128,384] stored for [384,128]',
    () =>
      edited((r) => {
        r.header['blocks.0.attn.qkv.weight'].shape = [128, 384];
      }),
    ShapeError,
    /blocks\.0\.attn\.qkv\.weight: \[128,384\] vs \[384,128\]/,
  ],
  [
    'weight relabelled I32 (same bytes)',
    () =>
      edited((r) => {
        r.header['blocks.0.attn.proj.weight'].dtype = 'I32';
      }),
    DTypeError,
    /blocks\.0\.attn\.proj\.weight: i32 vs f32/,
  ],
  ['weight stored as BF16 with the right shape', bf16Weight, DTypeError, /blocks\.0\.attn\.proj\.weight: bf16 vs f32/],
  [
    'weight relabelled BF16 over f32 bytes',
    () =>
      edited((r) => {
        r.header['blocks.0.attn.proj.weight'].dtype = 'BF16';
      }),
    SafetensorsError,
    /'blocks\.0\.attn\.proj\.weight' spans 65536 bytes .* but BF16 \[128,128\] needs 32768/,
  ],
  ['header length one byte short', () => shiftHeaderLength(goodBytes, -1), SafetensorsError, /header|data section/],
  ['header length one byte long', () => shiftHeaderLength(goodBytes, 1), SafetensorsError, /header|data section/],
  [
    'NaN in a weight',
    () =>
      edited((r) => {
        r.data.writeFloatLE(NaN, f32ByteOffset(r, 'blocks.0.mlp.fc1.weight', 77));
      }),
    ValueError,
    /'blocks\.0\.mlp\.fc1\.weight' \[512,128\] holds NaN or Inf/,
  ],
  [
    'Inf in a bias',
    () =>
      edited((r) => {
        r.data.writeFloatLE(-Infinity, f32ByteOffset(r, 'blocks.3.mlp.fc2.bias', 0));
      }),
    ValueError,
    /'blocks\.3\.mlp\.fc2\.bias' \[128\] holds NaN or Inf/,
  ],
  [
    'backbone weight missing',
    async () => {
      const sd = new Map(stateDict(source));
      sd.delete('blocks.2.norm1.weight');
      const p = join(dir, 'missing.safetensors');
      await saveSafetensors(p, sd);
      return readFileSync(p);
    },
    ValueError,
    /1 missing \(blocks\.2\.norm1\.weight\)/,
  ],
  [
    'reference qkv.bias that cannot split into q/k/v',
    async () => {
      const sd = new Map(stateDict(source));
      sd.delete('blocks.0.attn.q_bias');
      sd.delete('blocks.0.attn.v_bias');
      using odd = Tensor.zeros([383]);
      sd.set('blocks.0.attn.qkv.bias', odd);
      const p = join(dir, 'odd-bias.safetensors');
      await saveSafetensors(p, sd);
      return readFileSync(p);
    },
    ShapeError,
    /'blocks\.0\.attn\.qkv\.bias' is \[383\], expected one dimension divisible by 3/,
  ],
];

for (const [name, make, Cls, re] of cases) {
  t.test(name, async (t) => {
    const p = join(dir, `${name.replace(/\W+/g, '-')}.safetensors`);
    writeFileSync(p, await make());
    using m = encoder(2);
    const before = snapshot(m);
    const err = await loadWeights(p, m).then(
      () => null,
      (e: unknown) => e,
    );
    t.ok(err instanceof Cls, `${Cls.name}, got ${err}`);
    t.match((err as Error).message, re);
    t.match((err as Error).message, p, 'names the file');
    t.ok(snapshot(m).equals(before), 'the model is untouched');
  });
}

t.test('the untouched file loads bit-identical', async (t) => {
  using m = encoder(2);
  const rep = await loadWeights(good, m, { strict: true });
  t.equal(rep.loaded.length, m.parameters().filter((p) => p.trainable).length);
  t.ok(snapshot(m).equals(snapshot(source)));
});

t.test('a partial load is asked for by name; the rest must still fit', async (t) => {
  const classifier = () => new VideoClassifier(cfg(), { numClasses: 5, seed: 3 });
  {
    using c = classifier();
    const err = await loadWeights(good, c).then(
      () => null,
      (e: unknown) => e,
    );
    t.ok(err instanceof ValueError && /missing \(.*fc_norm\.weight.*head\.weight/.test(err.message), `head and fc_norm missing: ${err}`);
  }
  using c = classifier();
  const freshHead = stateDict(c).get('head.weight')!.toArraySync();
  const rep = await loadWeights(good, c, { mayStayFresh: ['head.', 'fc_norm.'] });
  t.ok(rep.missing.includes('head.weight') && rep.loaded.includes('blocks.0.attn.qkv.weight'));
  t.same(stateDict(c).get('head.weight')!.toArraySync(), freshHead, 'head kept its initialisation');
  t.same(stateDict(c).get('blocks.1.mlp.fc1.weight')!.toArraySync(), stateDict(source).get('blocks.1.mlp.fc1.weight')!.toArraySync());

  // A head of another class count stays fresh too, but a backbone mismatch is still an error.
  const ft = join(dir, 'finetuned.safetensors');
  using other = new VideoClassifier(cfg(), { numClasses: 7, seed: 4 });
  await saveWeights(ft, other);
  const rep2 = await loadWeights(ft, c, { mayStayFresh: ['head.'] });
  t.same(rep2.mismatched.map((x) => x.name).sort(), ['head.bias', 'head.weight']);
  const bad = join(dir, 'finetuned-bad.safetensors');
  const raw = splitSafetensors(readFileSync(ft));
  raw.header['blocks.0.attn.qkv.weight'].shape = [128, 384];
  writeFileSync(bad, joinSafetensors(raw.header, raw.data));
  await t.rejects(loadWeights(bad, c, { mayStayFresh: ['head.'] }), ShapeError);
});

t.test('strict: keys the model lacks are an error', async (t) => {
  const p = join(dir, 'extra.safetensors');
  using extra = Tensor.zeros([3]);
  await saveSafetensors(p, new Map([...stateDict(source), ['decoder.extra', extra]]));
  using m = encoder(2);
  await t.rejects(loadWeights(p, m, { strict: true }), { name: 'ValueError', message: /1 unexpected \(decoder\.extra\)/ });
  const rep = await loadWeights(p, m);
  t.same(rep.unexpected, ['decoder.extra'], 'allowed without strict (pretraining checkpoints carry decoders)');
});

t.teardown(() => source.dispose());
