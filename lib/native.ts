// Loads the native addon. Search order: $MVD_ADDON_PATH when set (that file only: an explicit choice
// that fails is an error, never a reason to load another file); otherwise node-gyp-build's choice
// in the package root: a local build (build/Release/, then build/Debug/) first, so a from-source
// build replaces the shipped one, then the prebuilt addon in prebuilds/<platform>-<arch>/ (file
// tags as prebuildify names them, e.g. mvd.napi.glibc.node). The error names the file and why it
// did not load, or what the package holds when nothing matched.
import { createRequire } from 'node:module';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { AddonLoadError, errorClasses } from './errors.js';
import type { DistributedInfo, NativeWorld, ReduceOp } from './dist/native.js';
import location from './module-location.cjs';

export const { packageRoot } = location;
const { libDir } = location;
// Not named `require`: in the CommonJS build that name is the module wrapper's own parameter.
const requireHere = createRequire(join(libDir, 'native.js'));

export interface NativeTensorDesc {
  handle: NativeStorageHandle;
  offset: number;
  shape: readonly number[];
  dtype: string;
  device: string;
}
export interface NativeStorageHandle {
  dispose(): void;
  share(): NativeStorageHandle;
  readonly bytes: number;
  readonly disposed: boolean;
}

export interface BuildInfo {
  addonVersion: string;
  napiVersion: number;
  compiler: string;
  buildType: string;
  buildSystem: string;
  cpuFeaturesCompiled: string;
  cpuFeaturesRuntime: string;
  cpuThreads: number;
  /** Builds of the *_isa.cc kernels in this addon: 'avx2' or 'avx2 avx512'. */
  cpuIsaVariants: string;
  /** The one in use (MVD_CPU_ISA=avx2 forces the AVX2 build). */
  cpuIsa: 'avx2' | 'avx512';
  gemmBackend: 'onednn' | 'portable';
  gemmBackendDetail: string;
  cudaCompiled: boolean;
  /** The MPI library linked for data-parallel training, or why none is (then: one process only). */
  mpi: string;
  mpiCompiled: boolean;
  /** How CUDA tensors are reduced across processes: NCCL, or host staging through MPI (and why). */
  cudaCollectives: string;
  cudaArchitectures: string;
  cudaRuntime: string;
}

export interface GpuDevice {
  index: number;
  name: string;
  computeCapability: string;
  totalMemoryBytes: number;
  multiprocessors: number;
}
export interface GpuInfo {
  compiled: boolean;
  architectures: string;
  runtimeVersion: string;
  driverVersion: number;
  devices: GpuDevice[];
  reason: string;
}

/** A tensor operand as the bindings read it: a Tensor, or what a binding returned. */
type T = NativeTensorDesc;
/** An optional tensor operand: null and undefined both mean absent. */
type OptT = NativeTensorDesc | null | undefined;

/** The crop of resizeCrop and resizeCropArray: a box of the source frame and the output size. */
export interface NativeCrop {
  x: number;
  y: number;
  w: number;
  h: number;
  outH: number;
  outW: number;
}

export interface NativeGemmOptions {
  bias?: OptT;
  /** Accumulate into this tensor (returned as the result) instead of allocating one. */
  out?: OptT;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
  backend?: string;
  gelu?: boolean;
  /** gemmPackWeights' buffer for this B. */
  packed?: OptT;
}

export interface NativeGemmPackedOptions {
  /** op(B) is [k, n], as packed. */
  n: number;
  k: number;
  transB: boolean;
  bias?: OptT;
  gelu?: boolean;
}

export interface NativeAdamWOptions {
  lr: readonly number[];
  weightDecay: readonly number[];
  beta1: number;
  beta2: number;
  eps: number;
  step: number;
  gradScale?: number;
}

export interface NativeDistillLossOptions {
  predImg?: OptT;
  targetImg?: OptT;
  predVid?: OptT;
  targetVid?: OptT;
  kind: string;
  wImg?: number;
  wVid?: number;
  beta?: number;
}

export interface NativePixelTargetOptions {
  mean: readonly number[];
  std: readonly number[];
  tubelet: number;
  patch: number;
  normalize: boolean;
}

