// `kill -9` at random moments loses nothing: a CLI run SIGKILLed again and again (while starting,
// while resuming and repairing, mid-step, mid-checkpoint) and resumed each time ends with the very
// bytes of an uninterrupted run's weights, no temporaries, and each step logged once.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../lib/native.js';
import { StepRng } from '../lib/nn/layers.js';

const cli = join(packageRoot, 'dist', 'cli', 'main.js');
const STEPS = 40;
const KILLS = 12;
const args = (out: string) => [
  cli,
  'pretrain',
  '--method',
  'videomae',
  '--frames',
  '8',
  '--size',
  '32',
  '--batch',
  '2',
  '--clips',
  '16',
  '--mask-ratio',
  '0.5',
  '--steps',
  String(STEPS),
  '--checkpoint-every',
  '1',
  '--out',
  out,
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** The newest step in log.jsonl (a torn last line is skipped). */
function loggedStep(dir: string): number {
  let last = 0;
  for (const line of readText(join(dir, 'log.jsonl')).split('\n')) {
    try {
      const r = JSON.parse(line);
      if (r.kind === 'step') last = Math.max(last, r.step);
    } catch {
      /* torn or empty */
    }
  }
  return last;
}

function checkpointStep(dir: string): number {
  try {
    return JSON.parse(readText(join(dir, 'checkpoints', 'latest.json'))).step;
  } catch {
    return 0;
  }
}

/** Every name under the run folder that a finished run should not leave: temporaries and the lock. */
function leftovers(dir: string): string[] {
  const out: string[] = [];
  for (const sub of ['', 'checkpoints'])
    for (const n of existsSync(join(dir, sub)) ? readdirSync(join(dir, sub)) : []) if (n.startsWith('.')) out.push(join(sub, n));
  return out;
}

t.test(
  "a run SIGKILLed at random moments and resumed each time ends with the uninterrupted run's weights",
  { skip: existsSync(cli) ? false : 'dist/ not built (npm run build)' },
  async (t) => {
    const straight = mkdtempSync(join(tmpdir(), 'mvd-straight-'));
    const s = spawnSync(process.execPath, args(straight), { encoding: 'utf8' });
    t.equal(s.status, 0, 'the uninterrupted run', { stderr: s.stderr.slice(-2000) });

    const dir = mkdtempSync(join(tmpdir(), 'mvd-killed-'));
    t.teardown(() => [straight, dir].forEach((d) => rmSync(d, { recursive: true, force: true })));
    // Seeded: the kill moments are the same on every run of the test.
    const seeded = new StepRng(20261204);
    const random = () => seeded.next();
    const moments: string[] = [];
    let kills = 0,
      invocations = 0,
      finished = false,
      swept = 0,
      cut = 0;
    while (!finished) {
      const from = checkpointStep(dir);
      const child = spawn(process.execPath, [...args(dir), ...(invocations++ ? ['--resume'] : [])], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
        child.once('exit', (code, signal) => r({ code, signal })),
      );
      let done: { code: number | null; signal: NodeJS.Signals | null } | null = null;
      void exited.then((e) => (done = e));
      if (kills < KILLS) {
        // One kill in four at a plain delay from the start (loading, sweeping, resuming, or the
        // first steps, whichever that is on this machine's load); the rest a few steps into training,
        // then a random fraction of a step-plus-checkpoint later.
        if (random() < 0.25) {
          const ms = Math.floor(random() * 1500);
          moments.push(`${ms} ms after start`);
          await sleep(ms);
        } else {
          const target = from + 1 + Math.floor(random() * 4),
            extra = Math.floor(random() * 120);
          while (!done && loggedStep(dir) < target) await sleep(5);
          moments.push(`${extra} ms after step ${target} was logged`);
          await sleep(extra);
        }
        if (!done) {
          child.kill('SIGKILL');
          kills++;
        }
      }
      const e = await exited;
      swept += Number(/removed \d+ temporaries/.test(stderr));
      cut += Number(/dropped \d+ records/.test(stderr));
      if (e.signal === null) {
        t.equal(e.code, 0, `invocation ${invocations} exits cleanly`, { stderr: stderr.slice(-2000) });
        finished = e.code === 0 || invocations > KILLS + 5;
      }
    }
    t.ok(kills >= 10, `${kills} kills (${moments.join('; ')}), ${invocations} invocations; ${swept} swept temporaries, ${cut} cut the log`);
    t.same(
      readFileSync(join(dir, 'model.safetensors')).equals(readFileSync(join(straight, 'model.safetensors'))),
      true,
      'final weights byte-identical to the uninterrupted run',
    );
    t.same(leftovers(dir), [], 'no temporaries and no lock left');
    const steps = readFileSync(join(dir, 'log.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .filter((r) => r.kind === 'step')
      .map((r) => r.step);
    t.same(
      steps,
      Array.from({ length: STEPS }, (_, i) => i + 1),
      'log.jsonl: each step once, in order',
    );
  },
);
