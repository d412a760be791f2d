// Tensor lifetimes without bookkeeping: retain(), tensorScope()/tidy() and the leak check of a
// training loop. Native live bytes (the addon's own account of allocated storage) are the witness.
import t from 'tap';
import { Tensor, sync, tensorScope, tidy, unscoped } from '../lib/tensor.js';
import { addon } from '../lib/native.js';
import { scale } from '../lib/ops/elementwise.js';
import { ValueError } from '../lib/errors.js';
import { Cache } from '../lib/nn/module.js';
import { SyntheticDataset } from '../lib/data/synthetic.js';
import { BatchSampler } from '../lib/methods/batch.js';
import { distillRecipe } from '../lib/methods/distill.js';
import { maeRecipe, mam2Recipe } from '../lib/methods/pretrain.js';
import { finetuneRecipe, makeClassifier } from '../lib/methods/finetune.js';
import { makeTeacher } from '../lib/nn/mvd.js';
import type { Recipe } from '../lib/methods/train.js';

const live = async () => {
  await sync('cpu');
  return addon().liveBytes();
};

t.test('retain() is another reference: the storage lives until both are disposed', async (t) => {
  const before = await live();
  const a = Tensor.fromArray(new Float32Array([1, 2, 3, 4]), [2, 2]);
  const b = a.retain();
  t.same(b.shape, [2, 2]);
  t.not(b, a);
  a.dispose();
  t.ok(a.disposed);
  t.notOk(b.disposed);
  t.same([...b.toArraySync()], [1, 2, 3, 4], 'still readable through the other reference');
  t.equal((await live()) - before, 16, 'storage held by the retained reference');
  b.dispose();
  t.equal(await live(), before, 'freed with the last reference');
  t.throws(() => a.retain(), { name: 'DisposedError' });
});

t.test('a scope frees what was created in it, on close, and nothing else', async (t) => {
  const before = await live();
  const outside = Tensor.zeros([8]);
  let inner: Tensor[] = [];
  {
    using scope = tensorScope();
    const x = Tensor.zeros([64]);
    const y = scale(x, 2);
    const v = y.slice(0, 4);
    inner = [x, y, v, scale(outside, 3)];
    t.equal(scope.size, 4);
    t.ok(
      inner.every((u) => !u.disposed),
      'alive inside',
    );
  }
  t.ok(
    inner.every((u) => u.disposed),
    'all freed on close',
  );
  t.notOk(outside.disposed, 'a tensor from before the scope is not its business');
  outside.dispose();
  t.equal(await live(), before);
});

t.test('keep() hands a tensor to the enclosing scope, or to no scope at the outermost', async (t) => {
  const before = await live();
  let kept!: Tensor, middle!: Tensor, tmp!: Tensor;
  {
    using outer = tensorScope();
    {
      using inner = tensorScope();
      tmp = Tensor.zeros([16]);
      middle = inner.keep(Tensor.zeros([16]));
      t.equal(inner.keep(null), null, 'null passes through');
    }
    t.ok(tmp.disposed, 'inner temporary freed by the inner scope');
    t.notOk(middle.disposed, 'kept tensor survives the inner scope');
    t.equal(outer.size, 1, 'and now belongs to the outer one');
    kept = outer.keep(Tensor.zeros([32]));
  }
  t.ok(middle.disposed, 'freed by the outer scope, which did not keep it');
  t.notOk(kept.disposed, 'kept at the outermost: survives every scope');
  t.equal((await live()) - before, 128, 'only the kept tensor is still allocated');
  kept.dispose();
  t.equal(await live(), before, 'its owner freed it');
});

t.test('an exception inside a scope still frees its temporaries', async (t) => {
  const before = await live();
  const made: Tensor[] = [];
  t.throws(
    () =>
      tidy(() => {
        made.push(Tensor.zeros([100]), Tensor.zeros([100]));
        throw new ValueError('boom');
      }),
    { message: 'boom' },
  );
  t.ok(made.every((u) => u.disposed));
  t.equal(await live(), before);
});

t.test('tidy keeps what it returns: a tensor, an array or a record of tensors', async (t) => {
  const before = await live();
  let temp!: Tensor;
  const one = tidy(() => {
    temp = Tensor.zeros([4]);
    return scale(temp, 2);
  });
  t.ok(temp.disposed);
  t.notOk(one.disposed);
  const pair = tidy(() => [Tensor.zeros([4]), Tensor.zeros([4])]);
  const rec = tidy(() => ({ a: Tensor.zeros([4]), b: null }));
  t.ok(pair.every((u) => !u.disposed));
  t.notOk(rec.a.disposed);
  for (const u of [one, ...pair, rec.a]) u.dispose();
  t.equal(await live(), before);
});

