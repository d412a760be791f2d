// The MVD student (SPEC §3.3): a tube-masked encoder with one feature decoder per teacher, and
// the frozen teachers whose pre-norm features are the targets (SPEC §3.5).
import { type Tensor, tensorScope } from '../tensor.js';
import { add } from '../ops/elementwise.js';
import { gatherTokens } from '../ops/tokens.js';
import { Module } from './module.js';
import { bf16WeightsSupport, type WeightPrecision } from '../ops/gemm.js';
import { DeviceError, ValueError } from '../errors.js';
import { VisionTransformer, positionalTable, rangeIndex } from './encoder.js';
import { MaskedDecoder } from './decoders.js';
import { videoVit, imageVit, mvdDecoderFor, type Preset, type VitConfig, type MvdDecoderConfig } from './config.js';

/** Which MVD teacher a decoder branch distils: 'img' (MAE image teacher) or 'vid' (VideoMAE teacher). */
export type TeacherKind = 'img' | 'vid';

export interface MvdStudentOptions {
  student: VitConfig;
  /** Decoder per teacher (SPEC §3.4); targetDim = the teacher's width. */
  decoders: Partial<Record<TeacherKind, MvdDecoderConfig>>;
  dropPath?: number;
  seed?: number;
}

/**
 * MVD student (SPEC §3.3): encoder on visible tokens plus one feature decoder per teacher
 * (down_img/mask_token_img/decoder_img, ..._vid). Encoder keys are root keys, as in the MVD checkpoints.
 */
export class MvdStudent extends Module {
  readonly encoder: VisionTransformer;
  readonly branches: Partial<Record<TeacherKind, MaskedDecoder>> = {};

  constructor(readonly opts: MvdStudentOptions) {
    super();
    const seed = opts.seed ?? 0;
    const c = opts.student;
    this.encoder = this.child('', new VisionTransformer(c, { finalNorm: true, savePosEmbed: true, dropPath: opts.dropPath ?? 0, seed }));
    for (const kind of ['img', 'vid'] as TeacherKind[]) {
      const d = opts.decoders[kind];
      if (!d) continue;
      const pos = positionalTable(c, d.dim);
      this.branches[kind] = this.child(
        '',
        new MaskedDecoder(
          {
            inDim: c.dim,
            dim: d.dim,
            depth: d.depth,
            heads: d.heads,
            outDim: d.targetDim,
            mlpRatio: c.mlpRatio,
            dropPath: opts.dropPath ?? 0,
            eps: c.eps,
          },
          {
            down: `down_${kind}`,
            downBias: true,
            downInit: { kind: 'xavier_uniform' },
            maskToken: `mask_token_${kind}`,
            decoder: `decoder_${kind}`,
            posName: `pos_embed_${kind}`,
          },
          pos,
          seed + (kind === 'img' ? 1 : 2),
        ),
      );
    }
  }

  /** Predictions of each teacher's features at the masked tokens: [B, Nm, C_teacher]. */
  forward(video: Tensor, visIdx: Tensor<'i32'>, maskIdx: Tensor<'i32'>): Partial<Record<TeacherKind, Tensor>> {
    using scope = tensorScope();
    const { out } = this.encoder.forward(video, visIdx);
    const preds: Partial<Record<TeacherKind, Tensor>> = {};
    for (const [k, b] of Object.entries(this.branches) as [TeacherKind, MaskedDecoder][])
      preds[k] = scope.keep(b.forward(out!, visIdx, maskIdx));
    return preds;
  }

  backward(grads: Partial<Record<TeacherKind, Tensor>>): void {
    using _scope = tensorScope();
    let dEnc: Tensor | null = null;
    for (const [k, b] of Object.entries(this.branches) as [TeacherKind, MaskedDecoder][]) {
      const g = grads[k];
      if (!g) continue;
      const d = b.backward(g);
      dEnc = dEnc ? add(dEnc, d) : d;
    }
    if (dEnc) this.encoder.backward(dEnc);
  }
}

/** A frozen teacher producing pre-final-norm features in the student's token order. */
export class Teacher {
  constructor(
    readonly kind: TeacherKind,
    readonly encoder: VisionTransformer,
  ) {
    encoder.eval();
  }

  /**
   * Packs the encoder's Linear weights once for its forwards (Module.packWeights) and frees the
   * plain copies they replace: a teacher only runs forwards, so it holds each weight once, in fp32
   * or rounded to bf16 (`precision`; see teacherPrecisionFor). Call it once the weights are
   * loaded; the distillation recipe does. After it the teacher cannot be trained or saved. On a
   * CUDA device nothing is packed (the tensor-core GEMM rounds its operands to bf16 itself).
   */
  packWeights(precision: WeightPrecision = 'fp32'): this {
    if (this.packedPrecision === precision) return this;
    if (this.packedPrecision !== null)
      throw new ValueError(
        `this ${this.kind} teacher's weights are held in ${this.packedPrecision} (packWeights freed the fp32 ones): it cannot be packed again in ${precision}; load it again`,
      );
    this.packedPrecision = this.encoder.packWeights({ precision, release: true }) > 0 ? precision : null;
    return this;
  }