/** randomFill's distribution: the fields its `dist` uses (lib/ops/random.ts RandomInit). */
export interface NativeRandomInit {
  dist: string;
  a?: number;
  b?: number;
  mean?: number;
  std?: number;
}

/** randomErase's rectangle in clip `clip` of a [B,C,T,H,W] batch, with the seed of its noise. */
export interface NativeEraseBox {
  clip: number;
  top: number;
  left: number;
  h: number;
  w: number;
  /** Integer in [0, 2^53): element (c, t, i, j) of the box is N(0,1) noise of (seed, c, t, i, j). */
  seed: number;
}

/**
 * Every function of the addon, one line each, as native/binding declares it (`bind(..., params)`).
 * A binding has at most four positional parameters; past that its settings come as one options
 * object, read by name on the C++ side (unknown names are a ValueError). test/native-interface
 * checks each export's parameter names, optionality and option names against this interface.
 */
export interface NativeAddon {
  // tensor storage (tensor_binding.cc)
  empty(shape: readonly number[], dtype: string, device: string): NativeTensorDesc;
  fromBuffer(data: ArrayBufferView, shape: readonly number[], dtype: string, device: string): NativeTensorDesc;
  read<A extends ArrayBufferView>(tensor: T, dest: A): Promise<A>;
  readSync<A extends ArrayBufferView>(tensor: T, dest: A): A;
  sync(device: string): Promise<void>;
  /** A contiguous copy on `device` (default: the source's device). */
  copy(tensor: T, device?: string): NativeTensorDesc;
  assign(dst: T, src: T): NativeTensorDesc;
  liveBytes(): number;
  cachedBytes(): number;
  trimCache(): void;
  setErrorClasses(classes: object): void;
  // file reads (ops_io.cc): each range read with pread into its own new tensor, off the JS thread;
  // endedAt is -1, or the first range the file ended inside (tensors then empty)
  readFileRanges(
    fd: number,
    ranges: readonly { offset: number; shape: readonly number[]; dtype: string }[],
    device: string,
  ): Promise<{ tensors: NativeTensorDesc[]; endedAt: number }>;
  // build and devices (info_binding.cc), the signature table (addon.cc)
  buildInfo(): BuildInfo;
  setCpuIsa(isa: string): boolean;
  gpuInfo(): GpuInfo;
  nativeSignatures(): Record<string, string>;
  // collectives (ops_collectives.cc; types in lib/dist/native.ts)
  initDistributed(useMpi: boolean): NativeWorld;
  finalizeDistributed(): void;
  /** Exits at once with `code`; `propagate`: MPI_Abort, so the launcher stops every rank. */
  abortDistributed(code: number, propagate: boolean): never;
  distributedInfo(): DistributedInfo;
  allReduce(tensors: readonly NativeTensorDesc[], op: ReduceOp): void;
  /** Queues the first half of a bucket's all-reduce (the reduction then runs beside the queue); returns its id. */
  allReduceStart(tensors: readonly NativeTensorDesc[], op: ReduceOp): number;
  /** Queues the second half: waits for the reduction and writes it into the bucket's tensors. */
  allReduceFinish(id: number): void;
  broadcast(tensors: readonly NativeTensorDesc[], root: number): void;
  allGather(tensor: NativeTensorDesc): NativeTensorDesc;
  barrier(device: string): void;
  // gemm
  gemm(A: T, B: T, options: NativeGemmOptions): NativeTensorDesc | [NativeTensorDesc, NativeTensorDesc];
  gemmPackWeights(B: T, transB: boolean, precision?: 'fp32' | 'bf16'): NativeTensorDesc | null;
  gemmPacked(A: T, packed: T, options: NativeGemmPackedOptions): NativeTensorDesc | [NativeTensorDesc, NativeTensorDesc];
  /** '' where bf16 weights can be packed in this process, else why not. */
  bf16GemmSupport(): string;
  // attention
  attentionForward(qkv: T, heads: number): [NativeTensorDesc, NativeTensorDesc];
  attentionBackward(dOut: T, qkv: T, out: T, lse: T, options: { heads: number }): NativeTensorDesc;
  // norm
  layerNormForward(
    x: T,
    options: { weight?: OptT; bias?: OptT; eps: number; residual?: OptT },
  ): { y: NativeTensorDesc; mean: NativeTensorDesc; rstd: NativeTensorDesc; sum: NativeTensorDesc | null };
  layerNormBackward(
    dy: T,
    x: T,
    mean: T,
    rstd: T,
    options: { weight?: OptT; dResidual?: OptT },
  ): { dx: NativeTensorDesc; dWeight: NativeTensorDesc | null; dBias: NativeTensorDesc | null };
  // elementwise
  gelu(x: T): NativeTensorDesc;
  geluBackward(dy: T, x: T): NativeTensorDesc;
  add(a: T, b: T): NativeTensorDesc;
  addInPlace(a: T, b: T, alpha?: number): NativeTensorDesc;
  scale(x: T, s: number): NativeTensorDesc;
  scaleInPlace(x: T, s: number): NativeTensorDesc;
  addBroadcast(x: T, t: T): NativeTensorDesc;
  rowScale(x: T, scales: T): NativeTensorDesc;
  dropout(x: T, p: number, seed: number): { y: NativeTensorDesc; mask: NativeTensorDesc };
  dropoutBackward(dy: T, mask: T, p: number): NativeTensorDesc;
  sumRows(x: T, out: OptT, accumulate: boolean): NativeTensorDesc;
  fill(x: T, value: number): NativeTensorDesc;
  // loss and cross-entropy
  distillLoss(options: NativeDistillLossOptions): {
    loss: NativeTensorDesc;
    dPredImg: NativeTensorDesc | null;
    dPredVid: NativeTensorDesc | null;
  };
  mseLoss(pred: T, target: T): { loss: NativeTensorDesc; dPred: NativeTensorDesc };
  crossEntropy(logits: T, target: T, labelSmoothing?: number): [NativeTensorDesc, NativeTensorDesc];
  softmax(logits: T): NativeTensorDesc;
  topkCorrect(logits: T, labels: T, ks: readonly number[]): NativeTensorDesc;
  // optimiser
  adamw(params: readonly T[], grads: readonly T[], m: readonly T[], v: readonly T[], options: NativeAdamWOptions): void;
  gradNorm(grads: readonly T[]): NativeTensorDesc;
  allFinite(tensors: readonly T[]): NativeTensorDesc;
  scaleTensors(tensors: readonly T[], s: number): void;
  // tokens
  patchify(video: T, options: { kt: number; kh: number; kw: number; frameStride?: number }): NativeTensorDesc;
  gatherTokens(x: T, idx: T): NativeTensorDesc;
  scatterTokens(dy: T, idx: T, n: number): NativeTensorDesc;
  assembleDecoderInput(vis: T, options: { visIdx: T; maskIdx: T; maskToken: T; pos: T }): NativeTensorDesc;
  assembleDecoderInputBackward(dy: T, nv: number): { dVis: NativeTensorDesc; dMaskToken: NativeTensorDesc };
  placeTokens(vis: T, visIdx: T, maskToken: T, n: number): NativeTensorDesc;
  placeTokensBackward(dy: T, visIdx: T): { dVis: NativeTensorDesc; dMaskToken: NativeTensorDesc };
  // tables, targets, random
  sincos3dTable(options: { d: number; t: number; h: number; w: number; device?: string }): NativeTensorDesc;
  sinusoid1dTable(n: number, d: number, device?: string): NativeTensorDesc;
  sincos2dTable(d: number, g: number, cls: boolean, device?: string): NativeTensorDesc;
  videomaePixelTarget(video: T, options: NativePixelTargetOptions): NativeTensorDesc;
  maePixelTarget(images: T, options: Omit<NativePixelTargetOptions, 'tubelet'>): NativeTensorDesc;
  rgbDiffTarget(video: T, options: NativePixelTargetOptions): NativeTensorDesc;
  randomFill(tensor: T, init: NativeRandomInit, seed: number, stream: number): NativeTensorDesc;
  // frames and augmentation
  resizeCrop(frames: T, options: NativeCrop): NativeTensorDesc;
  flipFrames(frames: T): NativeTensorDesc;
  framesToClip(frames: T, mean: readonly number[], std: readonly number[]): NativeTensorDesc;
  randAugment(frames: T, steps: number[][][], interp?: number, fill?: number): NativeTensorDesc;
  randAugmentInPlace(
    data: Uint8Array,
    shape: readonly number[],
    steps: number[][][],
    options: { interp?: number; fill?: number },
  ): Uint8Array;
  resizeCropArray(data: Uint8Array, shape: readonly number[], options: NativeCrop): Uint8Array;
  randomErase(clip: T, boxes: readonly NativeEraseBox[]): NativeTensorDesc;
  mixBatch(x: T, lambda: number, box?: readonly number[] | null): NativeTensorDesc;
  renderSynthClip(params: object, dest?: Uint8Array | null): Uint8Array;
  // benchmarks
  fmaPeakGflops(threads: number, width: number, seconds: number): number;
  copyBandwidthGbs(threads: number, megabytes: number, seconds: number): number;
}

