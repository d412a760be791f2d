// The AVX2 / AVX-512 builds of the *_isa.cc kernels (native/core/isa.h): selection, and the
// linking rule that makes two builds of one file safe.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { addon, packageRoot } from '../lib/native.js';
import { buildInfo } from '../lib/index.js';

t.test('buildInfo names the builds and the one in use; setCpuIsa refuses what cannot run', async (t) => {
  const b = buildInfo();
  t.match(b.cpuIsaVariants, /^avx2( avx512)?$/);
  t.ok(b.cpuIsa === 'avx2' || b.cpuIsa === 'avx512');
  t.equal(addon().setCpuIsa('sse2'), false, 'unknown name');
  t.equal(addon().setCpuIsa('avx2'), true);
  t.equal(buildInfo().cpuIsa, 'avx2');
  const avx512 = addon().setCpuIsa('avx512');
  t.equal(
    avx512,
    b.cpuIsaVariants.includes('avx512') && /avx512f/.test(b.cpuFeaturesRuntime) && /avx512bw/.test(b.cpuFeaturesRuntime),
    'AVX-512 only where built and the CPU has it',
  );
  t.equal(addon().setCpuIsa('auto'), true);
  t.equal(buildInfo().cpuIsa, b.cpuIsa, 'auto goes back to the first choice');
});

const distIndex = join(packageRoot, 'dist', 'index.js');
t.test('MVD_CPU_ISA=avx2 forces the AVX2 build for a whole process', { skip: !existsSync(distIndex) && 'dist/ not built' }, async (t) => {
  const script = `import('${distIndex.replace(/\\/g, '/')}').then((m) => console.log(m.buildInfo().cpuIsa))`;
  const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, MVD_CPU_ISA: 'avx2' }, encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout.trim(), 'avx2');
});

// Both builds instantiate the same standard-library templates (std::vector and the like), and the
// linker keeps one copy of each. That is only safe if the AVX-512 copy holds no AVX-512 code:
// the files enable AVX-512 by a pragma after their #includes for exactly this. Checked here on the
// objects of this build (skipped where there are none, e.g. a prebuilt addon).
const v4Objects = join(packageRoot, 'build', 'CMakeFiles', 'mvd_kernels_v4.dir');
const haveObjdump = spawnSync('objdump', ['--version']).status === 0;
t.test(
  'weak (linker-merged) functions of the AVX-512 objects contain no AVX-512 instructions',
  {
    skip: !(existsSync(v4Objects) && haveObjdump) && 'no AVX-512 objects or no objdump here',
  },
  async (t) => {
    const objects = readdirSync(v4Objects, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.o'))
      .map((f) => join(v4Objects, f));
    t.ok(objects.length > 0, `${objects.length} objects`);
    const disassembly: string[] = [];
    for (const o of objects) {
      const weak = new Set(
        spawnSync('nm', [o], { encoding: 'utf8' })
          .stdout.split('\n')
          .filter((l) => / [WV] /.test(l))
          .map((l) => l.trim().split(/\s+/).pop()!),
      );
      const dis = spawnSync('objdump', ['-d', '--no-show-raw-insn', o], { encoding: 'utf8', maxBuffer: 256 << 20 }).stdout;
      disassembly.push(dis);
      const bad: string[] = [];
      let current = '';
      for (const line of dis.split('\n')) {
        const head = /^[0-9a-f]+ <(.+)>:$/.exec(line);
        if (head) current = head[1];
        else if (weak.has(current) && /zmm|%k[0-7]|ymm(1[6-9]|2\d|3[01])/.test(line)) bad.push(current);
      }
      t.same([...new Set(bad)], [], `${o.split('/').pop()}: ${weak.size} weak functions`);
    }
    // The check itself must see AVX-512 code where it is meant to be.
    t.match(disassembly.join(''), /zmm/, 'the kernels themselves do use AVX-512');
  },
);
