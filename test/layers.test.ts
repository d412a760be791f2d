// docs/ARCHITECTURE.md, "Layers": nothing in lib/ imports from a layer above it. The table below is
// that list, top first; two files sit apart from their folder: lib/io/checkpoint*.ts load and save
// modules' state dicts (above lib/nn, whose model cards read lib/io/safetensors.ts), and
// lib/dist/native.ts is the collectives' half of the typed native boundary (beside lib/native.ts).
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const lib = join(root, 'lib');

const LAYERS: string[][] = [
  ['index.ts'],
  ['cli'],
  ['bench'],
  ['api'],
  ['plot'],
  ['methods'],
  ['dist'],
  ['io/checkpoint.ts', 'io/training-checkpoint.ts'],
  ['nn', 'optim'],
  ['data', 'io'],
  ['ops'],
  ['tensor.ts', 'device.ts'],
  ['native.ts', 'dist/native.ts'],
  ['errors.ts', 'module-location.cts'],
];

/** Height of a lib/-relative path: its own entry first (a file listed apart), else its folder's. */
function height(path: string): number {
  const p = path.replace(/\.c?js$/, (e) => (e === '.cjs' ? '.cts' : '.ts'));
  const at = (key: string) => LAYERS.findIndex((l) => l.includes(key));
  const own = at(p);
  const i = own >= 0 ? own : at(p.split('/')[0]);
  if (i < 0) throw new Error(`${path} is in no layer of the table: add it (and to docs/ARCHITECTURE.md)`);
  return LAYERS.length - i;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : /\.c?ts$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

/** The imports of `src` (a lib/-relative file) that reach a higher layer. */
function upward(src: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/from '(\.\.?\/[^']+)'/g)) {
    const target = relative(lib, join(dirname(join(lib, src)), m[1]));
    if (height(target) > height(src)) out.push(`${src} → ${m[1]}`);
  }
  return out;
}

t.test('no file in lib/ imports from a layer above its own', async (t) => {
  const files = sources(lib).map((f) => relative(lib, f));
  t.ok(files.length > 100, `${files.length} files checked`);
  t.same(
    files.flatMap((f) => upward(f, readFileSync(join(lib, f), 'utf8'))),
    [],
    'upward imports',
  );
});

t.test('the check sees an upward import when there is one', async (t) => {
  t.same(upward('methods/demo.ts', "import { x } from '../plot/figures.js';"), ['methods/demo.ts → ../plot/figures.js']);
  t.same(upward('io/safetensors.ts', "import type { Module } from '../nn/module.js';"), ['io/safetensors.ts → ../nn/module.js']);
  t.same(upward('io/checkpoint.ts', "import type { Module } from '../nn/module.js';"), [], 'checkpoints sit above lib/nn');
});