/** The raw addon. Library code goes through Tensor and lib/ops. */
export type Addon = NativeAddon;

/** Where the loaded addon came from, for `mvd info`. */
export interface AddonLocation {
  path: string;
  source: 'MVD_ADDON_PATH' | 'build' | 'prebuilds';
}

function sourceOf(path: string): AddonLocation['source'] {
  const rel = relative(packageRoot, path);
  return rel.startsWith(`prebuilds${sep}`) ? 'prebuilds' : 'build';
}

/** What the package holds, for the error when node-gyp-build finds nothing that matches. */
function present(): string {
  const list = (dir: string) => (existsSync(join(packageRoot, dir)) ? readdirSync(join(packageRoot, dir)) : []);
  const addons = (dir: string) =>
    list(dir)
      .filter((n) => n.endsWith('.node'))
      .map((n) => `${dir}/${n}`);
  const found = [
    ...addons('build/Release'),
    ...addons('build/Debug'),
    ...list('prebuilds').flatMap((tuple) => addons(`prebuilds/${tuple}`)),
  ];
  return found.length ? found.join(', ') : 'no .node file in build/ or prebuilds/';
}

function locate(): AddonLocation {
  const env = process.env.MVD_ADDON_PATH;
  // Relative to the working directory (require() would resolve a bare relative path as a package).
  if (env) return { path: resolve(env), source: 'MVD_ADDON_PATH' };
  let path: string;
  try {
    path = (requireHere('node-gyp-build') as { path(dir: string): string }).path(packageRoot);
  } catch (e) {
    throw new AddonLoadError(
      `mvd: no native addon for ${process.platform}-${process.arch} (node-gyp-build: ` +
        `${(e as Error).message.split('\n')[0]}); the package holds: ${present()}.\n${HOW_TO_BUILD}`,
    );
  }
  return { path, source: sourceOf(path) };
}

