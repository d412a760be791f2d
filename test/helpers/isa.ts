// The builds of the *_isa.cc kernels this machine can run (native/core/isa.h), for tests that
// check each one against the float64 references.
import { addon } from '../../lib/native.js';

export type CpuIsa = 'avx2' | 'avx512';

export function runnableIsas(): CpuIsa[] {
  const out: CpuIsa[] = ['avx2'];
  if (addon().buildInfo().cpuIsaVariants.includes('avx512') && addon().setCpuIsa('avx512')) out.push('avx512');
  addon().setCpuIsa('auto');
  return out;
}

/** Runs fn with the given build selected, then goes back to the automatic choice. */
export async function withIsa<T>(isa: CpuIsa, fn: () => Promise<T>): Promise<T> {
  if (!addon().setCpuIsa(isa)) throw new Error(`setCpuIsa(${isa}) refused`);
  try {
    return await fn();
  } finally {
    addon().setCpuIsa('auto');
  }
}
