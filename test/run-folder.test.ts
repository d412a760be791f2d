// The run folder loses nothing and mixes nothing: an occupied folder is refused (or deliberately
// cleared), a resume checks its configuration, falls back past damaged checkpoints, sweeps what a
// killed run left, logs each step once, and an abort leaves a checkpoint the resume continues from.
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SyntheticDataset } from '../lib/data/synthetic.js';
import { BatchSampler } from '../lib/methods/batch.js';
import { videomaeRecipe } from '../lib/methods/pretrain.js';
import { train, type Recipe, type TrainOptions } from '../lib/methods/train.js';
import { stateDict } from '../lib/io/checkpoint.js';
import { RunFolderError } from '../lib/io/run-folder.js';
import { CheckpointError } from '../lib/io/training-checkpoint.js';
import { ResumeConfigError } from '../lib/methods/resume-check.js';
import { AbortedError, ValueError } from '../lib/errors.js';

const mk = () =>
  videomaeRecipe(new BatchSampler(new SyntheticDataset({ seed: 3, count: 16, frames: 4, size: 32 }), 2, 3), {
    preset: 'tiny',
    frames: 4,
    size: 32,
    maskRatio: 0.5,
    seed: 4,
    decoder: { dim: 32, depth: 1, heads: 1 },
  });
const base = { lr: 1e-3, minLr: 1e-4, warmupSteps: 1, weightDecay: 0.05, steps: 4, checkpointEvery: 2 };
const made: string[] = [];
const fresh = (tag: string) => {
  made.push(mkdtempSync(join(tmpdir(), `mvd-run-${tag}-`)));
  return made[made.length - 1];
};
t.teardown(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));
const ckDir = (dir: string) => join(dir, 'checkpoints');

/** Trains a fresh recipe; returns its warnings and the recipe (the caller disposes it). */
async function run(o: Partial<TrainOptions> & { runDir?: string }): Promise<{ recipe: Recipe; warnings: string[] }> {
  const warnings: string[] = [];
  const recipe = mk();
  try {
    await train(recipe, { ...base, onWarning: (m) => warnings.push(m), ...o });
  } catch (e) {
    recipe.dispose();
    throw e;
  }
  return { recipe, warnings };
}

async function maxDiff(a: Recipe, b: Recipe): Promise<number> {
  const sa = stateDict(a.model),
    sb = stateDict(b.model);
  let d = 0;
  for (const [n, x] of sa) {
    const [u, v] = [await x.toArray(), await sb.get(n)!.toArray()];
    for (let i = 0; i < u.length; i++) d = Math.max(d, Math.abs(u[i] - v[i]));
  }
  return d;
}

