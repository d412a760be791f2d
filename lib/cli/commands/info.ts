// `mvd info`: versions, build facts and devices, or the size of a model preset.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addonLocation, packageRoot } from '../../native.js';
import { buildInfo, gpuInfo } from '../../device.js';
import { UsageError, type FlagCommand } from '../command.js';
import { JSON_FLAG } from './common.js';
import { videoVit, encoderParams, encoderMacs, isPreset, PRESETS, mvdStudentParams, mvdDecoderFor } from '../../nn/config.js';
import { bf16WeightsSupport } from '../../ops/gemm.js';
import { teacherPrecisionFor } from '../../nn/mvd.js';

/** Parameters and multiply-accumulates of a preset at a clip size (SPEC §2 conventions). */
export function modelInfo(preset: string, frames = 16, size = 224, numClasses = 400) {
  if (!isPreset(preset)) throw new UsageError(`unknown model '${preset}' (one of ${PRESETS.join(', ')})`);
  const c = videoVit(preset, { frames, size });
  const p = encoderParams(c, numClasses);
  const teacherDim = preset === 'large' || preset === 'huge' ? c.dim : 768;
  return {
    model: preset,
    dim: c.dim,
    depth: c.depth,
    heads: c.heads,
    frames,
    size,
    params: { backbone: p.backbone, withFinalNorm: p.withNorm, withHead: p.withHead },
    macsPerView: encoderMacs(c),
    mvdStudentWithDecoders: { teacherDim, params: mvdStudentParams(c, mvdDecoderFor(preset, teacherDim)) },
  };
}

export function packageVersion(): string {
  return JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version;
}

export function collectInfo() {
  const b = buildInfo();
  const g = gpuInfo();
  const bf16 = bf16WeightsSupport();
  // What `mvd distill --teacher-precision auto` picks on the CPU, and why.
  const teachers = { cpuPrecision: teacherPrecisionFor('auto', 'cpu'), bf16Weights: bf16.available, bf16Unavailable: bf16.reason || null };
  return {
    package: { name: 'mvd', version: packageVersion() },
    node: process.version,
    addonFile: addonLocation(),
    build: b,
    gpu: g,
    teachers,
  };
}

export const infoCommand: FlagCommand = {
  name: 'info',
  summary: 'versions, build facts (CPU features, GEMM backend, CUDA) and devices',
  usage: 'mvd info [--json] [--model tiny|small|base|large|huge [--frames 16 --size 224]]',
  flags: {
    json: JSON_FLAG,
    model: { type: 'word', words: PRESETS, help: 'print parameter and multiply-accumulate counts of a preset' },
    frames: { type: 'int', min: 2, help: 'clip length for --model', default: 16 },
    size: { type: 'int', min: 16, help: 'frame size for --model', default: 224 },
  },
  check(f) {
    for (const k of ['frames', 'size']) if (f.given(k) && !f.given('model')) throw new UsageError(`--${k} applies with --model only`);
  },
  async run(f) {
    const json = f.bool('json');
    const preset = f.optStr('model');
    if (preset !== undefined) {
      const m = modelInfo(preset, f.num('frames'), f.num('size'));
      if (json) console.log(JSON.stringify(m, null, 2));
      else {
        const M = (x: number) => `${(x / 1e6).toFixed(2)}M`;
        console.log(`model ${m.model}: D=${m.dim}, depth ${m.depth}, ${m.heads} heads, ${m.frames}×${m.size}² input`);
        console.log(
          `parameters: ${M(m.params.backbone)} backbone (patch embedding + blocks), ${M(m.params.withFinalNorm)} with final norm, ${M(m.params.withHead)} with fc_norm + 400-class head`,
        );
        console.log(`multiply-accumulates per view: ${(m.macsPerView / 1e9).toFixed(1)} G`);
        console.log(
          `MVD student + two decoders (teacher width ${m.mvdStudentWithDecoders.teacherDim}): ${M(m.mvdStudentWithDecoders.params)} trainable`,
        );
      }
      return 0;
    }
    const info = collectInfo();
    if (json) {
      console.log(JSON.stringify(info, null, 2));
      return 0;
    }
    const b = info.build;
    const g = info.gpu;
    const rows: [string, string][] = [
      ['package', `mvd ${info.package.version} (node ${info.node})`],
      ['addon', `${b.addonVersion}, N-API ${b.napiVersion}, ${b.compiler}, ${b.buildSystem}, ${b.buildType}`],
      [
        'addon file',
        `${info.addonFile.path} (${info.addonFile.source === 'MVD_ADDON_PATH' ? 'from MVD_ADDON_PATH' : info.addonFile.source === 'build' ? 'a local build: it takes precedence over prebuilds/' : 'the prebuilt addon shipped in the package'})`,
      ],
      ['CPU features used', b.cpuFeaturesCompiled],
      ['CPU features present', b.cpuFeaturesRuntime],
      ['CPU threads', String(b.cpuThreads)],
      ['CPU kernel builds', `${b.cpuIsaVariants} (using ${b.cpuIsa}; MVD_CPU_ISA=avx2 forces AVX2)`],
      ['GEMM backend', b.gemmBackendDetail],
      [
        'teacher precision',
        info.teachers.bf16Weights
          ? 'bf16 on this CPU (AVX512-BF16; --teacher-precision fp32 to opt out), bf16 on CUDA'
          : `fp32 on this CPU (no bf16 weights: ${info.teachers.bf16Unavailable}), bf16 on CUDA`,
      ],
      ['CUDA compiled', b.cudaCompiled ? `yes, runtime ${b.cudaRuntime}, architectures ${b.cudaArchitectures}` : 'no'],
      ['data-parallel (MPI)', b.mpiCompiled ? `${b.mpi}; launch with mpirun -np N` : b.mpi],
      ['CUDA collectives', b.cudaCollectives],
      [
        'CUDA devices',
        g.devices.length
          ? g.devices
              .map(
                (d) =>
                  `${d.index}: ${d.name} (sm_${d.computeCapability.replace('.', '')}, ${(d.totalMemoryBytes / 2 ** 30).toFixed(1)} GiB)`,
              )
              .join('; ')
          : `none: ${g.reason}${g.hint ? ` (${g.hint})` : ''}`,
      ],
    ];
    for (const [k, v] of rows) console.log(`${k.padEnd(22)} ${v}`);
    return 0;
  },
};
