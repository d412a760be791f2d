// `mvd demo`: the teacher study at laptop scale, printed as one table.
import { runDemo, DEMO_DEFAULTS, TEACHER_TARGETS, type DemoOptions, type DemoResult } from '../../methods/demo.js';
import {
  loadDemoTeachers,
  saveDemoTeachers,
  shippedDemoTeacherFiles,
  shippedDemoTeachersFor,
  teacherFileRecord,
  teacherSettingDifferences,
  teacherSettingsOf,
  trainDemoTeachers,
  type DemoTeachers,
} from '../../methods/demo-teachers.js';
import { packageVersion } from './info.js';
import { packageRoot } from '../../native.js';
import { DEMO_TASKS, type DemoTask } from '../../methods/demo-finetune.js';
import { compare, summarizeDemo, type Interval } from '../../methods/demo-stats.js';
import { table, fmt } from '../../bench/timing.js';
import { Progress } from '../progress.js';
import { UsageError, type FlagCommand } from '../command.js';
import { JSON_FLAG } from './common.js';
import { SYNTH_PALETTES } from '../../data/synthetic.js';

const pct = (c: Interval) => `${fmt(100 * c.mean, 1)} ± ${fmt(100 * c.half, 1)}`;

/** The demo's table and verdicts for one or more seeds' results (what `mvd demo` prints). */
export function formatDemo(results: DemoResult[]): string {
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
    const list = (xs: string[]) => (xs.length ? xs.join(', ') : 'none');
    const paired = sum.pairedVsRandom[task].filter((p) => p.diff.lo > 0);
    const pairedLine =
      results.length > 1
        ? `; paired with random init at each seed, difference above 0: ${list(paired.map((p) => `${p.encoder} +${fmt(100 * p.diff.mean, 1)} ± ${fmt(100 * p.diff.half, 1)}`))}`
        : '';
    return (
      `${task}: ${control}; beyond the interval above random init: fine-tuned ${list(sum.beatRandom[task])}; ` +
      `probed ${list(sum.probeBeatRandom[task])}${pairedLine}`
    );
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
    `teachers: ${results.map((r) => `seed ${r.seed} ${r.teacherSource} (sha256 ${r.teacherSha256.slice(0, 12)})`).join('; ')}\n` +
    `seeds: ${results.map((r) => r.seed).join(', ')}; time ${results.map((r) => `${r.seconds.toFixed(0)}s`).join(' + ')}`
  );
}

