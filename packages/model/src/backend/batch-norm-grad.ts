/**
 * All five BatchNorm gradients in a handful of passes over the activation.
 * The stock gradient builds them from about twenty broadcast element-wise ops
 * and a `Tile`, each a full pass over an activation that is usually the
 * largest tensor of a small network. Here the heavy passes (centring, the
 * product with `dy`, the per-channel sums and `dx`) run on the backend's SIMD
 * kernels and only per-channel arithmetic happens in JavaScript.
 */
import * as tf from '@tensorflow/tfjs';

import {
  type KernelArgs,
  columnMeans,
  f32View,
  release,
  runWasmKernel,
  withShape,
} from './wasm-heap.js';

/** Name of the fused gradient kernel (wasm only). */
export const BATCH_NORM_GRAD = 'PolyheadBatchNormGrad';

/** Per-channel statistics and parameters, all of length C. */
export interface ChannelTerms {
  /** Mean of `dy` over all rows. */
  meanDy: Float32Array;
  /** Mean of `dy * (x - mean)` over all rows. */
  meanDyCentred: Float32Array;
  variance: Float32Array;
  scale: Float32Array;
}

/**
 * Per-channel gradients of `y = (x - mean) * rsqrt(variance + eps) * scale + offset`
 * with `mean` and `variance` as independent inputs, over `rows` rows. Fills
 * `gain` with the factor `dx = dy * gain`.
 */
export function channelGradients(
  t: ChannelTerms,
  rows: number,
  eps: number,
  out: {
    gain: Float32Array;
    dMean: Float32Array;
    dVariance: Float32Array;
    dScale: Float32Array;
    dOffset: Float32Array;
  },
): void {
  for (let c = 0; c < t.scale.length; c++) {
    const inv = 1 / Math.sqrt(t.variance[c] + eps);
    const sumDy = t.meanDy[c] * rows;
    const sumDyCentred = t.meanDyCentred[c] * rows;
    out.gain[c] = t.scale[c] * inv;
    out.dOffset[c] = sumDy;
    out.dScale[c] = sumDyCentred * inv;
    out.dMean[c] = -inv * t.scale[c] * sumDy;
    out.dVariance[c] = -0.5 * inv * inv * inv * t.scale[c] * sumDyCentred;
  }
}

/**
 * Kernel function: inputs `x, mean, variance, scale, dy`; outputs
 * `dx, dMean, dVariance, dScale, dOffset`.
 */
export function batchNormGrad(args: KernelArgs): tf.TensorInfo[] {
  const { backend } = args;
  const { x, mean, variance, scale, dy } = args.inputs;
  if (
    x === undefined ||
    mean === undefined ||
    variance === undefined ||
    scale === undefined ||
    dy === undefined
  ) {
    throw new Error(`${BATCH_NORM_GRAD}: expected inputs x, mean, variance, scale and dy`);
  }
  const eps = Number(args.attrs?.['varianceEpsilon'] ?? 0.001);
  const channels = mean.shape[0];
  const rows = tf.util.sizeFromShape(x.shape) / channels;

  const centred = runWasmKernel('Sub', { a: x, b: mean }, {}, backend);
  const product = runWasmKernel('Multiply', { a: dy, b: centred }, {}, backend);
  release(backend, centred);
  const meanDyCentred = columnMeans(backend, product, 1, rows, channels);
  release(backend, product);
  const meanDy = columnMeans(backend, dy, 1, rows, channels);

  const small = [0, 1, 2, 3, 4].map(() => backend.makeOutput([channels], 'float32'));
  const [gain, dMean, dVariance, dScale, dOffset] = small;
  const view = (info: tf.TensorInfo) => f32View(backend, info);
  channelGradients(
    {
      meanDy: view(meanDy),
      meanDyCentred: view(meanDyCentred),
      variance: view(variance),
      scale: view(scale),
    },
    rows,
    eps,
    {
      gain: view(gain),
      dMean: view(dMean),
      dVariance: view(dVariance),
      dScale: view(dScale),
      dOffset: view(dOffset),
    },
  );
  release(backend, meanDy);
  release(backend, meanDyCentred);

  const dx = runWasmKernel(
    'Multiply',
    { a: withShape(dy, [rows, channels]), b: gain },
    {},
    backend,
  );
  release(backend, gain);
  return [withShape(dx, x.shape), dMean, dVariance, dScale, dOffset];
}
