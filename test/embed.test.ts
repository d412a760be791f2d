// The embedding API against an independent float64 ViT: every checkpoint kind (an mvd file with its
// model card, and reference-style VideoMAE `encoder.*`, MVD student, MAE image and fine-tuned
// classifier files without one) loads with nothing but what the file says, and a flag that
// contradicts the file is an error naming both values.
import t from 'tap';
import { join } from 'node:path';
import { Tensor, ValueError, ShapeError } from '../lib/index.js';
import { loadEncoder, type Frames } from '../lib/api/encoder.js';
import { saveSafetensors } from '../lib/io/safetensors.js';
import { stateDict } from '../lib/io/checkpoint.js';
import { VisionTransformer } from '../lib/nn/encoder.js';
import { videoVit } from '../lib/nn/config.js';
import { modelCardMetadata, modelCardOf, CheckpointChoiceError } from '../lib/nn/model-card.js';
import { randn, maxRelErr } from './helpers/reference.js';
import { tempDir } from './helpers/data-fixtures.js';
import { vitForwardRef, type RefVit } from './helpers/vit-ref.js';

const MEAN = [0.485, 0.456, 0.406],
  STD = [0.229, 0.224, 0.225];
const VIDEO = join(import.meta.dirname, '..', '..', 'shared', 'data', 'videos', 'demo.mp4');

interface Layout {
  prefix: string;
  D: number;
  depth: number;
  kt: number;
  p: number;
  qkv: 'qv' | 'qkv';
  cls: boolean;
  norm: boolean;
  classes?: number;
}

/** Reference key names and shapes of a ViT checkpoint (SPEC §5). */
function keysOf(l: Layout): [string, number[]][] {
  const { prefix: P, D } = l,
    hidden = 4 * D;
  const out: [string, number[]][] = [
    [`${P}patch_embed.proj.weight`, l.kt > 1 ? [D, 3, l.kt, l.p, l.p] : [D, 3, l.p, l.p]],
    [`${P}patch_embed.proj.bias`, [D]],
  ];
  if (l.cls) out.push([`${P}cls_token`, [1, 1, D]]);
  for (let i = 0; i < l.depth; i++) {
    const b = `${P}blocks.${i}.`;
    out.push([`${b}norm1.weight`, [D]], [`${b}norm1.bias`, [D]], [`${b}attn.qkv.weight`, [3 * D, D]]);
    if (l.qkv === 'qv') out.push([`${b}attn.q_bias`, [D]], [`${b}attn.v_bias`, [D]]);
    else out.push([`${b}attn.qkv.bias`, [3 * D]]);
    out.push(
      [`${b}attn.proj.weight`, [D, D]],
      [`${b}attn.proj.bias`, [D]],
      [`${b}norm2.weight`, [D]],
      [`${b}norm2.bias`, [D]],
      [`${b}mlp.fc1.weight`, [hidden, D]],
      [`${b}mlp.fc1.bias`, [hidden]],
      [`${b}mlp.fc2.weight`, [D, hidden]],
      [`${b}mlp.fc2.bias`, [D]],
    );
  }
  if (l.norm) out.push([`${P}norm.weight`, [D]], [`${P}norm.bias`, [D]]);
  if (l.classes) out.push(['fc_norm.weight', [D]], ['fc_norm.bias', [D]], ['head.weight', [l.classes, D]], ['head.bias', [l.classes]]);
  return out;
}

/** Random values at a scale that keeps activations O(1); LayerNorm gains near 1. */
function randomWeights(keys: [string, number[]][], seed: number): Map<string, Float32Array> {
  const w = new Map<string, Float32Array>();
  keys.forEach(([k, shape], i) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const r = randn(n, seed * 1000 + i);
    const fan = shape.length > 1 ? n / shape[0] : 1;
    const gain = /norm\d?\.weight$/.test(k) ? 1 : 0;
    for (let j = 0; j < n; j++) r[j] = gain + r[j] * (shape.length > 1 ? 1 / Math.sqrt(fan) : 0.1);
    w.set(k, r);
  });
  return w;
}

async function writeFile(path: string, w: Map<string, Float32Array>, shapes: [string, number[]][], metadata: Record<string, string> = {}) {
  const tensors = new Map(shapes.map(([k, s]) => [k, Tensor.fromArray(w.get(k)!, s)]));
  await saveSafetensors(path, tensors, metadata);
  for (const x of tensors.values()) x.dispose();
}

