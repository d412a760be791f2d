// `mvd demo`: the teacher study at laptop scale, printed as one table.
import { runDemo, DEMO_DEFAULTS, TEACHER_TARGETS, type DemoResult } from '../../methods/demo.js';
import { table, fmt } from '../../bench/timing.js';
import { Progress } from '../progress.js';
import { UsageError, type FlagCommand } from '../command.js';
import { JSON_FLAG } from './common.js';
import { SYNTH_PALETTES } from '../../data/synthetic.js';

function formatDemo(results: DemoResult[]): string {
  const names = results[0].rows.map((r) => r.student);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const stat = (xs: number[], scale = 100, digits = 1) => {
    const m = mean(xs);
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
    return xs.length > 1 ? `${fmt(scale * m, digits)} ± ${fmt(scale * sd, digits)}` : fmt(scale * m, digits);
  };
  // val top-1, then the probe's train top-1 in brackets (far above val: the probe fits clip identity).
  const cell = (i: number, k: 'appearance' | 'motion') =>
    `${stat(results.map((r) => r.rows[i][k]))} (${fmt(100 * mean(results.map((r) => r.rows[i][`${k}Train`])), 0)})`;
  const rows = names.map((n, i) => [
    n,
    cell(i, 'appearance'),
    cell(i, 'motion'),
    results[0].rows[i].distillLoss === null ? '-' : stat(results.map((r) => r.rows[i].distillLoss!), 1, 3),
    stat(results.map((r) => r.rows[i].frameSimilarity), 1, 3),
  ]);
  const band = results[0].chanceBand;
  const above = (k: 'appearance' | 'motion') => names.filter((_, i) => mean(results.map((r) => r.rows[i][k])) > 0.25 + band);
  const verdict = (k: 'appearance' | 'motion') => {
    const a = above(k);
    return a.length ? `${k}: above the chance band: ${a.join(', ')}` : `${k}: NO row is above the chance band — nothing learned is measured on this task at this budget`;
  };
  const teacherSim = `cross-frame similarity of the teachers themselves (Figure 3: lower = more temporal difference): ` +
    `image teacher ${stat(results.map((r) => r.teacherFrameSimilarity.image), 1, 3)}, video teacher ${stat(results.map((r) => r.teacherFrameSimilarity.video), 1, 3)}`;
  return table(['encoder (linear probe, val top-1 % (train))', 'appearance task', 'motion task', 'final loss', 'cross-frame sim.'], rows) +
    `\n\nchance is 25% on both tasks; a chance-level probe lands in 25 ± ${fmt(100 * band, 1)}% (95%, one seed); ` +
    `supervised rows are the ceiling of this encoder and budget (docs/DEMO.md)\n${verdict('appearance')}\n${verdict('motion')}\n${teacherSim}\n` +
    `seeds: ${results.map((r) => r.seed).join(', ')}; ${results.length > 1 ? 'mean ± sd over seeds; ' : ''}` +
    `time ${results.map((r) => `${r.seconds.toFixed(0)}s`).join(' + ')}`;
}

export const demoCommand: FlagCommand = {
  name: 'demo',
  summary: 'the teacher study at laptop scale: image vs video vs both teachers, probed on appearance and motion',
  usage: 'mvd demo [--full] [--seed N] [--json]',
  flags: {
    full: { type: 'bool', help: 'three seeds, twice the steps, mean and spread (about 15 minutes on 2 cores)' },
    seed: { type: 'int', min: 0, help: 'seed of the single run', default: 1 },
    'teacher-steps': { type: 'int', min: 1, help: 'teacher pretraining steps', defaultNote: `${DEMO_DEFAULTS.teacherSteps}; twice that with --full` },
    'student-steps': { type: 'int', min: 1, help: 'distillation steps per student', defaultNote: `${DEMO_DEFAULTS.studentSteps}; twice that with --full` },
    palette: { type: 'word', words: SYNTH_PALETTES, help: 'object colours of the synthetic set: random (the hard set) or fixed (white/black)', default: DEMO_DEFAULTS.palette },
    'teacher-targets': { type: 'word', words: TEACHER_TARGETS, help: "teachers' pixel targets: normalized (per patch, the papers' recipe) or raw", default: DEMO_DEFAULTS.teacherTargets },
    json: JSON_FLAG,
  },
  check(f) {
    if (f.bool('full') && f.given('seed')) throw new UsageError('--full runs seeds 1, 2 and 3: drop --seed');
  },
  async run(f) {
    const full = f.bool('full');
    const seeds = full ? [1, 2, 3] : [f.num('seed')];
    const teacherSteps = f.optNum('teacher-steps') ?? DEMO_DEFAULTS.teacherSteps * (full ? 2 : 1);
    const studentSteps = f.optNum('student-steps') ?? DEMO_DEFAULTS.studentSteps * (full ? 2 : 1);
    const palette = f.word<(typeof SYNTH_PALETTES)[number]>('palette');
    const teacherTargets = f.word<(typeof TEACHER_TARGETS)[number]>('teacher-targets');
    const json = f.bool('json');
    const results: DemoResult[] = [];
    for (const seed of seeds) {
      const p = new Progress(!!process.stderr.isTTY, json);
      results.push(await runDemo({
        seed, teacherSteps, studentSteps, palette, teacherTargets,
        onProgress: (stage, rec) => p.update(`seed ${seed}: ${stage}`, stage.startsWith('probe') ? 0 : stage.includes('teacher (') ? teacherSteps : studentSteps, rec, DEMO_DEFAULTS.batch),
      }));
      p.done();
    }
    console.log(json ? JSON.stringify(results, null, 2) : formatDemo(results));
    return 0;
  },
};
