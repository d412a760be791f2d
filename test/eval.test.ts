// Multi-view evaluation: view averaging against a hand-computed example, evaluate() against
// per-view forwards, the synthetic test views, and the CLI (finetune → resume → eval, list files,
// bad inputs).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '../lib/tensor.js';
import { averageViewProbabilities, evaluate, scoreProbabilities, SyntheticTestViews } from '../lib/methods/eval.js';
import { makeClassifier } from '../lib/methods/finetune.js';
import { framesToClip } from '../lib/ops/frames.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../lib/methods/batch.js';
import { saveWeights } from '../lib/io/checkpoint.js';
import { makeStudent } from '../lib/nn/mvd.js';
import { packageRoot } from '../lib/native.js';
import { ValueError } from '../lib/errors.js';

const softmaxJs = (z: number[]) => {
  const m = Math.max(...z),
    e = z.map((v) => Math.exp(v - m)),
    s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

t.test('softmax averaged over views, hand-computed', async (t) => {
  // Video 0: one confident view for class 0, two moderate ones for class 1. Mean logits pick 0,
  // the mean of the per-view softmax (SPEC §4.6) picks 1. Video 1: all views say class 2.
  const logits = [
    [10, 0, 0],
    [0, 3, 0],
    [0, 3, 0],
    [0, 0, 2],
    [1, 0, 2],
    [0, 1, 2],
  ];
  using lt = Tensor.fromArray(Float32Array.from(logits.flat()), [6, 3]);
  using avg = averageViewProbabilities(lt, 3);
  const got = await avg.toArray();
  const want = [0, 1].flatMap((v) =>
    [0, 1, 2].map(
      (c) =>
        logits
          .slice(3 * v, 3 * v + 3)
          .map(softmaxJs)
          .reduce((a, p) => a + p[c], 0) / 3,
    ),
  );
  t.ok(
    want.every((w, i) => Math.abs(w - got[i]) < 1e-6),
    `averaged ${Array.from(got, (x) => x.toFixed(4)).join(' ')}`,
  );
  t.ok(Math.abs(want[1] - (2 * softmaxJs([0, 3, 0])[1] + softmaxJs([10, 0, 0])[1]) / 3) < 1e-12, 'the hand formula');
  t.ok(got[1] > got[0], 'video 0: averaged probabilities pick class 1 although mean logits pick class 0');
  const r = await scoreProbabilities(avg, Int32Array.from([1, 0]), ['a', 'b', 'c']);
  t.equal(r.top1, 0.5, 'top-1: video 0 right (1), video 1 wrong (2 for 0)');
  t.equal(r.top5, 1, 'top-3 covers every class');
  t.same(r.confusion, [
    [0, 0, 1],
    [0, 1, 0],
    [0, 0, 0],
  ]);
  t.same(
    r.perClass.map((c) => c.accuracy),
    [0, 1, null],
  );
  t.equal(r.meanClassAccuracy, 0.5);
  await t.rejects(scoreProbabilities(avg, Int32Array.from([1, 7]), undefined), ValueError);
  t.throws(() => averageViewProbabilities(lt, 4), ValueError);
});

t.test('evaluate() equals per-view forwards averaged by hand; synthetic views are distinct crops', async (t) => {
  const src = new SyntheticTestViews({ seed: 3, count: 4, frames: 4, size: 32, numClips: 2, numCrops: 3 });
  const s0 = await src.get(0);
  t.same(s0.shape, [6, 4, 32, 32, 3]);
  const per = 4 * 32 * 32 * 3;
  const differ = (a: number, b: number) => s0.frames.subarray(a * per, (a + 1) * per).some((x, i) => x !== s0.frames[b * per + i]);
  t.ok(differ(0, 1) && differ(1, 2) && differ(0, 3), 'crops and windows differ');
  using model = makeClassifier({ preset: 'tiny', frames: 4, size: 32, numClasses: 4, seed: 2 });
  // A larger head so the views disagree visibly (the default init scale makes logits ~0).
  const w = await model.head.weight.value.toArray();
  using big = Tensor.fromArray(
    w.map((x) => x * 2000),
    model.head.weight.value.shape,
  );
  model.head.weight.value.assign(big);
  const r = await evaluate(model, src, { classes: 4, batchVideos: 3 });
  t.equal(r.views, 6);
  t.equal(r.videos, 4);
  let correct = 0;
  model.eval();
  for (let i = 0; i < 4; i++) {
    const s = await src.get(i);
    const p = [0, 0, 0, 0];
    for (let v = 0; v < 6; v++) {
      using u8 = Tensor.fromArray(s.frames.slice(v * per, (v + 1) * per), [1, 4, 32, 32, 3]);
      using clip = framesToClip(u8, IMAGENET_MEAN, IMAGENET_STD);
      using logits = model.forward(clip);
      softmaxJs(Array.from(await logits.toArray())).forEach((x, c) => (p[c] += x / 6));
    }
    if (p.indexOf(Math.max(...p)) === s.label) correct++;
  }
  t.equal(r.top1, correct / 4, `top-1 ${r.top1} from one view at a time too`);
  t.equal(
    r.confusion.flat().reduce((a, b) => a + b, 0),
    4,
  );
  t.equal(r.confusion.reduce((a, row, k) => a + row[k], 0) / 4, r.top1, 'confusion diagonal = top-1');
});

const cli = join(packageRoot, 'dist', 'cli', 'main.js');
const mvd = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

t.test(
  'CLI: finetune, resume, eval --json; bad inputs',
  { skip: existsSync(cli) ? false : 'dist/ not built (npm run build:ts)' },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mvd-eval-'));
    const run = join(dir, 'ft');
    const common = ['--frames', '4', '--size', '32', '--batch', '4', '--clips', '16', '--val-clips', '4', '--out', run, '--json'];
    const a = mvd('finetune', '--label', 'motion', '--steps', '3', '--checkpoint-every', '3', ...common);
    t.equal(a.status, 0, a.stderr.slice(-800));
    const b = mvd('finetune', '--label', 'motion', '--steps', '5', '--resume', ...common);
    t.equal(b.status, 0, b.stderr.slice(-800));
    const sb = JSON.parse(b.stdout);
    t.equal(sb.startStep, 3, 'resumed at step 3');
    t.ok(Number.isFinite(sb.finalLosses.loss) && sb.val.videos === 4);
    const e = mvd('eval', '--checkpoint', join(run, 'model.safetensors'), '--clips', '4', '--num-clips', '2', '--num-crops', '3', '--json');
    t.equal(e.status, 0, e.stderr.slice(-800));
    const r = JSON.parse(e.stdout);
    t.equal(r.views, 6);
    t.equal(r.perClass[0].name, 'left', 'the label set comes from the checkpoint metadata (motion)');
    t.equal(
      r.confusion.flat().reduce((x: number, y: number) => x + y, 0),
      4,
    );

    const missing = mvd('eval', '--checkpoint', join(dir, 'nope.safetensors'));
    t.equal(missing.status, 1, 'a missing file is a runtime error (exit 1), one line');
    t.match(missing.stderr, /checkpoint .*nope\.safetensors not found/);
    using student = makeStudent('tiny', { vid: 128 }, { frames: 4, size: 32 });
    await saveWeights(join(dir, 'student.safetensors'), student);
    const notCls = mvd('eval', '--checkpoint', join(dir, 'student.safetensors'));
    t.equal(notCls.status, 2);
    t.match(notCls.stderr, /no head\.weight: it is not a fine-tuned classifier/);
    const wrong = mvd('eval', '--checkpoint', join(run, 'model.safetensors'), '--model', 'small', '--clips', '1');
    t.not(wrong.status, 0);
    t.match(wrong.stderr, /ShapeError: checkpoint does not match the model/);
    const ftMissing = mvd('finetune', '--checkpoint', join(dir, 'nope.safetensors'), '--steps', '1');
    t.equal(ftMissing.status, 1);
    t.match(ftMissing.stderr, /not found/);
    const img = mvd(
      'finetune',
      '--checkpoint',
      join(dir, 'student.safetensors'),
      '--model',
      'small',
      '--frames',
      '4',
      '--size',
      '32',
      '--steps',
      '1',
      '--clips',
      '8',
      '--batch',
      '2',
    );
    t.not(img.status, 0);
    t.match(img.stderr, /other shapes than this model's/);
  },
);
