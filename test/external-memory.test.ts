// What the addon tells V8 about native memory: enough that tensors leaked without dispose() are
// collected, not so much that ordinary alloc/dispose churn starts a major GC each time.
import t from 'tap';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Tensor, sync } from '../lib/index.js';
import { scale } from '../lib/ops/elementwise.js';
import { addon } from '../lib/native.js';

const MB = 1 << 20;
const turn = () => new Promise((r) => setImmediate(r));

async function majorGcsDuring(fn: () => Promise<void>): Promise<number> {
  let major = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if ((e as any).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) major++;
  });
  obs.observe({ entryTypes: ['gc'] });
  await fn();
  await turn();
  await turn();
  obs.disconnect();
  return major;
}

t.test('two large outputs alive at once, then disposed, does not start a major GC each time', async (t) => {
  const rounds = 30;
  const major = await majorGcsDuring(async () => {
    using x = Tensor.zeros([10 * MB]);
    for (let i = 0; i < rounds; i++) {
      const a = scale(x, 2); // 40 MB each: 80 MB alive at once, above V8's 64 MB step
      const b = scale(x, 3);
      a.dispose();
      b.dispose();
      await sync('cpu');
    }
  });
  t.ok(major <= 3, `${major} major GCs in ${rounds} rounds (reporting every allocation gave about one per round)`);
});

t.test('tensors leaked without dispose() are freed by their finalizers when V8 collects them', async (t) => {
  // Forced GC makes this deterministic; when V8 collects on its own is its heuristic (bench/NOTES.md).
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const before = addon().liveBytes();
  const n = 12,
    each = 32 * MB;
  for (let i = 0; i < n; i++) Tensor.empty([each / 4]); // dropped on the floor
  t.equal(addon().liveBytes() - before, n * each, 'held until collected');
  for (let i = 0; i < 10 && addon().liveBytes() - before > 0; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  t.equal(addon().liveBytes() - before, 0, 'all freed after GC');
  // The account V8 sees must follow: churn after the collection starts no GC storm either.
  using x = Tensor.zeros([10 * MB]);
  const major = await majorGcsDuring(async () => {
    for (let i = 0; i < 10; i++) {
      const a = scale(x, 2),
        b = scale(x, 3);
      a.dispose();
      b.dispose();
      await sync('cpu');
    }
  });
  t.ok(major <= 2, `${major} major GCs in 10 rounds after the collection`);
});
