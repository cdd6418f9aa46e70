/**
 * Backend selection and the wasm training kernels.
 */
export {
  type BackendName,
  type InitBackendOptions,
  type BackendInfo,
  initBackend,
} from './select.js';
export { WASM_KERNEL_NAMES, registerWasmKernels } from './wasm-kernels.js';
export { FastBatchNormalization, batchNormalization } from './batch-norm-layer.js';
export { batchNormTraining } from './batch-norm-train.js';