export const demoCommand: FlagCommand = {
  name: 'demo',
  summary: 'the teacher study at laptop scale: image vs video vs both teachers, fine-tuned and probed on appearance and motion',
  usage: 'mvd demo [--full] [--seed N] [--json] [--teachers FILE | --fresh-teachers | --train-teachers FILE]',
  flags: {
    full: {
      type: 'bool',
      help: 'three seeds (1, 2, 3), each from its shipped teachers, with a 95% interval over them per cell and paired differences to random init (about 3 times the default run)',
    },
    seed: { type: 'int', min: 0, help: 'seed of the single run', default: 1 },
    'teacher-steps': { type: 'int', min: 1, help: 'teacher pretraining steps', default: DEMO_DEFAULTS.teacherSteps },
    'teacher-mask-ratio': {
      type: 'number',
      above: 0,
      below: 1,
      help: "VideoMAE teacher's tube mask ratio (the students keep 0.9)",
      default: DEMO_DEFAULTS.teacherMaskRatio,
    },
    teachers: {
      type: 'in-file',
      what: 'teacher file',
      help: 'teachers written by --train-teachers (default: the shipped file, where the run has its settings)',
    },
    'fresh-teachers': { type: 'bool', help: 'train the teachers in this run even where the shipped file fits' },
    'train-teachers': {
      type: 'out-file',
      help: "train the seed's teachers, write them to this file (settings, command and hash in its metadata) and stop",
    },
    'student-steps': { type: 'int', min: 1, help: 'distillation steps per student', default: DEMO_DEFAULTS.studentSteps },
    'finetune-steps': { type: 'int', min: 1, help: 'fine-tuning steps per encoder and task', default: DEMO_DEFAULTS.finetuneSteps },
    'labelled-clips': {
      type: 'int',
      min: 1,
      max: DEMO_DEFAULTS.trainClips,
      default: DEMO_DEFAULTS.labelledClips ?? DEMO_DEFAULTS.trainClips,
      help: `labelled clips fine-tuning draws from (reused each epoch; ${DEMO_DEFAULTS.trainClips}: the whole pool, every clip fresh)`,
    },
    'shrink-perturb': {
      type: 'numbers',
      length: 2,
      min: 0,
      help: "each pretrained encoder's fine-tuning starts from A × its weights + B × random init's (1,0: as they are)",
      default: [DEMO_DEFAULTS.finetuneShrinkPerturb?.shrink ?? 1, DEMO_DEFAULTS.finetuneShrinkPerturb?.perturb ?? 0],
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
    const sources = ['teachers', 'fresh-teachers', 'train-teachers'].filter((k) => f.given(k));
    if (sources.length > 1) throw new UsageError(`--${sources.join(' and --')} contradict each other: pass one`);
    if (f.given('train-teachers') && f.bool('full')) throw new UsageError("--train-teachers writes one seed's teachers: drop --full");
  },
  async run(f) {
    const full = f.bool('full');
    const seeds = full ? [1, 2, 3] : [f.num('seed')];
    const json = f.bool('json');
    const base: Omit<DemoOptions, 'seed'> = {
      ...DEMO_DEFAULTS,
      teacherSteps: f.num('teacher-steps'),
      teacherMaskRatio: f.num('teacher-mask-ratio'),
      studentSteps: f.num('student-steps'),
      finetuneSteps: f.num('finetune-steps'),
      labelledClips: f.num('labelled-clips'),
      finetuneShrinkPerturb: shrinkPerturbOf(f.numbers('shrink-perturb')),
      palette: f.word<(typeof SYNTH_PALETTES)[number]>('palette'),
      teacherTargets: f.word<(typeof TEACHER_TARGETS)[number]>('teacher-targets'),
    };
    const out = f.given('train-teachers') ? f.str('train-teachers') : null;
    if (out) return trainTeachersTo(out, { ...base, seed: seeds[0] }, json);
    const file = f.given('teachers') ? f.str('teachers') : null;
    const results: DemoResult[] = [];
    for (const seed of seeds) {
      const p = new Progress(!!process.stderr.isTTY, json);
      const teachers = f.bool('fresh-teachers') ? null : await teachersFor({ ...base, seed }, file, json);
      try {
        results.push(
          await runDemo({
            ...base,
            seed,
            teachers: teachers ?? undefined,
            onProgress: (stage, steps, rec) => p.update(`seed ${seed}: ${stage}`, steps, rec, DEMO_DEFAULTS.batch),
          }),
        );
      } finally {
        teachers?.dispose();
      }
      p.done();
    }
    console.log(json ? JSON.stringify(results, null, 2) : formatDemo(results));
    return 0;
  },
};

/** `--shrink-perturb A,B`: 1,0 is the pretrained weights as they are. */
function shrinkPerturbOf([shrink, perturb]: number[]): DemoOptions['finetuneShrinkPerturb'] {
  if (shrink + perturb === 0) throw new UsageError('--shrink-perturb 0,0 would start every pretrained row from zeros: give A or B above 0');
  return shrink === 1 && perturb === 0 ? null : { shrink, perturb };
}

/**
 * The teachers a seed's run starts from: the named file (which must fit the run's settings; runDemo
 * names each difference), else the shipped file where its settings are the run's, else none (the
 * run trains its own, and its table says so). A missing shipped file is an error, not a retraining.
 */
async function teachersFor(o: DemoOptions, file: string | null, json: boolean): Promise<DemoTeachers | null> {
  if (file) return loadDemoTeachers(file);
  const shipped = shippedDemoTeacherFiles();
  if (!shipped.length)
    throw new UsageError(
      `the demo's teacher files (weights/demo-teachers-s*.safetensors in ${packageRoot}) are missing from this installation: reinstall mvd, or train them here with --fresh-teachers`,
    );
  const fit = await shippedDemoTeachersFor(o);
  if (fit) return loadDemoTeachers(fit);
  if (!json) {
    const first = await teacherFileRecord(shipped[0]);
    const diff = first ? teacherSettingDifferences(first.settings, teacherSettingsOf(o)).join('; ') : 'unreadable settings';
    console.error(
      `seed ${o.seed}: training the teachers in this run (no shipped teacher file has this run's settings; against ${shipped[0]}: ${diff})`,
    );
  }
  return null;
}

/** `--train-teachers FILE`: one seed's teachers, written with their settings and hash; says whether the shipped file has the same bytes. */
async function trainTeachersTo(path: string, o: DemoOptions, json: boolean): Promise<number> {
  // The recorded hash of the shipped file of these settings, read before writing (the output may be that file itself).
  const sp = await shippedDemoTeachersFor(o);
  const shipped = sp ? await teacherFileRecord(sp) : null;
  const p = new Progress(!!process.stderr.isTTY, json);
  const t = await trainDemoTeachers(o, (stage, steps, rec) => p.update(stage, steps, rec, o.batch));
  p.done();
  try {
    const command = `mvd demo ${process.argv.slice(3).join(' ')}`.trim();
    const sha256 = await saveDemoTeachers(path, t, { command, version: packageVersion() });
    const same =
      shipped === null
        ? 'no shipped file has these settings'
        : shipped.sha256 === sha256
          ? "equal to the shipped file's"
          : `the shipped file's is ${shipped.sha256}: not bit-identical (thread count and CPU kernels change float sums)`;
    const report = { path, sha256, loss: t.loss, settings: t.settings, shipped: same };
    console.log(
      json
        ? JSON.stringify(report, null, 2)
        : `wrote ${path}\nsha256 ${sha256} (${same})\nlosses: image ${t.loss.image.toFixed(4)}, video ${t.loss.video.toFixed(4)}`,
    );
    return 0;
  } finally {
    t.dispose();
  }
}
