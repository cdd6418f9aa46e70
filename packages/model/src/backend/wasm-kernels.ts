/**
 * Registers polyhead's training kernels on the TensorFlow.js wasm backend:
 * gradients it lacks (convolution filter, depthwise convolution) and faster
 * versions of kernels that dominate a training step.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

import { ADAM_UPDATE, adamUpdate } from './adam-update.js';
import { makeBatchMatMul } from './batch-mat-mul.js';
import { BATCH_NORM_GRAD, batchNormGrad } from './batch-norm-grad.js';
import {
  BATCH_NORM_TRAIN,
  BATCH_NORM_TRAIN_GRAD,
  batchNormTrain,
  batchNormTrainGrad,
} from './batch-norm-train.js';
import { makeBatchNorm } from './batch-norm.js';
import { conv2dBackpropFilter } from './conv2d-backprop-filter.js';
import { makeConv2dBackpropInput } from './conv2d-backprop-input.js';
import { depthwiseBackpropFilter, depthwiseBackpropInput } from './depthwise-backprop.js';
import { makeCast, makeIdentity } from './identity.js';
import { makeMaxPoolGrad } from './max-pool-grad.js';
import { makeParallelConv } from './parallel.js';
import { makeReduce } from './reduce.js';
import { makeTile } from './tile.js';
import { registerWasmGradients } from './wasm-gradients.js';
import { type KernelArgs, type WasmKernelFunc, asWasm } from './wasm-heap.js';

/** Kernels that `registerWasmKernels` adds to, or replaces on, the wasm backend. */
export const WASM_KERNEL_NAMES = [
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'MaxPoolGrad',
  'Tile',
  'Sum',
  'Mean',
  'BatchMatMul',
  'Identity',
  'Cast',
  'FusedBatchNorm',
  'Conv2D',
  'FusedConv2D',
  BATCH_NORM_GRAD,
  BATCH_NORM_TRAIN,
  BATCH_NORM_TRAIN_GRAD,
  ADAM_UPDATE,
] as const;

type Factory = (original: WasmKernelFunc | undefined) => WasmKernelFunc;

function required(name: string, original: WasmKernelFunc | undefined): WasmKernelFunc {
  if (original === undefined) throw new Error(`wasm backend has no ${name} kernel`);
  return original;
}

const factories: Record<(typeof WASM_KERNEL_NAMES)[number], Factory> = {
  Conv2DBackpropFilter: () => conv2dBackpropFilter,
  Conv2DBackpropInput: makeConv2dBackpropInput,
  DepthwiseConv2dNativeBackpropFilter: () => depthwiseBackpropFilter,
  DepthwiseConv2dNativeBackpropInput: () => depthwiseBackpropInput,
  MaxPoolGrad: makeMaxPoolGrad,
  Tile: makeTile,
  Sum: (original) => makeReduce(false, original),
  Mean: (original) => makeReduce(true, original),
  BatchMatMul: (original) => makeBatchMatMul(required('BatchMatMul', original)),
  Identity: makeIdentity,
  Cast: makeCast,
  FusedBatchNorm: makeBatchNorm,
  Conv2D: (original) => makeParallelConv('Conv2D', required('Conv2D', original)),
  FusedConv2D: (original) => makeParallelConv('FusedConv2D', required('FusedConv2D', original)),
  [BATCH_NORM_GRAD]: () => batchNormGrad,
  [BATCH_NORM_TRAIN]: () => batchNormTrain,
  [BATCH_NORM_TRAIN_GRAD]: () => batchNormTrainGrad,
  [ADAM_UPDATE]: () => adamUpdate,
};

let registered = false;

function wrap(func: WasmKernelFunc): tf.KernelFunc {
  return ({ inputs, attrs, backend }) =>
    func({ inputs: inputs as KernelArgs['inputs'], attrs, backend: asWasm(backend) });
}

/**
 * Registers the kernels in {@link WASM_KERNEL_NAMES} on the `wasm` backend.
 * Replaced kernels keep the backend's setup and dispose hooks, and their
 * original function serves the cases the replacement does not handle. Also
 * routes the `FusedBatchNorm` and `Mean` gradients through faster kernels
 * while wasm is active (other backends keep the stock gradients). Call it
 * before `tf.setBackend('wasm')`; later calls do nothing.
 *
 * @example
 * registerWasmKernels();
 * await tf.setBackend('wasm');
 */
export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  for (const name of WASM_KERNEL_NAMES) {
    const existing = tf.getKernel(name, 'wasm');
    const original = existing?.kernelFunc as unknown as WasmKernelFunc | undefined;
    if (existing !== undefined) tf.unregisterKernel(name, 'wasm');
    const config: tf.KernelConfig = {
      kernelName: name,
      backendName: 'wasm',
      kernelFunc: wrap(factories[name](original)),
    };
    if (existing?.setupFunc !== undefined) config.setupFunc = existing.setupFunc;
    if (existing?.disposeFunc !== undefined) config.disposeFunc = existing.disposeFunc;
    tf.registerKernel(config);
  }
  registerWasmGradients();
}
