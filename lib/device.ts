import { addon, type BuildInfo, type GpuInfo } from './native.js';

/** Facts about the loaded addon: versions, CPU features, GEMM backend, CUDA architectures. */
export function buildInfo(): BuildInfo {
  return addon().buildInfo();
}

/**
 * CUDA devices, or why there are none. Never throws: an addon that cannot load, a build without
 * CUDA, a machine without a driver all come back as `devices: []` with a `reason`.
 */
export function gpuInfo(): GpuInfo & { hint?: string } {
  let info: GpuInfo;
  try {
    info = addon().gpuInfo();
  } catch (e) {
    return { compiled: false, architectures: '', runtimeVersion: '', driverVersion: 0, devices: [], reason: (e as Error).message };
  }
  if (info.reason.startsWith('cudaErrorInsufficientDriver') && info.driverVersion === 0)
    return { ...info, hint: 'no NVIDIA driver is installed (libcuda.so not found): CPU only' };
  if (info.reason.startsWith('cudaErrorNoDevice')) return { ...info, hint: 'a driver is present but no GPU is visible' };
  return info;
}

/** 'cuda:0' when a GPU is usable, else 'cpu'. */
export function resolveDevice(device: 'auto' | 'cpu' | 'cuda' | string = 'auto'): string {
  if (device !== 'auto') return device === 'cuda' ? 'cuda:0' : device;
  return gpuInfo().devices.length > 0 ? 'cuda:0' : 'cpu';
}