const HOW_TO_BUILD =
  `Build it from source in ${packageRoot}: \`npm run build:native\` in a clone, or ` +
  `\`npx cmake-js@8 compile\` inside an installed package (needs cmake and a C++ compiler; ` +
  `libdnnl-dev and nvcc optional); or set MVD_ADDON_PATH to a built mvd.node.`;

let where: AddonLocation | undefined;

function load(): Addon {
  const loc = locate();
  if (!existsSync(loc.path)) {
    throw new AddonLoadError(`mvd: the native addon ${loc.path} (from ${loc.source}) does not exist.\n${HOW_TO_BUILD}`);
  }
  let addon: Addon;
  try {
    addon = requireHere(loc.path) as Addon;
  } catch (e) {
    throw new AddonLoadError(
      `mvd: the native addon ${loc.path} (from ${loc.source}) failed to load: ` + `${(e as Error).message.split('\n')[0]}\n${HOW_TO_BUILD}`,
    );
  }
  addon.setErrorClasses(errorClasses);
  where = loc;
  return addon;
}

let cached: Addon | undefined;
/** The loaded addon (loaded on first use, so importing mvd never fails by itself). */
export function addon(): Addon {
  cached ??= load();
  return cached;
}

/** Which addon file is in use and where it was found (loads the addon if it is not loaded yet). */
export function addonLocation(): AddonLocation {
  addon();
  return where!;
}
