// Loads the native addon through node-gyp-build (prebuilds/<platform>-<arch>/ first, then build/),
// with $MVD_ADDON_PATH as an override. When nothing loads, the error lists every path tried, why
// each failed, and how to build.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AddonLoadError, errorClasses } from './errors.js';

const require = createRequire(import.meta.url);
/** The package root (one level above dist/ or lib/). */
export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

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

/** The raw addon. Library code goes through Tensor and lib/ops; this type documents the table. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Addon = Record<string, any> & {
  buildInfo(): BuildInfo;
  gpuInfo(): GpuInfo;
  empty(shape: readonly number[], dtype: string, device: string): NativeTensorDesc;
  fromBuffer(data: ArrayBufferView, shape: readonly number[], dtype: string, device: string): NativeTensorDesc;
  read<T extends ArrayBufferView>(t: NativeTensorDesc, dest: T): Promise<T>;
  readSync<T extends ArrayBufferView>(t: NativeTensorDesc, dest: T): T;
  sync(device: string): Promise<void>;
  /** A contiguous copy on `device` (default: the source's device). */
  copy(t: NativeTensorDesc, device?: string): NativeTensorDesc;
  assign(dst: NativeTensorDesc, src: NativeTensorDesc): NativeTensorDesc;
  liveBytes(): number;
  cachedBytes(): number;
  trimCache(): void;
  setErrorClasses(classes: object): void;
};

function candidates(): string[] {
  const env = process.env.MVD_ADDON_PATH;
  // Relative to the working directory (require() would resolve a bare relative path as a package).
  const list = env ? [resolve(env)] : [];
  list.push(
    join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`, 'mvd.node'),
    join(packageRoot, 'build', 'Release', 'mvd.node'),
    join(packageRoot, 'build', 'Debug', 'mvd.node'),
  );
  return list;
}

/** node-gyp-build's choice (prebuilds/<platform>-<arch>/ first, then build/), or why it found none. */
function nodeGypBuildPath(): { path?: string; why?: string } {
  try {
    const ngb = require('node-gyp-build') as { path(dir: string): string };
    return { path: ngb.path(packageRoot) };
  } catch (e) {
    return { why: (e as Error).message.split('\n')[0] };
  }
}

function load(): Addon {
  const tried: string[] = [];
  const ngb = process.env.MVD_ADDON_PATH ? {} : nodeGypBuildPath();
  if (ngb.why) tried.push(`  node-gyp-build: ${ngb.why}`);
  const paths = ngb.path ? [ngb.path, ...candidates().filter((p) => p !== ngb.path)] : candidates();
  for (const path of paths) {
    if (!existsSync(path)) {
      tried.push(`  ${path}: not found`);
      continue;
    }
    try {
      const addon = require(path) as Addon;
      addon.setErrorClasses(errorClasses);
      return addon;
    } catch (e) {
      tried.push(`  ${path}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new AddonLoadError(
    `mvd: the native addon could not be loaded. Tried:\n${tried.join('\n')}\n` +
      `Build it with \`npm run build:native\` (cmake-js; needs cmake and a C++ compiler, optionally ` +
      `libdnnl-dev and nvcc), or \`npm run build:native:gyp\` (node-gyp fallback), in ${packageRoot}.`,
  );
}

let cached: Addon | undefined;
/** The loaded addon (loaded on first use, so importing mvd never fails by itself). */
export function addon(): Addon {
  cached ??= load();
  return cached;
}
