// A table of misuses of the public native API (through lib/ops and Tensor). Each case must end in
// a typed error (an MvdError of the named class, thrown at the call or by the read-back after it)
// or in the right result; never a signal, never an untyped error. The cases run in a child process,
// so a case that kills its process is reported by name (and the table goes on after it in a new
// child) instead of ending the run.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { misuseCases, runMisuseCase } from './helpers/misuse-cases.js';
import { Tensor, crossEntropy, sync } from '../lib/index.js';

// A child runs the table from MVD_MISUSE_FROM on; 'sync' runs the MVD_SYNC check instead.
const from = process.env.MVD_MISUSE_FROM;
// Loading the library through the TypeScript loader costs most of a child's time, so one child
// runs the whole table, and a case that kills it costs only a restart after that case.
const MAX_RESTARTS = 10;

if (from === 'sync') {
  // Child for the MVD_SYNC check: a label out of range is only found when the kernel runs. Prints
  // where the ValueError surfaced: at the call, or at the read-back after it.
  const logits = Tensor.fromArray(new Float32Array(6), [2, 3]);
  const labels = Tensor.fromArray(new Int32Array([0, 7]), [2]);
  let where = 'nowhere';
  try {
    const r = crossEntropy(logits, labels);
    where = 'read-back';
    await r.loss.toArray();
    where = 'nowhere';
  } catch (e) {
    where = `${where === 'read-back' ? 'read-back' : 'call'}:${(e as Error).name}:${(e as Error).message}`;
  }
  await sync().catch(() => undefined);
  process.stdout.write(`${JSON.stringify({ where })}\n`);
} else if (from !== undefined) {
  // Child: run the cases from MVD_MISUSE_FROM on, one JSON line each. A line saying which case
  // starts comes first, so the parent can name the case that took the process down.
  for (let i = Number(from); i < misuseCases.length; i++) {
    process.stdout.write(`${JSON.stringify({ start: misuseCases[i].name })}\n`);
    const r = await runMisuseCase(misuseCases[i]);
    process.stdout.write(`${JSON.stringify({ name: misuseCases[i].name, ...r })}\n`);
  }
} else {
  t.ok(misuseCases.length >= 100, `${misuseCases.length} misuse cases`);
  const names = new Set(misuseCases.map((c) => c.name));
  t.equal(names.size, misuseCases.length, 'case names are unique');
  t.test("MVD_SYNC=1 throws a queued op's failure at its own call", (t) => {
    const where = (sync: string): string => {
      const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
        env: { ...process.env, MVD_MISUSE_FROM: 'sync', MVD_SYNC: sync },
        encoding: 'utf8',
        timeout: 60_000,
      });
      const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
      return line
        ? (JSON.parse(line) as { where: string }).where
        : `no result (status ${r.status}, signal ${r.signal}): ${r.stderr.slice(-1000)}`;
    };
    const synced = where('1');
    t.match(synced, /^call:ValueError:crossEntropy: /, `with MVD_SYNC=1: ${synced}`);
    t.notMatch(synced, /crossEntropy: crossEntropy:/, 'the message names the op once');
    const queued = where('0');
    t.match(queued, /^read-back:ValueError:/, `without it the error waits for the read-back: ${queued}`);
    t.end();
  });
  t.test('every misuse ends in a typed error or the right result', (t) => {
    let next = 0;
    for (let restarts = 0; next < misuseCases.length && restarts <= MAX_RESTARTS; restarts++) {
      const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
        env: { ...process.env, MVD_MISUSE_FROM: String(next) },
        encoding: 'utf8',
        timeout: 300_000,
        maxBuffer: 1 << 24,
      });
      let started = -1;
      for (const line of r.stdout.split('\n')) {
        if (!line.startsWith('{')) continue;
        const m = JSON.parse(line) as { start?: string; name?: string; ok?: boolean; detail?: string };
        if (m.start !== undefined) {
          started = misuseCases.findIndex((c) => c.name === m.start);
          continue;
        }
        next = started + 1;
        t.ok(m.ok, m.name ?? '?', m.ok ? {} : { detail: m.detail });
      }
      if (next < misuseCases.length) {
        // The child ended inside case `started` (a signal, an exit, a timeout): that case fails.
        t.fail(`${started >= 0 ? misuseCases[started].name : 'the child'} ended the process (status ${r.status}, signal ${r.signal})`, {
          detail: r.stderr.slice(-3000),
        });
        next = Math.max(next, started + 1);
      }
    }
    t.equal(next, misuseCases.length, 'the table ran to its end');
    t.end();
  });
}