const stepsLogged = (dir: string) =>
  readFileSync(join(dir, 'log.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((r) => r.kind === 'step')
    .map((r) => r.step as number);

let straight: Recipe;
t.before(async () => {
  straight = (await run({})).recipe;
});
t.teardown(() => straight.dispose());

t.test('train() rejects contradictory folder options with a ValueError', async (t) => {
  const r = mk();
  await t.rejects(train(r, { ...base, resume: true }), ValueError, 'resume without runDir');
  await t.rejects(train(r, { ...base, runDir: fresh('opt'), resume: true, force: true }), { message: /force .* and resume/ });
  await t.rejects(train(r, { ...base, runDir: fresh('opt'), override: true }), { message: /override .* only applies with resume/ });
  r.dispose();
});

t.test('a folder holding a run is refused without resume; force starts over', async (t) => {
  const dir = fresh('occupied');
  (await run({ runDir: dir, config: { batch: '2' } })).recipe.dispose();
  writeFileSync(join(dir, 'model.safetensors'), 'final weights of the first run');
  writeFileSync(join(dir, 'notes.txt'), 'not ours');
  const latest = readFileSync(join(ckDir(dir), 'latest.json'), 'utf8');
  const err = await run({ runDir: dir, steps: 2 }).catch((e) => e);
  t.type(err, RunFolderError);
  t.match(err.message, dir, 'names the folder');
  t.match(
    err.message,
    /resume \(--resume\).*force \(--force\), which deletes config\.json, log\.jsonl, checkpoints, model\.safetensors/s,
    'names both ways out',
  );
  t.equal(readFileSync(join(ckDir(dir), 'latest.json'), 'utf8'), latest, 'latest.json untouched');
  t.equal(readFileSync(join(dir, 'model.safetensors'), 'utf8'), 'final weights of the first run', 'final weights untouched');
  const { recipe, warnings } = await run({ runDir: dir, steps: 2, force: true });
  recipe.dispose();
  t.match(warnings.join('\n'), /force: deleted the previous run's config\.json, log\.jsonl, checkpoints, model\.safetensors/);
  t.same(stepsLogged(dir), [1, 2], 'the log holds only the new run');
  t.notOk(existsSync(join(dir, 'model.safetensors')), 'the old final weights are gone');
  t.notOk(existsSync(join(dir, 'config.json')), 'the new run has no config: the old one is gone');
  t.ok(existsSync(join(dir, 'notes.txt')), "files that are not the run's stay");
  t.same(readdirSync(ckDir(dir)).sort(), ['checkpoint-00000002', 'latest.json']);
});

t.test('resume with changed hyper-parameters: a typed error listing them, or an override that is logged', async (t) => {
  const dir = fresh('config');
  const cfg = { command: 'videomae', batch: '2', lr: '1e-3', steps: '4', 'checkpoint-every': '2' };
  (await run({ runDir: dir, stopAfter: 2, config: cfg })).recipe.dispose();
  const changed = { ...cfg, batch: '4', lr: '2e-3', seed: '1' };
  const err = await run({ runDir: dir, resume: true, config: changed }).catch((e) => e);
  t.type(err, ResumeConfigError);
  t.match(err.message, /batch: "2" → "4"/);
  t.match(err.message, /lr: "1e-3" → "2e-3"/);
  t.match(err.message, /seed: \(unset\) → "1"/);
  t.match(err.message, /override \(--override\)/);
  t.same(stepsLogged(dir), [1, 2], 'a refused resume leaves the log alone');
  // Free keys: a longer run, other checkpoint interval, resume itself.
  const longer = await run({
    runDir: dir,
    resume: true,
    steps: 3,
    stopAfter: 1,
    config: { ...cfg, steps: '6', 'checkpoint-every': '1', resume: true },
  });
  longer.recipe.dispose();
  t.same(longer.warnings, [], 'steps and checkpoint-every may change without a warning');
  const { recipe, warnings } = await run({ runDir: dir, resume: true, override: true, config: { ...cfg, lr: '2e-3' } });
  recipe.dispose();
  t.match(warnings.join('\n'), /override: continuing from step 3 with changed settings.*lr: "1e-3" → "2e-3"/s);
  const override = readFileSync(join(dir, 'log.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .find((r) => r.kind === 'override');
  t.same(override, { kind: 'override', step: 3, changes: { lr: { from: '1e-3', to: '2e-3' } } });
  t.equal(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).lr, '2e-3', 'config.json holds the settings now in force');
});

t.test("without a config, the loop's own hyper-parameters are compared", async (t) => {
  const dir = fresh('hyper');
  (await run({ runDir: dir, stopAfter: 2 })).recipe.dispose();
  const err = await run({ runDir: dir, resume: true, lr: 5e-3, accumulate: 2 }).catch((e) => e);
  t.type(err, ResumeConfigError);
  t.match(err.message, /lr: 0\.001 → 0\.005/);
  t.match(err.message, /accumulate: 1 → 2/);
});

t.test('resume falls back past a damaged newest checkpoint to the newest that loads', async (t) => {
  // [damage, the step resumed from]: a corrupt latest.json leaves the newest folder, which loads.
  const damage: [string, number, (dir: string) => void][] = [
    ['latest.json names a missing folder', 2, (d) => rmSync(join(ckDir(d), 'checkpoint-00000004'), { recursive: true })],
    ['latest.json is not JSON', 4, (d) => writeFileSync(join(ckDir(d), 'latest.json'), '{"checkpoint": "checkp')],
    ['state.json is corrupt', 2, (d) => writeFileSync(join(ckDir(d), 'checkpoint-00000004', 'state.json'), '{"step": 4,')],
    [
      'model.safetensors is truncated',
      2,
      (d) => {
        const f = join(ckDir(d), 'checkpoint-00000004', 'model.safetensors');
        truncateSync(f, statSync(f).size - 100);
      },
    ],
    ['optimizer.safetensors is missing', 2, (d) => rmSync(join(ckDir(d), 'checkpoint-00000004', 'optimizer.safetensors'))],
  ];
  for (const [what, from, hurt] of damage) {
    const dir = fresh('fallback');
    (await run({ runDir: dir })).recipe.dispose();
    hurt(dir);
    const { recipe, warnings } = await run({ runDir: dir, resume: true });
    t.match(warnings.join('\n'), `resuming from checkpoint-0000000${from} (step ${from}) because`, `${what}: warned`);
    t.same(stepsLogged(dir), [1, 2, 3, 4], `${what}: each step logged once`);
    t.same(
      readdirSync(ckDir(dir)).sort(),
      ['checkpoint-00000002', 'checkpoint-00000004', 'latest.json'],
      `${what}: the damaged checkpoint replaced`,
    );
    t.same(JSON.parse(readFileSync(join(ckDir(dir), 'latest.json'), 'utf8')).step, 4, `${what}: latest.json names the new one`);
    t.equal(await maxDiff(straight, recipe), 0, `${what}: the same weights as the straight run`);
    recipe.dispose();
  }
  const dir = fresh('none');
  (await run({ runDir: dir })).recipe.dispose();
  for (const f of readdirSync(ckDir(dir)).filter((f) => f.startsWith('checkpoint-')))
    writeFileSync(join(ckDir(dir), f, 'state.json'), 'garbage');
  const err = await run({ runDir: dir, resume: true }).catch((e) => e);
  t.type(err, CheckpointError, 'no checkpoint loads: a typed error');
  t.match(err.message, /checkpoint-00000004 does not load.*checkpoint-00000002 does not load/s, 'saying why for each');
});

t.test('resume sweeps temporaries a killed run left and logs every step once', async (t) => {
  const dir = fresh('sweep');
  (await run({ runDir: dir })).recipe.dispose();
  // What a kill leaves: log records of steps after the last checkpoint, a torn last record,
  // half-written checkpoint folders and atomic-write temporaries (of dead and of live processes).
  rmSync(join(ckDir(dir), 'checkpoint-00000004'), { recursive: true });
  writeFileSync(join(ckDir(dir), 'latest.json'), JSON.stringify({ checkpoint: 'checkpoint-00000002', step: 2 }));
  writeFileSync(join(dir, 'log.jsonl'), `${readFileSync(join(dir, 'log.jsonl'), 'utf8')}{"kind":"step","step":5,"lr`);
  mkdirSync(join(ckDir(dir), '.checkpoint-00000004.tmp-999999'));
  writeFileSync(join(ckDir(dir), '.checkpoint-00000004.tmp-999999', 'model.safetensors'), 'partial');
  mkdirSync(join(ckDir(dir), `.checkpoint-00000006.tmp-${process.ppid}`));
  writeFileSync(join(ckDir(dir), '.latest.json.tmp-999999-1700000000000'), '{');
  writeFileSync(join(dir, '.model.safetensors.tmp-999999-1700000000000'), 'partial');
  const { recipe, warnings } = await run({ runDir: dir, resume: true });
  t.match(warnings.join('\n'), /removed 4 temporaries/);
  t.match(warnings.join('\n'), /dropped 2 records of steps after 2 \(run again now\) and 1 torn lines/);
  t.same(stepsLogged(dir), [1, 2, 3, 4]);
  t.same(
    readdirSync(ckDir(dir)).filter((f) => f.startsWith('.')),
    [],
    'no temporaries left in checkpoints/',
  );
  t.same(
    readdirSync(dir).filter((f) => f.startsWith('.')),
    [],
    'none in the run folder (and the lock is released)',
  );
  t.equal(await maxDiff(straight, recipe), 0, 'the same weights as the straight run');
  recipe.dispose();
});

t.test("a run folder in use by a live process is refused; a dead owner's lock is taken over", async (t) => {
  const dir = fresh('lock');
  writeFileSync(join(dir, '.lock'), String(process.ppid));
  const err = await run({ runDir: dir }).catch((e) => e);
  t.type(err, RunFolderError);
  t.match(err.message, `in use by process ${process.ppid}`);
  writeFileSync(join(dir, '.lock'), '999999');
  const { recipe } = await run({ runDir: dir, steps: 1 });
  recipe.dispose();
  t.notOk(existsSync(join(dir, '.lock')), 'released at the end');
});

t.test('an abort writes a checkpoint and rejects; the resume continues exactly', async (t) => {
  const dir = fresh('abort');
  const ac = new AbortController();
  const r = mk();
  const err = await train(r, {
    ...base,
    checkpointEvery: 100,
    runDir: dir,
    signal: ac.signal,
    onStep: (s) => s.step === 3 && ac.abort(),
  }).catch((e) => e);
  r.dispose();
  t.type(err, AbortedError);
  t.match(err.message, /after step 3 of 4.*holds step 3: resume continues from there/);
  t.equal(JSON.parse(readFileSync(join(ckDir(dir), 'latest.json'), 'utf8')).step, 3, 'checkpoint at the abort');
  t.notOk(existsSync(join(dir, '.lock')), 'the lock is released after an abort');
  const { recipe } = await run({ runDir: dir, resume: true, checkpointEvery: 100 });
  t.same(stepsLogged(dir), [1, 2, 3, 4]);
  t.equal(await maxDiff(straight, recipe), 0, 'the same weights as the straight run');
  recipe.dispose();
  const free = mk();
  const pre = new AbortController();
  pre.abort();
  await t.rejects(train(free, { ...base, signal: pre.signal }), {
    name: 'AbortedError',
    message: /after step 0 of 4; nothing saved \(no run folder\)/,
  });
  free.dispose();
});

t.test('resume before any checkpoint was written starts at step 0, saying so', async (t) => {
  const dir = fresh('early');
  writeFileSync(join(dir, 'log.jsonl'), '{"kind":"step","step":1,"lr":0,"losses":{"loss":1},"gradNorm":1,"seconds":0.1}\n');
  const { recipe, warnings } = await run({ runDir: dir, resume: true });
  t.match(warnings.join('\n'), /no checkpoint there yet; starting at step 0/);
  t.match(warnings.join('\n'), /dropped 1 records of steps after 0/);
  t.same(stepsLogged(dir), [1, 2, 3, 4]);
  t.equal(await maxDiff(straight, recipe), 0, 'the same weights as the straight run');
  recipe.dispose();
});
