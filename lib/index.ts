// mvd: masked video distillation for Node.js. The public API.
export { Tensor, sync, disposeAll, type DType, type Device } from './tensor.js';
export * from './errors.js';
export { buildInfo, gpuInfo, resolveDevice } from './device.js';
export { gemm, type GemmOptions } from './ops/gemm.js';
