// bench/kernels-tokens.md's table: bandwidth of the token, frame and target kernels at ViT-B shapes
// (B = 2, 16×224², D = 768), timed through the addon (output allocation included), median of
// --runs calls each followed by sync(). "Bytes moved" is what the op must read plus write once.
// Needs the compiled TypeScript (`npm run build`).
//   node bench/scripts/tokens-bandwidth.mjs [--runs 41]
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const dist = resolve(process.env.DIST ?? new URL('../../dist', import.meta.url).pathname);
const { Tensor, randomFill, patchify, gatherTokens, scatterTokens, framesToClip, resizeCrop, videomaePixelTarget } = await import(
  pathToFileURL(`${dist}/index.js`).href
);
const { timeIt, fmt, table } = await import(pathToFileURL(`${dist}/bench/timing.js`).href);

const { values } = parseArgs({ options: { runs: { type: 'string', default: '41' } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs: a positive integer (got '${values.runs}')`);

const B = 2,
  T = 16,
  S = 224,
  D = 768,
  N = 1568;
const MEAN = [0.485, 0.456, 0.406],
  STD = [0.229, 0.224, 0.225];
const uniform = (shape, seed) => randomFill(Tensor.empty(shape), { dist: 'uniform', a: 0, b: 1 }, seed, 0);
const bytes = (shape) => Uint8Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => (i * 2654435761) >>> 24);
// Index lists in [0, N): 160 visible tokens spread over the clip, 1408 masked ones.
const indices = (count, at) =>
  Tensor.fromArray(
    Int32Array.from({ length: B * count }, (_, i) => at(i % count)),
    [B, count],
  );

const rows = [];
async function bench(name, movedBytes, fn) {
  const t = await timeIt(() => fn().dispose(), { warmup: 3, minRuns: runs, minSeconds: 1e-3 });
  rows.push([name, fmt(movedBytes / 1e6), fmt(t.medianMs, 3), fmt(movedBytes / t.medianMs / 1e6)]);
}

const video = uniform([B, 3, T, S, S], 1);
const videoBytes = 4 * B * 3 * T * S * S;
await bench('patchify [2,3,16,224,224] → [2,1568,1536]', 2 * videoBytes, () => patchify(video, 2, 16, 16));
await bench('patchify frameStride 2 (image teacher) → [16,196,768]', videoBytes, () => patchify(video, 1, 16, 16, { frameStride: 2 }));
const x = uniform([B, N, D], 2);
const visible = indices(160, (i) => i * 9),
  masked = indices(1408, (i) => (i + 160) % N);
await bench('gatherTokens [2,1568,768], idx [2,160] (visible)', 4 * 2 * B * 160 * D, () => gatherTokens(x, visible));
await bench('gatherTokens [2,1568,768], idx [2,1408] (masked targets)', 4 * 2 * B * 1408 * D, () => gatherTokens(x, masked));
const dy = uniform([B, 1408, D], 3);
await bench('scatterTokens [2,1408,768] → [2,1568,768]', 4 * (2 * B * 1408 * D + B * N * D), () => scatterTokens(dy, masked, N));
const frames = Tensor.fromArray(bytes([B, T, S, S, 3]), [B, T, S, S, 3]);
await bench('framesToClip u8 [2,16,224,224,3] → f32 [2,3,16,224,224]', 5 * B * T * S * S * 3, () => framesToClip(frames, MEAN, STD));
const raw = Tensor.fromArray(bytes([T, 320, 426, 3]), [T, 320, 426, 3]);
await bench('resizeCrop [16,320,426,3], crop 280×280 → 224×224', T * 3 * (280 * 280 + 224 * 224), () =>
  resizeCrop(raw, { x: 73, y: 20, w: 280, h: 280 }, 224, 224),
);
await bench('videomaePixelTarget [2,3,16,224,224] (normalised)', 2 * videoBytes, () =>
  videomaePixelTarget(video, { mean: MEAN, std: STD }),
);
console.log(table(['op (ViT-B shapes: B=2, 16×224², D=768)', 'bytes moved (MB)', 'median ms', 'GB/s'], rows));
