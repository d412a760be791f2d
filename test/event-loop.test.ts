// The execution model: native work runs on the device queue, so the JS thread keeps ticking
// while a multi-second op runs, and reading the result back is the synchronisation point.
import t from 'tap';
import { Tensor, gemm, sync } from '../lib/index.js';

t.test('a multi-second native op never blocks the event loop for more than 50 ms', async (t) => {
  // Fewer ops than the queue's run-ahead bound (16), each ~60 GFLOP, so enqueueing never waits.
  const n = 3072;
  const a = Tensor.fromArray(new Float32Array(n * n).fill(0.5), [n, n]);
  let c = gemm(a, a);
  const started = performance.now();
  for (let i = 0; i < 10; i++) {
    const next = gemm(a, a, { out: c, beta: 0 });
    c = next;
  }
  const enqueued = performance.now() - started;
  let last = performance.now();
  let maxGap = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 10);
  const value = (await c.toArray())[0];
  clearInterval(timer);
  const elapsed = performance.now() - started;
  t.equal(value, 0.25 * n, 'result is right');
  t.ok(enqueued < 200, `enqueueing 11 GEMMs took ${enqueued.toFixed(1)} ms (returns at once)`);
  t.ok(elapsed > 1000, `the work took ${elapsed.toFixed(0)} ms (multi-second)`);
  t.ok(ticks > 50, `${ticks} interval ticks while it ran`);
  t.ok(maxGap < 50, `largest gap between ticks ${maxGap.toFixed(1)} ms`);
  await sync();
  a.dispose();
  c.dispose();
});