  /** The device the teacher's weights live on (read from a weight packing never frees: its norms). */
  get device(): string {
    const p = this.encoder.parameters().find((q) => !q.released);
    return p ? p.value.device : 'cpu';
  }

  /** The precision packWeights held the weights in, or null when they are the plain fp32 tensors (or on CUDA). */
  packedPrecision: WeightPrecision | null = null;

  get dim(): number {
    return this.encoder.dim;
  }

  /** [B, N, C] features for the whole clip (image teacher: frames 0, 2, … as images, cls dropped). */
  features(video: Tensor): Tensor {
    using scope = tensorScope();
    const { prenorm } = this.encoder.forward(video);
    if (this.kind === 'vid') return scope.keep(prenorm);
    const b = video.shape[0];
    const [rows, n1, c] = prenorm.shape;
    const noCls = gatherTokens(prenorm, rangeIndex(rows, n1 - 1, 1));
    return scope.keep(noCls.reshape([b, (rows / b) * (n1 - 1), c]));
  }

  /** Targets at the masked tokens: [B, Nm, C]. */
  targets(video: Tensor, maskIdx: Tensor<'i32'>): Tensor {
    using scope = tensorScope();
    return scope.keep(gatherTokens(this.features(video), maskIdx));
  }

  dispose(): void {
    this.encoder.dispose();
  }
}

export interface TeacherSpec {
  preset: Preset;
  frames: number;
  size: number;
  seed?: number;
}

/** What a teacher's precision may be asked as: one of the two, or 'auto' (teacherPrecisionFor decides). */
export type TeacherPrecisionChoice = WeightPrecision | 'auto';

/**
 * The precision frozen teachers run in on `device`. 'auto': bf16 where this CPU runs bf16 weights
 * (AVX512-BF16, and MVD_CPU_ISA not forcing avx2) and fp32 on other CPUs; on CUDA bf16, which is
 * what the tensor-core GEMM does with every operand. A request that cannot be met is an error
 * naming both sides, never a quiet substitute: bf16 on a CPU without it, fp32 on CUDA.
 */
export function teacherPrecisionFor(choice: TeacherPrecisionChoice, device: string): WeightPrecision {
  if (choice !== 'auto' && choice !== 'fp32' && choice !== 'bf16')
    throw new ValueError(`teacher precision must be 'fp32', 'bf16' or 'auto', got '${choice}'`);
  if (device.startsWith('cuda')) {
    if (choice === 'fp32')
      throw new DeviceError(
        `teacher precision fp32 was asked for on ${device}, whose GEMM rounds every operand to bf16 for the tensor cores: use bf16 (or auto) there, or run on the CPU`,
      );
    return 'bf16';
  }
  const bf16 = bf16WeightsSupport();
  if (choice === 'bf16' && !bf16.available)
    throw new DeviceError(
      `teacher precision bf16 was asked for, but this process cannot run bf16 weights: ${bf16.reason}; use fp32 (or auto)`,
    );
  return choice === 'auto' ? (bf16.available ? 'bf16' : 'fp32') : choice;
}

/** A randomly initialised teacher of the right architecture (weights are then loaded or pretrained). */
export function makeTeacher(kind: TeacherKind, s: TeacherSpec): Teacher {
  const cfg =
    kind === 'img' ? imageVit(s.preset, { size: s.size }) : videoVit(s.preset, { frames: s.frames, size: s.size, posEmbed: 'sinusoid1d' });
  return new Teacher(kind, new VisionTransformer(cfg, { finalNorm: true, frameStride: kind === 'img' ? 2 : undefined, seed: s.seed ?? 0 }));
}

/** Student + decoders for a preset pair, as SPEC §3.4. */
export function makeStudent(
  preset: Preset,
  teacherDims: Partial<Record<TeacherKind, number>>,
  over: { frames: number; size: number; patch?: number; dropPath?: number; seed?: number },
): MvdStudent {
  const student = videoVit(preset, { frames: over.frames, size: over.size, ...(over.patch ? { patch: over.patch } : {}) });
  const decoders: Partial<Record<TeacherKind, MvdDecoderConfig>> = {};
  for (const [k, d] of Object.entries(teacherDims) as [TeacherKind, number][]) decoders[k] = mvdDecoderFor(preset, d);
  return new MvdStudent({ student, decoders, dropPath: over.dropPath, seed: over.seed });
}
