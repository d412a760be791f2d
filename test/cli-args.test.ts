// The CLI as a hostile user meets it: each bad invocation must end by itself, quickly, with exit
// code 2 (bad invocation) or 1 (the run failed), exactly one line on stderr and no stack trace;
// and the documented invocations must still work.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../lib/native.js';

const cli = join(packageRoot, 'dist', 'cli', 'main.js');
const LIMIT_MS = 20000;

interface Ran {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function mvd(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return new Promise((done) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [cli, ...args], {
      env: { ...process.env, MVD_DEBUG: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    // A hung child is killed so the test reports it instead of hanging too.
    const timer = setTimeout(() => child.kill('SIGKILL'), LIMIT_MS);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      done({ status, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** Runs `jobs` two at a time (the machines that run the tests have few cores). */
async function pairs<T>(jobs: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await jobs[i]();
    }
  };
  await Promise.all([worker(), worker()]);
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'mvd-cli-args-'));
const f = (name: string) => join(dir, name);
writeFileSync(f('a-file'), 'not a folder\n');
writeFileSync(f('garbage.safetensors'), 'this is not a safetensors file at all, just text that is long enough');
writeFileSync(f('bad.json'), '{ "steps": 3, ');
writeFileSync(f('unknown-key.json'), JSON.stringify({ stpes: 3 }));
writeFileSync(f('wrong-type.json'), JSON.stringify({ steps: 'abc' }));
writeFileSync(f('range.json'), JSON.stringify({ 'mask-ratio': 1.5 }));
writeFileSync(f('array.json'), JSON.stringify([1, 2]));
writeFileSync(f('nested.json'), JSON.stringify({ config: 'other.json' }));
mkdirSync(f('a-dir'));
const fifo = f('fifo');
const haveFifo = spawnSync('mkfifo', [fifo]).status === 0;

const missing = f('missing.safetensors');
const P = ['pretrain', '--method', 'mae'];
const V = ['--frames', '4', '--size', '32', '--batch', '2', '--clips', '4', '--steps', '1'];

/** [argv, exit code, pattern the one stderr line must match]. */
const BAD: [string[], 1 | 2, RegExp][] = [
  // The hostile tester's list.
  [[...P, '--steps', 'abc'], 2, /--steps: expected an integer >= 1, got 'abc'/],
  [[...P, '--steps', '0'], 2, /--steps: expected an integer >= 1, got '0'/],
  [[...P, '--steps=-5'], 2, /--steps: .*'-5'/],
  [[...P, '--lr=-1'], 2, /--lr: expected a number > 0/],
  [[...P, '--batch=-1'], 2, /--batch: expected an integer >= 1/],
  [[...P, '--batch', '0'], 2, /--batch/],
  [[...P, '--mask-ratio', '0'], 2, /--mask-ratio: expected a number in \(0, 1\)/],
  [[...P, '--mask-ratio', '1.0'], 2, /--mask-ratio/],
  [[...P, '--mask-ratio', '1.5'], 2, /--mask-ratio/],
  [[...P, '--mask-ratio', 'abc'], 2, /--mask-ratio/],
  [[...P, '--accumulate', '0'], 2, /--accumulate/],
  [['finetune', '--smoothing', '2'], 2, /--smoothing: expected a number in \[0, 1\)/],
  [[...P, '--resume'], 2, /--resume needs --out/],
  [['extract', '--checkpoint', missing, '--video', 'x.mp4', '--out', f('x.safetensors')], 1, /checkpoint .*missing\.safetensors not found/],
  [['probe', '--checkpoint', missing], 1, /not found/],
  [['distill', '--teachers', 'video', '--video-teacher', missing], 1, /video teacher .* not found/],
  [[...P, '--config', f('bad.json')], 2, /--config .*bad\.json: not valid JSON/],
  [[...P, '--config', f('unknown-key.json')], 2, /unknown key 'stpes' \(did you mean 'steps'\?\); valid keys: .*mask-ratio/],
  [[...P, '--out', f('a-file')], 2, /--out .*a-file is a file, expected a folder/],
  [[...P, '--out', '/proc/mvd-x'], 2, /--out \/proc\/mvd-x: cannot create the folder/],
  [[...P, '--stpes', '3'], 2, /^mvd pretrain: unknown flag --stpes \(did you mean --steps\?\) \(see mvd pretrain --help\)$/],
  [
    ['extract', '--checkpoint', f('garbage.safetensors'), '--video', 'x.mp4', '--out', f('o.safetensors'), '--pos', 'bogus'],
    2,
    /--pos: unknown value 'bogus', expected one of: sincos3d, sinusoid1d/,
  ],
  [
    ['extract', '--checkpoint', f('garbage.safetensors'), '--video', 'x.mp4', '--out', f('o.safetensors'), '--layer', 'bogus'],
    2,
    /--layer: unknown value 'bogus'/,
  ],
  // --config, more ways.
  [[...P, '--config', f('wrong-type.json')], 2, /key 'steps': expected an integer >= 1, got "abc"/],
  [[...P, '--config', f('range.json')], 2, /key 'mask-ratio'/],
  [[...P, '--config', f('array.json')], 2, /expected a JSON object/],
  [[...P, '--config', f('nested.json')], 2, /unknown key 'config'/],
  [[...P, '--config', f('nope.json')], 1, /config file .*nope\.json not found/],
  [[...P, '--config', f('a-dir')], 2, /is a folder, expected a regular file/],
  // Every word-valued flag rejects unknown words.
  [['pretrain', '--method', 'bogus'], 2, /--method: unknown value 'bogus'/],
  [['pretrain'], 2, /--method is required/],
  [[...P, '--device', 'bogus'], 2, /--device: unknown value 'bogus', expected one of: cpu, cuda, cuda:N, auto/],
  [[...P, '--device', 'cuda:x'], 2, /--device/],
  [[...P, '--model', 'gigantic'], 2, /--model: unknown value 'gigantic'/],
  [[...P, '--on-bad-video', 'maybe'], 2, /--on-bad-video/],
  [[...P, '--data', 'lists'], 2, /--data: unknown value 'lists', expected one of: synthetic, list \(did you mean 'list'\?\)/],
  [['distill', '--teachers', 'bogus'], 2, /--teachers: unknown value/],
  [['distill', '--loss', 'huber'], 2, /--loss: unknown value/],
  [['finetune', '--label', 'colour'], 2, /--label: unknown value/],
  [['finetune', '--sampling', 'zigzag'], 2, /--sampling/],
  [['probe', '--checkpoint', missing, '--label', 'colour'], 2, /--label/],
  [['eval', '--checkpoint', missing, '--pos', 'bogus'], 2, /--pos/],
  [['demo', '--palette', 'neon'], 2, /--palette/],
  [['demo', '--teacher-targets', 'x'], 2, /--teacher-targets/],
  [['info', '--model', 'gigantic'], 2, /--model/],
  [['plot', 'bogus'], 2, /unknown plot 'bogus', expected one of: curves, similarity, recon/],
  // Ranges and shapes of values.
  [[...P, '--seed', '1.5'], 2, /--seed: expected an integer/],
  [[...P, '--weight-decay', '-0.1'], 2, /--weight-decay/],
  [[...P, '--frames', '0'], 2, /--frames/],
  [[...P, '--checkpoint-every', '0'], 2, /--checkpoint-every/],
  [[...P, '--lr', '1e999'], 2, /--lr/],
  [[...P, '--min-lr', '-1'], 2, /--min-lr/],
  [['finetune', '--crop-scale', '0.5'], 2, /--crop-scale: expected 2 comma-separated numbers/],
  [['finetune', '--crop-scale', '0.9,0.1'], 2, /lo must not exceed hi/],
  [['finetune', '--mix-prob', '1.5'], 2, /--mix-prob/],
  [['finetune', '--list', f('a-file'), '--classes', '1'], 2, /--classes/],
  [['eval', '--checkpoint', missing, '--num-clips', '0'], 2, /--num-clips/],
  [['synth', '--out', f('s'), '--size', '33'], 2, /--size: .*multiple of 2/],
  [['synth', '--out', f('s'), '--videos', '0'], 2, /--videos/],
  [['plot', 'curves', '--run', f('a-dir'), '--width', '10'], 2, /--width/],
  // Argument syntax.
  [[...P, '--json=yes'], 2, /--json takes no value/],
  [[...P, '--steps'], 2, /--steps needs a value/],
  [[...P, '--steps', '--json'], 2, /--steps needs a value/],
  [[...P, '--steps', '3', '--steps', '4'], 2, /--steps is given twice/],
  [[...P, 'extra'], 2, /unexpected argument 'extra'/],
  [['finetune', '--mask-ratio', '0.5'], 2, /unknown flag --mask-ratio/],
  [['pretrian'], 2, /unknown command 'pretrian' \(did you mean 'pretrain'\?\)/],
  [['bench', '--bogus'], 2, /^mvd bench: unknown flag --bogus/],
  // Rules between flags.
  [[...P, '--data', 'list'], 2, /--data list needs --list/],
  [[...P, '--root', f('a-dir')], 2, /--root is only read with --data list/],
  [[...P, '--warmup', '50', '--steps', '10'], 2, /--warmup 50 is more than --steps 10/],
  [[...P, '--force', '--resume', '--out', f('run-x')], 2, /--force starts over and --resume continues/],
  [[...P, '--override'], 2, /--override only applies with --resume/],
  [['distill', '--teachers', 'both'], 2, /--image-teacher WEIGHTS is required/],
  [
    ['distill', '--teachers', 'video', '--video-teacher', missing, '--image-teacher', missing],
    2,
    /--image-teacher is not used with --teachers video/,
  ],
  [['extract', '--checkpoint', missing, '--out', f('o.safetensors')], 2, /exactly one of --input .*--video .*--list/],
  [
    ['extract', '--checkpoint', missing, '--input', missing, '--out', f('o.safetensors'), '--clips', '2'],
    2,
    /--clips and --crops apply to videos/,
  ],
  [
    ['extract', '--checkpoint', missing, '--video', missing, '--out', f('o.safetensors'), '--root', '/tmp'],
    2,
    /--root applies to --list only/,
  ],
  [['eval', '--checkpoint', missing, '--list', missing, '--label', 'motion'], 2, /--label applies to synthetic data only/],
  [['demo', '--full', '--seed', '2'], 2, /--full runs seeds 1, 2 and 3/],
  [['info', '--frames', '8'], 2, /--frames applies with --model only/],
  [['plot', 'curves'], 2, /--run RUN is required/],
  [['plot', 'curves', '--run', f('a-dir'), '--checkpoint', missing], 2, /--checkpoint does not apply to mvd plot curves/],
  [['plot', 'similarity'], 2, /--checkpoint W\.safetensors is required/],
  [['synth'], 2, /--out is required/],
  [['eval'], 2, /--checkpoint is required/],
  // Paths: missing is a failed run (1), the wrong kind of thing a bad invocation (2).
  [['eval', '--checkpoint', missing], 1, /checkpoint .*missing\.safetensors not found/],
  [['finetune', '--checkpoint', missing], 1, /not found/],
  [[...P, '--list', f('nope.txt')], 1, /list file .*nope\.txt not found/],
  [[...P, '--list', f('a-dir')], 2, /--list .*a-dir is a folder/],
  [['finetune', '--list', f('a-file'), '--root', f('a-file')], 2, /--root .*a-file is a file, expected a folder/],
  [['plot', 'curves', '--run', f('no-run')], 1, /run folder .*no-run not found/],
  [['plot', 'curves', '--run', f('a-file')], 2, /--run .*a-file is a file/],
  [['plot', 'similarity', '--checkpoint', missing], 1, /checkpoint .* not found/],
  [['extract', '--checkpoint', '/dev/null', '--video', 'x.mp4', '--out', f('o.safetensors')], 2, /--checkpoint \/dev\/null is a device/],
  [
    ['extract', '--checkpoint', f('garbage.safetensors'), '--video', f('a-file'), '--out', f('a-dir')],
    2,
    /--out .*a-dir is a folder, expected a file path/,
  ],
  [
    ['extract', '--checkpoint', f('garbage.safetensors'), '--video', f('a-file'), '--out', '/proc/mvd-x/f.safetensors'],
    2,
    /cannot create the folder/,
  ],
  [['synth', '--out', f('a-file')], 2, /is a file, expected a folder/],
  // Runtime failures inside the library: one line, exit 1.
  [
    ['probe', '--checkpoint', f('garbage.safetensors'), '--frames', '4', '--size', '32', '--clips', '4', '--steps', '1'],
    1,
    /safetensors|header|garbage/i,
  ],
  [['eval', '--checkpoint', f('garbage.safetensors')], 1, /safetensors|header|garbage/i],
];
if (haveFifo) {
  BAD.push(
    [[...P, '--config', fifo], 2, /--config .*fifo is a FIFO, expected a regular file/],
    [['eval', '--checkpoint', fifo], 2, /is a FIFO/],
    [['extract', '--checkpoint', fifo, '--video', 'x.mp4', '--out', f('o.safetensors')], 2, /is a FIFO/],
    [['distill', '--teachers', 'video', '--video-teacher', fifo], 2, /is a FIFO/],
    [
      ['extract', '--checkpoint', f('garbage.safetensors'), '--video', f('a-file'), '--out', fifo],
      2,
      /--out .*fifo is a FIFO, expected a file path/,
    ],
  );
}

t.test(
  `${BAD.length} bad invocations: exit 2 or 1, one stderr line, no stack trace, no signal, no hang`,
  { skip: existsSync(cli) ? false : 'dist/ not built (npx tsc -p tsconfig.build.json)' },
  async (t) => {
    t.ok(BAD.length >= 60, `${BAD.length} cases`);
    const results = await pairs(
      BAD.map(
        ([args]) =>
          () =>
            mvd(args),
      ),
    );
    BAD.forEach(([args, code, pattern], i) => {
      const r = results[i];
      const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
      const what = `mvd ${args.join(' ')}`;
      t.equal(r.signal, null, `${what}: not killed by a signal (hung past ${LIMIT_MS} ms if SIGKILL)`);
      t.equal(r.status, code, `${what}: exit ${code} (stderr: ${r.stderr.slice(0, 300)})`);
      t.equal(lines.length, 1, `${what}: exactly one stderr line`);
      t.notMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
      t.match(lines[0] ?? '', new RegExp(`^mvd( ${args[0]})?: `), `${what}: the line names the command`);
      t.match(lines[0] ?? '', pattern, `${what}: says ${pattern}`);
      if (code === 2) t.match(lines[0] ?? '', /\(see mvd( \S+)? --help\)$/, `${what}: points at --help`);
      t.ok(r.ms < LIMIT_MS, `${what}: ended in ${r.ms} ms`);
    });
  },
);

t.test('MVD_DEBUG=1 adds the stack trace', { skip: existsSync(cli) ? false : 'dist/ not built' }, async (t) => {
  const r = await mvd([...P, '--steps', 'abc'], { MVD_DEBUG: '1' });
  t.equal(r.status, 2);
  t.match(r.stderr, /\n\s+at /);
});

t.test(
  'valid invocations from the README still work (smallest sizes)',
  { skip: existsSync(cli) ? false : 'dist/ not built' },
  async (t) => {
    const help = await pairs(
      ['pretrain', 'distill', 'finetune', 'eval', 'probe', 'extract', 'plot', 'synth', 'demo', 'info'].map((c) => () => mvd([c, '--help'])),
    );
    for (const h of help) t.equal(h.status, 0, h.stderr);
    t.match(help[0].stdout, /--steps <int>\s+optimiser steps; an integer >= 1 \(default 100\)/, '--help shows type, range and default');
    t.match(help[0].stdout, /--mask-ratio <x>\s+.*a number in \(0, 1\) \(default: 0\.75 for mae, else 0\.9\)/);
    const info = await mvd(['info', '--model', 'tiny', '--frames', '8', '--size', '64', '--json']);
    t.equal(info.status, 0, info.stderr);
    t.equal(JSON.parse(info.stdout).frames, 8);

    const run = f('run-vmae');
    const a = await mvd([
      'pretrain',
      '--method',
      'videomae',
      ...V,
      '--mask-ratio',
      '0.5',
      '--checkpoint-every',
      '1',
      '--out',
      run,
      '--json',
    ]);
    t.equal(a.status, 0, a.stderr);
    t.equal(JSON.parse(a.stdout).steps, 1);
    t.ok(existsSync(join(run, 'model.safetensors')));
    const b = await mvd([
      'pretrain',
      '--method',
      'videomae',
      ...V.slice(0, -1),
      '2',
      '--mask-ratio',
      '0.5',
      '--checkpoint-every',
      '1',
      '--out',
      run,
      '--resume',
      '--json',
    ]);
    t.equal(b.status, 0, b.stderr);
    t.equal(JSON.parse(b.stdout).startStep, 1, 'resumed at step 1');
    const again = await mvd(['pretrain', '--method', 'videomae', ...V, '--mask-ratio', '0.5', '--out', run]);
    t.not(again.status, 0, 'a run folder holding a run is not silently reused');
    t.equal(again.stderr.trim().split('\n').length, 1, again.stderr);

    writeFileSync(f('run.json'), JSON.stringify({ frames: 4, size: 32, batch: 2, clips: 4, steps: 1, 'mask-ratio': 0.5, model: 'tiny' }));
    const c = await mvd(['pretrain', '--method', 'mae', '--config', f('run.json'), '--steps', '2', '--json']);
    t.equal(c.status, 0, c.stderr);
    t.equal(JSON.parse(c.stdout).steps, 2, 'a flag overrides the config file');
    const cfg = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
    t.ok(JSON.stringify(cfg).includes('"mask-ratio":0.5'), 'the run folder records the checked values');
  },
);
