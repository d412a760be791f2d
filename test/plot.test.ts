// `mvd plot`: valid PNGs of the expected size for curves, similarity and reconstruction strips;
// the similarity numbers against a hand computation; clear errors for bad inputs.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { Tensor } from '../lib/tensor.js';
import { SyntheticDataset } from '../lib/data/synthetic.js';
import { BatchSampler } from '../lib/methods/batch.js';
import { videomaeRecipe } from '../lib/methods/pretrain.js';
import { train } from '../lib/methods/train.js';
import { saveWeights } from '../lib/io/checkpoint.js';
import { saveSafetensors } from '../lib/io/safetensors.js';
import { makeStudent, makeTeacher } from '../lib/nn/mvd.js';
import {
  curvesFigure,
  frameSimilarity,
  loadFeatureEncoder,
  readRunLog,
  reconFigure,
  reconstructionStrips,
  similarityFigure,
} from '../lib/plot/figures.js';
import { ShapeError, ValueError } from '../lib/errors.js';
import { packageRoot } from '../lib/native.js';

const readPng = (path: string) => PNG.sync.read(readFileSync(path));

t.test('similarity of slot-pooled features, by hand', async (t) => {
  // 2 slots × 2 tokens × 2 dims: slot means (1, 0) and (1, 1) → cosine 1/√2.
  using f = Tensor.fromArray(Float32Array.from([1, 0, 1, 0, 2, 0, 0, 2]), [1, 4, 2]);
  const m = await frameSimilarity(f, 2);
  t.ok(Math.abs(m[0][1] - Math.SQRT1_2) < 1e-6 && Math.abs(m[1][0] - Math.SQRT1_2) < 1e-6, `off-diagonal ${m[0][1]}`);
  t.ok(Math.abs(m[0][0] - 1) < 1e-6 && Math.abs(m[1][1] - 1) < 1e-6, 'diagonal 1');
  await t.rejects(frameSimilarity(f, 3), ShapeError);
});

t.test('curves, similarity and recon PNGs from a tiny VideoMAE run', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mvd-plot-'));
  const run = join(dir, 'vmae');
  const data = new BatchSampler(new SyntheticDataset({ seed: 0, count: 8, frames: 4, size: 32 }), 4, 0);
  const r = videomaeRecipe(data, { preset: 'tiny', frames: 4, size: 32, maskRatio: 0.5, seed: 0 });
  // The config as `mvd pretrain` records it (flag values as strings).
  const config = { command: 'pretrain', method: 'videomae', model: 'tiny', frames: '4', size: '32', 'mask-ratio': '0.5', seed: '0' };
  await train(r, { steps: 3, lr: 1e-3, minLr: 1e-5, warmupSteps: 1, weightDecay: 0.05, runDir: run, config });
  await saveWeights(join(run, 'model.safetensors'), r.model);

  const log = readRunLog(run);
  t.same(log.steps, [1, 2, 3]);
  const curves = curvesFigure(log);
  await curves.save(join(dir, 'curves.png'));
  const pc = readPng(join(dir, 'curves.png'));
  t.same([pc.width, pc.height], [800, 520], 'curves: 800 × (2 panels × 260)');

  const enc = await loadFeatureEncoder(join(run, 'model.safetensors'), { frames: 4, size: 32 });
  t.equal(enc.kind, 'videomae');
  t.equal(enc.preset, 'tiny', 'preset from the embedding width');
  const sample = await new SyntheticDataset({ seed: 0, count: 1, frames: 4, size: 32 }).get(0);
  const { stackClips } = await import('../lib/methods/batch.js');
  const b = stackClips([sample]);
  using feats = enc.features(b.video);
  b.video.dispose();
  const m = await frameSimilarity(feats, enc.slots);
  t.equal(m.length, 2, '4 frames / tubelet 2 = 2 slots');
  t.ok(Math.abs(m[0][1] - m[1][0]) < 1e-6, 'symmetric');
  const sim = similarityFigure(m, 'videomae');
  await sim.save(join(dir, 'sim.png'));
  const ps = readPng(join(dir, 'sim.png'));
  t.same([ps.width, ps.height], [sim.width, sim.height]);
  t.same([ps.width, ps.height], [40 + 2 * 44 + 70, 34 + 2 * 44 + 30], 'heatmap: 2×2 cells of 44 px plus margins');
  enc[Symbol.dispose]();

  const strips = await reconstructionStrips(run);
  t.equal(strips.rows.length, 3);
  t.equal(strips.rows[0].images.length, 4, 'one column per frame');
  t.ok(Number.isFinite(strips.maskedMse));
  const rf = reconFigure(strips);
  await rf.save(join(dir, 'recon.png'));
  const pr = readPng(join(dir, 'recon.png'));
  // label column 8 + 6 chars × 8 px; 4 frames of 32 px at zoom 3 with 4 px gaps.
  t.same([pr.width, pr.height], [56 + 4 * (96 + 4) + 4, 3 * (96 + 4) + 4]);
  // Visible patches of the masked input equal the target's pixels; masked ones are grey.
  const [masked, target] = [strips.rows[0].images[0], strips.rows[2].images[0]];
  let same = 0,
    grey = 0;
  for (let i = 0; i < masked.length; i++) {
    if (masked[i] === target[i]) same++;
    else if (masked[i] === 128) grey++;
  }
  t.equal(same + grey, masked.length, 'masked input = target or grey');
  t.ok(grey > 0.3 * masked.length, `about half the pixels masked (ratio 0.5): ${(grey / masked.length).toFixed(2)}`);
  r.dispose();
});

