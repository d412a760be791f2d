// CommonJS on purpose: the library ships twice (ESM in dist/, CommonJS in dist/cjs/) and both need
// to know where they run from. `import.meta.url` is a SyntaxError in a CommonJS file, while
// `__dirname` here works for both, because an ES module imports a CommonJS one like any other.
// One `export =` object, imported as a default: named exports of a CommonJS file are guessed by
// Node from its source text, which fails when a TypeScript loader runs the sources (tests).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';

/** The folder of the compiled library (dist/ or dist/cjs/), or lib/ when a TypeScript loader runs the sources. */
const libDir: string = __dirname;

/** '.ts' when a TypeScript loader runs the sources (tests), '.js' for the compiled library. */
const moduleExt: '.ts' | '.js' = extname(__filename) === '.cts' ? '.ts' : '.js';

function isPackageRoot(dir: string): boolean {
  const file = join(dir, 'package.json');
  if (!existsSync(file)) return false;
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown }).name === 'mvd';
  } catch {
    return false;
  }
}

/**
 * The package root: the nearest folder above libDir whose package.json is mvd's. Walking up rather
 * than a fixed '..' because dist/cjs/ sits one level deeper and has a package.json of its own
 * (it only sets "type": "commonjs").
 */
function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (isPackageRoot(dir)) return dir;
    if (dirname(dir) === dir) throw new Error(`mvd: no package.json named "mvd" in ${start} or any folder above it`);
  }
}

export = { libDir, moduleExt, packageRoot: findPackageRoot(libDir) };
