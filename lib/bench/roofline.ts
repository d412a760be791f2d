import { cpus } from 'node:os';
import { addon } from '../native.js';
import { buildInfo } from '../device.js';

export interface CpuRoofs {
  threads: number;
  fmaPeakAvx2Gflops: number;
  fmaPeakAvx512Gflops: number | null;
  copyGbs: number;
}

/** Measures this CPU's FMA peak and copy bandwidth now, in the same run as the kernels. */
export function measureCpuRoofs(seconds = 0.3): CpuRoofs {
  const threads = buildInfo().cpuThreads || cpus().length;
  const a = addon();
  const has512 = buildInfo().cpuFeaturesRuntime.includes('avx512f');
  return {
    threads,
    fmaPeakAvx2Gflops: a.fmaPeakGflops(threads, 8, seconds),
    fmaPeakAvx512Gflops: has512 ? a.fmaPeakGflops(threads, 16, seconds) : null,
    copyGbs: a.copyBandwidthGbs(threads, 256, seconds),
  };
}

/** The compute roof a kernel is measured against: the widest FMA the CPU has. */
export function computeRoof(r: CpuRoofs): number {
  return r.fmaPeakAvx512Gflops ?? r.fmaPeakAvx2Gflops;
}