t.test('unscoped() and Cache.keep take a tensor out of every scope', async (t) => {
  const before = await live();
  const cache = new Cache();
  let owned!: Tensor, cached!: Tensor;
  {
    using _outer = tensorScope();
    using _inner = tensorScope();
    owned = unscoped(Tensor.zeros([4]));
    cached = cache.keep(Tensor.zeros([4]));
  }
  t.notOk(owned.disposed);
  t.notOk(cached.disposed);
  cache.release();
  owned.dispose();
  t.ok(cached.disposed);
  t.equal(await live(), before);
});

t.test('a scope held across an await is an error, and other callers do not register into it', async (t) => {
  const before = await live();
  let mine!: Tensor;
  const run = async () => {
    using _scope = tensorScope();
    mine = Tensor.zeros([4]);
    await new Promise((r) => setImmediate(r));
  };
  const p = run();
  // Another caller's tensor while `run` is suspended: must not land in run's scope.
  const other = Tensor.zeros([4]);
  await Promise.resolve();
  const later = Tensor.zeros([4]);
  t.equal(later.scope, null, 'a tensor made once the yield was seen is in no scope');
  later.dispose();
  await t.rejects(p, ValueError, 'closing it after the await throws');
  t.notOk(other.disposed, "another caller's tensor, registered before the yield was seen, is not freed under it");
  t.notOk(mine.disposed, 'so the broken scope frees nothing: its tensors are left to their owners or the collector');
  other.dispose();
  mine.dispose();
  t.equal(await live(), before);
  // The stack is clean afterwards: a new scope works as usual.
  const x = tidy(() => Tensor.zeros([2]));
  t.notOk(x.disposed);
  x.dispose();
});

t.test('closing a scope while one opened inside it is still open is an error', async (t) => {
  const outer = tensorScope();
  const inner = tensorScope();
  const a = Tensor.zeros([2]);
  t.throws(() => outer[Symbol.dispose](), ValueError);
  inner[Symbol.dispose]();
  t.ok(a.disposed);
});

/** Native live bytes after each of `steps` training steps (forward, loss, backward; grads reset). */
async function liveBytesPerStep(recipe: Recipe, steps: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    recipe.model.zeroGrad();
    await recipe.step(i);
    out.push(await live());
  }
  return out;
}

const data = (seed: number) => new BatchSampler(new SyntheticDataset({ seed, count: 32, frames: 4, size: 32 }), 2, seed);

const tinyDecoder = { dim: 32, depth: 1, heads: 1 };
/** The recipe with its encoder recomputing block activations in backward (Block.checkpoint). */
const checkpointed = <R extends { model: { encoder: { setCheckpointing(on: boolean): void } } }>(r: R): R => {
  r.model.encoder.setCheckpointing(true);
  return r;
};
const tinyMam2 = { regressorDim: 32, regressorDepth: 1, decoderDepth: 1, heads: 1 };

t.test('20 training steps do not grow native memory step over step', async (t) => {
  const teachers = {
    img: makeTeacher('img', { preset: 'tiny', frames: 4, size: 32 }),
    vid: makeTeacher('vid', { preset: 'tiny', frames: 4, size: 32 }),
  };
  const recipes: [string, Recipe][] = [
    ['mvd', distillRecipe(data(1), { student: 'tiny', frames: 4, size: 32, teachers, maskRatio: 0.5, seed: 3, dropPath: 0.1 })],
    ['mae (checkpointed blocks)', checkpointed(maeRecipe(data(4), { preset: 'tiny', size: 32, seed: 4, decoder: tinyDecoder }))],
    ['mam2', mam2Recipe(data(2), { preset: 'tiny', frames: 4, size: 32, maskRatio: 0.5, seed: 8, mam2: tinyMam2 })],
    ['finetune', finetuneRecipe(data(3), { preset: 'tiny', frames: 4, size: 32, numClasses: 4, seed: 5, dropPath: 0.1, batchSize: 2 })],
  ];
  for (const [name, recipe] of recipes) {
    const bytes = await liveBytesPerStep(recipe, 20);
    // Step 1 allocates the gradients; from then on every step must end where the previous one did.
    const grown = bytes.slice(2).filter((b, i) => b > bytes[i + 1]);
    t.same(grown, [], `${name}: live bytes per step ${bytes.slice(1, 4).join(', ')} … ${bytes[bytes.length - 1]}`);
    recipe.dispose();
  }
  // Inference forwards (nothing cached) own only what they return.
  const model = makeClassifier({ preset: 'tiny', frames: 4, size: 32, numClasses: 4, seed: 6 }).eval();
  using clip = Tensor.zeros([2, 3, 4, 32, 32]);
  const before = await live();
  for (let i = 0; i < 3; i++) model.forward(clip).dispose();
  t.equal(await live(), before, 'eval forwards leave nothing behind');
  model.dispose();
  teachers.img.dispose();
  teachers.vid.dispose();
});
