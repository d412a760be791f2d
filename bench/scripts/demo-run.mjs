// One runDemo call with overrides, for the demo's experiments (docs/DEMO.md, 17+): prints each
// stage's wall time and the result as JSON lines. Needs the compiled TypeScript (`npm run build`,
// or DIST=folder of a private `tsc --outDir` build).
//   node bench/scripts/demo-run.mjs '{"seed":1,"teacherSteps":1500}'
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
const dist = resolve(process.env.DIST ?? new URL('../../dist', import.meta.url).pathname);
const { runDemo } = await import(pathToFileURL(`${dist}/methods/demo.js`).href);
const over = JSON.parse(process.argv[2] ?? '{}');
let stage = null,
  t = performance.now();
const stages = [];
const r = await runDemo({
  seed: 1,
  ...over,
  onProgress: (s) => {
    if (s === stage) return;
    const now = performance.now();
    if (stage) stages.push([stage, +((now - t) / 1000).toFixed(1)]);
    stage = s;
    t = now;
  },
});
stages.push([stage, +((performance.now() - t) / 1000).toFixed(1)]);
console.log(JSON.stringify({ stages }));
console.log(JSON.stringify(r));