t.test('bad inputs give clear errors', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mvd-plotbad-'));
  t.throws(() => readRunLog(join(dir, 'nope')), /run folder .*nope not found/);
  t.throws(() => readRunLog(dir), /has no log\.jsonl/);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ command: 'distill' }));
  await t.rejects(reconstructionStrips(dir), /reconstruction strips need a MAE or VideoMAE pretraining run/);
  await t.rejects(loadFeatureEncoder(join(dir, 'nope.safetensors'), { frames: 4, size: 32 }), ValueError);
  // Right width, wrong block shapes: a tiny student's patch embedding with a fake block.
  using s = makeStudent('tiny', {}, { frames: 4, size: 32 });
  using w = Tensor.zeros([7, 128]);
  const named = new Map(s.namedParameters().map(([n, p]) => [n, p.value as Tensor]));
  named.set('blocks.0.mlp.fc1.weight', w);
  await saveSafetensors(join(dir, 'wrong.safetensors'), named);
  await t.rejects(loadFeatureEncoder(join(dir, 'wrong.safetensors'), { frames: 4, size: 32 }), ShapeError);
});

const cli = join(packageRoot, 'dist', 'cli', 'main.js');
t.test(
  'CLI: plot similarity of an image teacher; errors exit 2',
  { skip: existsSync(cli) ? false : 'dist/ not built (npm run build:ts)' },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mvd-plotcli-'));
    const img = makeTeacher('img', { preset: 'tiny', frames: 4, size: 32 });
    await saveWeights(join(dir, 'mae.safetensors'), img.encoder);
    img.dispose();
    const out = join(dir, 'sim.png');
    const r = spawnSync(
      process.execPath,
      [cli, 'plot', 'similarity', '--checkpoint', join(dir, 'mae.safetensors'), '--frames', '8', '--size', '32', '--out', out, '--json'],
      { encoding: 'utf8' },
    );
    t.equal(r.status, 0, r.stderr.slice(-800));
    const j = JSON.parse(r.stdout);
    t.equal(j.kind, 'image');
    t.equal(j.slots, 4, 'frames 0, 2, 4, 6');
    const p = readPng(out);
    t.same([p.width, p.height], [j.width, j.height], 'the PNG has the reported size');
    t.equal(p.height, 34 + 4 * 44 + 30, '4×4 cells of 44 px plus margins');
    t.ok(p.width >= 40 + 4 * 44 + 70, 'at least the grid and colour bar wide (a long title widens it)');
    const none = spawnSync(process.execPath, [cli, 'plot', 'curves', '--run', join(dir, 'nope')], { encoding: 'utf8' });
    t.not(none.status, 0);
    t.match(none.stderr, /run folder .*nope not found/);
    const what = spawnSync(process.execPath, [cli, 'plot'], { encoding: 'utf8' });
    t.equal(what.status, 2);
    t.match(what.stderr, /say what to plot: curves, similarity, recon/);
  },
);