function frames(T: number, S: number, seed: number): Frames {
  const data = new Uint8Array(T * S * S * 3);
  let s = seed;
  for (let i = 0; i < data.length; i++) data[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
  return { data, shape: [T, S, S, 3] };
}

/** The normalised clip [3, T, S, S] of u8 frames, in float32 as the model receives it. */
function clipOf(f: Frames, T: number, S: number, pick: (t: number) => number = (x) => x): Float32Array {
  const out = new Float32Array(3 * T * S * S);
  for (let c = 0; c < 3; c++)
    for (let t = 0; t < T; t++)
      for (let i = 0; i < S * S; i++) out[(c * T + t) * S * S + i] = (f.data[(pick(t) * S * S + i) * 3 + c] / 255 - MEAN[c]) / STD[c];
  return out;
}

t.test('an mvd checkpoint describes itself: no options, features of the float64 reference', async (t) => {
  const dir = tempDir(t, 'mvd-embed-');
  const cfg = videoVit('tiny', { depth: 2, frames: 4, size: 32 });
  const enc = new VisionTransformer(cfg, { finalNorm: true, seed: 3 });
  const shapes = enc.namedParameters().map(([n, p]) => [n, [...p.value.shape]] as [string, number[]]);
  const w = randomWeights(shapes, 1);
  for (const [n, p] of enc.namedParameters()) p.value.assign(Tensor.fromArray(w.get(n)!, p.value.shape));
  const path = join(dir, 'student.safetensors');
  await saveSafetensors(path, stateDict(enc), modelCardMetadata(modelCardOf(enc, { method: 'mvd' })!));
  enc.dispose();

  using e = await loadEncoder(path);
  t.equal(e.described.source, 'metadata');
  t.same([e.config.frames, e.config.size, e.config.posEmbed, e.config.depth], [4, 32, 'sincos3d', 2]);
  const f = frames(4, 32, 7);
  const got = await e.embed(f);
  t.same(got.shape, [1, 8, 128]);
  const ref = vitForwardRef(
    { dim: 128, depth: 2, heads: 2, patch: 16, tubelet: 2, qkvBias: 'qv', posEmbed: 'sincos3d', cls: false, finalNorm: true, prefix: '' },
    w,
    clipOf(f, 4, 32),
    3,
    4,
    32,
    32,
  );
  t.ok(maxRelErr(got.tokens, ref) < 1e-4, `tokens vs float64: ${maxRelErr(got.tokens, ref)}`);
  const pooledRef = new Float64Array(128);
  for (let i = 0; i < 8; i++) for (let j = 0; j < 128; j++) pooledRef[j] += ref[i * 128 + j] / 8;
  t.ok(maxRelErr(got.pooled, pooledRef) < 1e-4, 'pooled is the token mean');

  // The file says 4 frames at 32²: a different choice is an error naming both values.
  // CheckpointChoiceError is a ValueError (the CLI's exit 2).
  await t.rejects(loadEncoder(path, { frames: 16 }), {
    name: 'CheckpointChoiceError',
    message: /frames 16 contradicts the checkpoint, which says 4/,
  });
  await t.rejects(loadEncoder(path, { posEmbed: 'sinusoid1d' }), {
    name: 'CheckpointChoiceError',
    message: /posEmbed sinusoid1d contradicts the checkpoint, which says sincos3d/,
  });
  await t.rejects(loadEncoder(path, { posEmbed: 'bogus' as never }), { name: 'CheckpointChoiceError', message: /bogus/ });
  t.ok(new CheckpointChoiceError('x') instanceof ValueError);
  // Wrong frames in memory, and an aborted call.
  await t.rejects(e.embed(frames(6, 32, 1)), ShapeError);
  const ac = new AbortController();
  ac.abort();
  await t.rejects(e.embed(f, { signal: ac.signal }), { name: 'AbortError' });
});

// Reference-style files have no card: the keys decide; frames and size are open (reference
// default 16×224², given here smaller to keep the float64 reference quick).
const KINDS: {
  name: string;
  layout: Layout;
  ref: Omit<RefVit, 'dim' | 'depth' | 'heads' | 'prefix' | 'patch'>;
  opts: Record<string, unknown>;
  layer?: 'prenorm';
}[] = [
  {
    name: 'VideoMAE encoder.* → 1D sinusoid',
    layout: { prefix: 'encoder.', D: 128, depth: 1, kt: 2, p: 16, qkv: 'qv', cls: false, norm: true },
    ref: { tubelet: 2, qkvBias: 'qv', posEmbed: 'sinusoid1d', cls: false, finalNorm: true },
    opts: {},
  },
  {
    name: 'MVD student → 3D sin-cos',
    layout: { prefix: '', D: 128, depth: 1, kt: 2, p: 16, qkv: 'qv', cls: false, norm: true },
    ref: { tubelet: 2, qkvBias: 'qv', posEmbed: 'sincos3d', cls: false, finalNorm: true },
    opts: {},
  },
  {
    name: 'fine-tuned classifier with posEmbed given',
    layout: { prefix: '', D: 128, depth: 1, kt: 2, p: 16, qkv: 'qv', cls: false, norm: false, classes: 5 },
    ref: { tubelet: 2, qkvBias: 'qv', posEmbed: 'sinusoid1d', cls: false, finalNorm: false },
    opts: { posEmbed: 'sinusoid1d' },
    layer: 'prenorm',
  },
];

for (const k of KINDS) {
  t.test(`reference checkpoint: ${k.name}`, async (t) => {
    const dir = tempDir(t, 'mvd-embed-');
    const shapes = keysOf(k.layout);
    const w = randomWeights(shapes, 2);
    const path = join(dir, 'ref.safetensors');
    await writeFile(path, w, shapes);
    using e = await loadEncoder(path, { frames: 4, size: 32, ...k.opts });
    t.equal(e.described.source, 'keys');
    const f = frames(4, 32, 3);
    const got = await e.embed(f, k.layer ? { layer: k.layer } : {});
    const ref = vitForwardRef(
      { dim: 128, depth: 1, heads: 2, patch: 16, prefix: k.layout.prefix, ...k.ref },
      w,
      clipOf(f, 4, 32),
      3,
      4,
      32,
      32,
    );
    t.ok(maxRelErr(got.tokens, ref) < 1e-4, `tokens vs float64: ${maxRelErr(got.tokens, ref)}`);
    // The control: the other video table would be far off (so the check above can fail).
    const other = k.ref.posEmbed === 'sincos3d' ? 'sinusoid1d' : 'sincos3d';
    const wrong = vitForwardRef(
      { dim: 128, depth: 1, heads: 2, patch: 16, prefix: k.layout.prefix, ...k.ref, posEmbed: other },
      w,
      clipOf(f, 4, 32),
      3,
      4,
      32,
      32,
    );
    t.ok(maxRelErr(got.tokens, wrong) > 1e-2, `the ${other} table is ${maxRelErr(got.tokens, wrong)} off`);
  });
}

t.test('reference checkpoint: MAE image encoder (cls token, qkv bias, 2D table) on frame pairs', async (t) => {
  const dir = tempDir(t, 'mvd-embed-');
  const layout: Layout = { prefix: '', D: 128, depth: 1, kt: 1, p: 16, qkv: 'qkv', cls: true, norm: true };
  const shapes = keysOf(layout);
  const w = randomWeights(shapes, 4);
  const path = join(dir, 'mae.safetensors');
  await writeFile(path, w, shapes);
  using e = await loadEncoder(path, { frames: 4, size: 32 });
  t.same([e.config.posEmbed, e.config.clsToken, e.config.qkvBias, e.clipFrames], ['sincos2d', true, 'qkv', 4]);
  const f = frames(4, 32, 5);
  const got = await e.embed(f);
  t.same(got.shape, [2, 5, 128], 'frames 0 and 2 as images, cls + 4 tokens each');
  const cfg: RefVit = {
    dim: 128,
    depth: 1,
    heads: 2,
    patch: 16,
    tubelet: 1,
    qkvBias: 'qkv',
    posEmbed: 'sincos2d',
    cls: true,
    finalNorm: true,
    prefix: '',
  };
  const ref = new Float64Array(2 * 5 * 128);
  for (let i = 0; i < 2; i++)
    ref.set(
      vitForwardRef(
        cfg,
        w,
        clipOf(f, 1, 32, () => 2 * i),
        3,
        1,
        32,
        32,
      ),
      i * 5 * 128,
    );
  t.ok(maxRelErr(got.tokens, ref) < 1e-4, `tokens vs float64: ${maxRelErr(got.tokens, ref)}`);
});

t.test('a fine-tuned classifier without posEmbed is an error, not a guess', async (t) => {
  const dir = tempDir(t, 'mvd-embed-');
  const shapes = keysOf({ prefix: '', D: 128, depth: 1, kt: 2, p: 16, qkv: 'qv', cls: false, norm: false, classes: 3 });
  const path = join(dir, 'ft.safetensors');
  await writeFile(path, randomWeights(shapes, 5), shapes);
  await t.rejects(loadEncoder(path), { name: 'CheckpointChoiceError', message: /positional table.*posEmbed/ });
  using e = await loadEncoder(path, { posEmbed: 'sincos3d', frames: 2, size: 32 });
  await t.rejects(e.embed(frames(2, 32, 1), { layer: 'norm' }), { name: 'ValueError', message: /final norm/ });
});

t.test('a video file, many inputs with decoding overlapped, and a bad input in the middle', async (t) => {
  const dir = tempDir(t, 'mvd-embed-');
  const enc = new VisionTransformer(videoVit('tiny', { depth: 1, frames: 4, size: 32 }), { finalNorm: true, seed: 1 });
  const path = join(dir, 'm.safetensors');
  await saveSafetensors(path, stateDict(enc), modelCardMetadata(modelCardOf(enc)!));
  enc.dispose();
  using e = await loadEncoder(path);
  const progress: number[] = [];
  const v = await e.embed(VIDEO, { clips: 2, crops: 3, onProgress: (d) => progress.push(d) });
  t.same(v.shape, [6, 8, 128]);
  t.same(progress, [1, 2, 3, 4, 5, 6]);
  t.ok(v.tokens.every(Number.isFinite) && v.pooled.every(Number.isFinite));
  const out = [];
  for await (const r of e.embedMany([frames(4, 32, 1), join(dir, 'missing.mp4'), VIDEO])) out.push(r);
  t.equal(out.length, 3);
  t.ok(out[0].embedding && !out[0].error);
  t.match(out[1].error?.message ?? '', /missing\.mp4/);
  t.ok(out[2].embedding);
  t.same(out[2].embedding!.pooled, (await e.embed(VIDEO)).pooled, 'same as one call');
});
