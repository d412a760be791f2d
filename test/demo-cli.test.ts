// `mvd demo --labelled-clips`: the low-data fine-tuning knob is checked at the flag, before any
// training starts (a value outside [1, pool] would otherwise fail minutes into the run).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../lib/native.js';
import { DEMO_DEFAULTS } from '../lib/methods/demo.js';

const cli = join(packageRoot, 'dist', 'cli', 'main.js');
const mvd = (args: string[]) =>
  spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 20000, env: { ...process.env, MVD_DEBUG: '' } });

t.test('--labelled-clips outside [1, the pool] is a usage error naming the flag and its range', async (t) => {
  for (const bad of ['0', String(DEMO_DEFAULTS.trainClips + 1), '2.5']) {
    const r = mvd(['demo', '--labelled-clips', bad]);
    t.equal(r.signal, null, `${bad}: ended by itself`);
    t.equal(r.status, 2, `${bad}: exit 2 (${r.stderr.trim()})`);
    t.match(r.stderr, /--labelled-clips/, `${bad}: names the flag`);
  }
});

t.test('--help lists --labelled-clips with its default', async (t) => {
  const r = mvd(['demo', '--help']);
  t.equal(r.status, 0);
  t.match(r.stdout, new RegExp(`--labelled-clips[^\\n]*${DEMO_DEFAULTS.labelledClips ?? DEMO_DEFAULTS.trainClips}`));
});
