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
  const addons = (dir: string) => list(dir).filter((n) => n.endsWith('.node')).map((n) => `${dir}/${n}`);
  const found = [...addons('build/Release'), ...addons('build/Debug'), ...list('prebuilds').flatMap((tuple) => addons(`prebuilds/${tuple}`))];
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
      `mvd: the native addon ${loc.path} (from ${loc.source}) failed to load: ` +
        `${(e as Error).message.split('\n')[0]}\n${HOW_TO_BUILD}`,
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
