// docs/ARCHITECTURE.md: nothing imports from a layer above it. lib/methods (the demo included) sits
// below lib/bench, lib/plot, lib/api and lib/cli; the demo once reached up into lib/plot for the
// cross-frame similarity, which now lives in lib/methods/demo-similarity.ts.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const ABOVE_METHODS = ['bench', 'plot', 'api', 'cli'];

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** The lib/ folder each relative import of `file` lands in. */
function importedLayers(file: string): { spec: string; layer: string }[] {
  const src = readFileSync(file, 'utf8');
  return [...src.matchAll(/from '(\.\.?\/[^']+)'/g)].map((m) => {
    const target = relative(join(root, 'lib'), join(dirname(file), m[1]));
    return { spec: m[1], layer: target.split('/')[0] };
  });
}

t.test('lib/methods imports nothing from the layers above it', async (t) => {
  const files = tsFiles(join(root, 'lib/methods'));
  t.ok(
    files.some((f) => f.endsWith('demo.ts')),
    'the demo is among the files checked',
  );
  const upward = files.flatMap((f) =>
    importedLayers(f)
      .filter((i) => ABOVE_METHODS.includes(i.layer))
      .map((i) => `${relative(root, f)} → ${i.spec}`),
  );
  t.same(upward, [], 'upward imports');
});

t.test('the check sees an upward import when there is one', async (t) => {
  // lib/plot/figures.ts imports lib/methods (downward from plot): seen from lib/methods' rule it
  // would be an import of 'methods', so the parser must report that layer.
  const layers = importedLayers(join(root, 'lib/plot/figures.ts')).map((i) => i.layer);
  t.ok(layers.includes('methods'), `figures.ts imports from ${[...new Set(layers)].join(', ')}`);
});
