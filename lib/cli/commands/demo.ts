// `mvd demo`: the teacher study at laptop scale, printed as one table.
import { runDemo, DEMO_DEFAULTS, TEACHER_TARGETS, type DemoResult } from '../../methods/demo.js';
import { DEMO_TASKS, type DemoTask } from '../../methods/demo-finetune.js';
import { compare, summarizeDemo, type Interval } from '../../methods/demo-stats.js';
import { table, fmt } from '../../bench/timing.js';
import { Progress } from '../progress.js';
import { UsageError, type FlagCommand } from '../command.js';
import { JSON_FLAG } from './common.js';
import { SYNTH_PALETTES } from '../../data/synthetic.js';

const pct = (c: Interval) => `${fmt(100 * c.mean, 1)} ± ${fmt(100 * c.half, 1)}`;

function formatDemo(results: DemoResult[]): string {
  const sum = summarizeDemo(
    results.map((r) => r.rows),
    results[0].valClips,
  );
  const meanOf = (xs: (number | null)[], digits: number) =>
    xs[0] === null ? '-' : fmt(xs.reduce((a: number, b) => a + b!, 0) / xs.length, digits);
  const rows = sum.rows.map((r, i) => [
    r.encoder,
    pct(r.finetuned.appearance),
    pct(r.finetuned.motion),
    pct(r.probe.appearance),
    pct(r.probe.motion),
    meanOf(
      results.map((x) => x.rows[i].pretrainLoss),
      3,
    ),
    meanOf(
      results.map((x) => x.rows[i].frameSimilarity),
      3,
    ),
  ]);
  const by = (name: string) => sum.rows.find((r) => r.encoder === name)!;
  const words = { above: 'above', below: 'below', within: 'within the intervals of' } as const;
  const vs = (task: DemoTask, a: string, b: string) => {
    const [x, y] = [by(a).finetuned[task], by(b).finetuned[task]];
    return `${a} ${pct(x)} is ${words[compare(x, y)]} ${b} ${pct(y)}`;
  };
  const lines = DEMO_TASKS.map((task) => {
    const control = `random init ${pct(sum.rows[0].finetuned[task])} is ${sum.controlAboveChance[task] ? 'above' : 'NOT above'} chance`;
    const beat = sum.beatRandom[task];
    return `${task}: ${control}; beyond the interval above random init: ${beat.length ? beat.join(', ') : 'none'}`;
  });
  const pattern = [
    `appearance: ${vs('appearance', 'student ← image teacher', 'student ← video teacher')}`,
    `motion: ${vs('motion', 'student ← video teacher', 'student ← image teacher')}`,
    ...DEMO_TASKS.map(
      (t) => `${t}: ${vs(t, 'student ← both (co-taught)', t === 'appearance' ? 'student ← image teacher' : 'student ← video teacher')}`,
    ),
  ];
  const sim = (k: 'image' | 'video') => fmt(results.reduce((a, r) => a + r.teacherFrameSimilarity[k], 0) / results.length, 3);
  const how = results.length > 1 ? `t over ${results.length} seeds` : `binomial over ${results[0].valClips} val clips`;
  return (
    table(
      [
        'encoder',
        'appearance, fine-tuned',
        'motion, fine-tuned',
        'appearance, probe',
        'motion, probe',
        'pretrain loss',
        'cross-frame sim.',
      ],
      rows,
    ) +
    `\n\nval top-1 %, mean ± half-width of the 95% interval (${how}); chance is 25% on both tasks. ` +
    `Every encoder is fine-tuned end to end for the same steps on each task; the probe is a linear classifier on the frozen encoder.\n` +
    `${lines.join('\n')}\nthe paper's pattern (fine-tuned):\n  ${pattern.join('\n  ')}\n` +
    `cross-frame similarity of the teachers themselves (Figure 3: lower = more temporal difference): image teacher ${sim('image')}, video teacher ${sim('video')}\n` +
    `seeds: ${results.map((r) => r.seed).join(', ')}; time ${results.map((r) => `${r.seconds.toFixed(0)}s`).join(' + ')}`
  );
}

export const demoCommand: FlagCommand = {
  name: 'demo',
  summary: 'the teacher study at laptop scale: image vs video vs both teachers, fine-tuned and probed on appearance and motion',
  usage: 'mvd demo [--full] [--seed N] [--json]',
  flags: {
    full: { type: 'bool', help: 'three seeds (1, 2, 3) with a 95% interval over them per cell (about 3 times the default run)' },
    seed: { type: 'int', min: 0, help: 'seed of the single run', default: 1 },
    'teacher-steps': { type: 'int', min: 1, help: 'teacher pretraining steps', default: DEMO_DEFAULTS.teacherSteps },
    'student-steps': { type: 'int', min: 1, help: 'distillation steps per student', default: DEMO_DEFAULTS.studentSteps },
    'finetune-steps': { type: 'int', min: 1, help: 'fine-tuning steps per encoder and task', default: DEMO_DEFAULTS.finetuneSteps },
    'labelled-clips': {
      type: 'int',
      min: 1,
      max: DEMO_DEFAULTS.trainClips,
      default: DEMO_DEFAULTS.labelledClips ?? DEMO_DEFAULTS.trainClips,
      help: `labelled clips fine-tuning draws from (reused each epoch; ${DEMO_DEFAULTS.trainClips}: the whole pool, every clip fresh)`,
    },
    palette: {
      type: 'word',
      words: SYNTH_PALETTES,
      help: 'object colours of the synthetic set: random (the hard set) or fixed (white/black)',
      default: DEMO_DEFAULTS.palette,
    },
    'teacher-targets': {
      type: 'word',
      words: TEACHER_TARGETS,
      help: "teachers' pixel targets: normalized (per patch, the papers' recipe) or raw",
      default: DEMO_DEFAULTS.teacherTargets,
    },
    json: JSON_FLAG,
  },
  check(f) {
    if (f.bool('full') && f.given('seed')) throw new UsageError('--full runs seeds 1, 2 and 3: drop --seed');
  },
  async run(f) {
    const full = f.bool('full');
    const seeds = full ? [1, 2, 3] : [f.num('seed')];
    const teacherSteps = f.num('teacher-steps'),
      studentSteps = f.num('student-steps'),
      finetuneSteps = f.num('finetune-steps');
    const labelledClips = f.num('labelled-clips');
    const palette = f.word<(typeof SYNTH_PALETTES)[number]>('palette');
    const teacherTargets = f.word<(typeof TEACHER_TARGETS)[number]>('teacher-targets');
    const json = f.bool('json');
    const results: DemoResult[] = [];
    for (const seed of seeds) {
      const p = new Progress(!!process.stderr.isTTY, json);
      results.push(
        await runDemo({
          seed,
          teacherSteps,
          studentSteps,
          finetuneSteps,
          labelledClips,
          palette,
          teacherTargets,
          onProgress: (stage, steps, rec) => p.update(`seed ${seed}: ${stage}`, steps, rec, DEMO_DEFAULTS.batch),
        }),
      );
      p.done();
    }
    console.log(json ? JSON.stringify(results, null, 2) : formatDemo(results));
    return 0;
  },
};
