// Runs the native test executable (kernels against float64 references, without Node in between)
// and reports its cases as tap assertions.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { packageRoot } from '../lib/native.js';

t.test('native kernel tests', (t) => {
  const r = spawnSync(process.execPath, ['scripts/run-native-tests.mjs'], { cwd: packageRoot, encoding: 'utf8', maxBuffer: 64 << 20 });
  const lines = (r.stdout ?? '').split('\n');
  let cases = 0;
  for (const line of lines) {
    const m = /^(ok|FAIL)\s+(\S+)(.*)$/.exec(line);
    if (!m) continue;
    cases++;
    t.equal(m[1], 'ok', `${m[2]}${m[3]}`);
  }
  t.ok(cases > 0, 'ran native cases');
  t.equal(r.status, 0, r.status === 0 ? 'native tests exit 0' : (r.stderr ?? '').slice(-2000));
  t.end();
});
