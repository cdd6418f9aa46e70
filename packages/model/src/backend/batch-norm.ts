/**
 * Forward `FusedBatchNorm` for the wasm backend as one per-channel affine
 * map, `y = x * gain + bias`: one pass of the own `channelAffine` kernel,
 * split by rows with the kernel worker on large activations.
 * The stock kernel walks the activation with per-element index arithmetic and
 * costs several times a plain element-wise pass.
 */
import * as tf from '@tensorflow/tfjs';

import { splitRows } from './batch-norm-train.js';
import { ownKernels } from './own-kernels.js';
import { type KernelArgs, type WasmKernelFunc, f32View, heapIndex, release } from './wasm-heap.js';

/** `gain = scale / sqrt(variance + eps)`, `bias = offset - mean * gain`, per channel. */
export function affineTerms(
  p: { mean: Float32Array; variance: Float32Array; scale?: Float32Array; offset?: Float32Array },
  eps: number,
  gain: Float32Array,
  bias: Float32Array,
): void {
  for (let c = 0; c < p.mean.length; c++) {
    const g = (p.scale === undefined ? 1 : p.scale[c]) / Math.sqrt(p.variance[c] + eps);
    gain[c] = g;
    bias[c] = (p.offset === undefined ? 0 : p.offset[c]) - p.mean[c] * g;
  }
}

/** Builds the `FusedBatchNorm` kernel function; broadcast layouts keep the stock kernel. */
export function makeBatchNorm(fallback: WasmKernelFunc | undefined): WasmKernelFunc {
  return (args: KernelArgs) => {
    const { backend } = args;
    const { x, mean, variance, scale, offset } = args.inputs;
    if (x === undefined || mean === undefined || variance === undefined) {
      throw new Error('FusedBatchNorm: expected inputs x, mean and variance');
    }
    const channels = x.shape[x.shape.length - 1];
    const perChannel = [mean, variance, scale, offset].every(
      (t) =>
        t === undefined ||
        (t.shape.length === 1 && t.shape[0] === channels && t.dtype === 'float32'),
    );
    const size = tf.util.sizeFromShape(x.shape);
    if (!perChannel || x.dtype !== 'float32' || size === 0) {
      if (fallback === undefined) throw new Error('FusedBatchNorm (wasm): unsupported inputs');
      return fallback(args);
    }
    const eps = Number(args.attrs?.['varianceEpsilon'] ?? 0.001);
    const gain = backend.makeOutput([channels], 'float32');
    const bias = backend.makeOutput([channels], 'float32');
    affineTerms(
      {
        mean: f32View(backend, mean),
        variance: f32View(backend, variance),
        scale: scale === undefined ? undefined : f32View(backend, scale),
        offset: offset === undefined ? undefined : f32View(backend, offset),
      },
      eps,
      f32View(backend, gain),
      f32View(backend, bias),
    );
    const y = backend.makeOutput(x.shape, 'float32');
    const at = (info: tf.TensorInfo) => heapIndex(backend, info) * 4;
    const layout = { rows: size / channels, c: channels };
    splitRows(ownKernels(backend), layout, 'channelAffine', (first, end) => [
      at(x),
      0,
      at(gain),
      0,
      at(bias),
      at(y),
      channels,
      first,
      end,
    ]);
    [gain, bias].forEach((t) => release(backend, t));
    return y;
  };
}
