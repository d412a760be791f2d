// Every public export of the library says what it is: a doc comment on its declaration
// (scripts/check-doc-comments.mjs reads lib/index.ts with the TypeScript checker).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

t.test('every public export has a doc comment', (t) => {
  const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'scripts', 'check-doc-comments.mjs')], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stdout.trim() + r.stderr);
  t.match(r.stdout, /^(\d+) of \1 public exports have a doc comment/);
  t.end();
});
