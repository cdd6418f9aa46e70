/**
 * Gradient overrides that take a shorter path on the wasm backend. Gradients
 * are registered per kernel for all backends, so each override hands every
 * other backend (and every case it does not handle) to the stock gradient.
 */
import * as tf from '@tensorflow/tfjs';

import { BATCH_NORM_GRAD } from './batch-norm-grad.js';

function onWasm(tensors: Array<tf.Tensor | undefined>): boolean {
  return (
    tf.getBackend() === 'wasm' && tensors.every((t) => t !== undefined && t.dtype === 'float32')
  );
}

function overrideBatchNorm(): void {
  const stock = tf.getGradient('FusedBatchNorm');
  if (stock === undefined) return;
  tf.registerGradient({
    ...stock,
    gradFunc: (dy, saved, attrs) => {
      const [x, mean, variance, scale] = saved as Array<tf.Tensor | undefined>;
      const dyT = dy as tf.Tensor;
      const channels = mean?.shape[0];
      const perChannel =
        mean !== undefined &&
        x !== undefined &&
        mean.rank === 1 &&
        variance?.rank === 1 &&
        scale?.rank === 1 &&
        scale.shape[0] === channels &&
        x.shape[x.rank - 1] === channels;
      if (!perChannel || !onWasm([x, mean, variance, scale, dyT]))
        return stock.gradFunc(dy, saved, attrs);
      const [dx, dMean, dVariance, dScale, dOffset] = tf
        .engine()
        .runKernel(
          BATCH_NORM_GRAD,
          {
            x: x as tf.Tensor,
            mean,
            variance: variance as tf.Tensor,
            scale: scale as tf.Tensor,
            dy: dyT,
          },
          { varianceEpsilon: (attrs as { varianceEpsilon?: number }).varianceEpsilon ?? 0.001 },
        ) as tf.Tensor[];
      return {
        x: () => dx,
        mean: () => dMean,
        variance: () => dVariance,
        scale: () => dScale,
        offset: () => dOffset,
      };
    },
  });
}

function overrideMean(): void {
  const stock = tf.getGradient('Mean');
  if (stock === undefined) return;
  tf.registerGradient({
    ...stock,
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const dyT = dy as tf.Tensor;
      if (x === undefined || !onWasm([x, dyT])) return stock.gradFunc(dy, saved, attrs);
      const axes = tf.util.parseAxisParam((attrs as { axis: number | number[] }).axis, x.shape);
      const kept = x.shape.map((s, d) => (axes.includes(d) ? 1 : s));
      const reps = x.shape.map((s, d) => (axes.includes(d) ? s : 1));
      const count = axes.reduce((n, d) => n * x.shape[d], 1);
      // One block copy (the fast Tile) instead of ones() times a broadcast multiply.
      return { x: () => tf.tile(tf.reshape(tf.div(dyT, count), kept), reps) };
    },
  });
}

/** Installs the wasm-aware gradients of `FusedBatchNorm` and `Mean` (once per process). */
export function registerWasmGradients(): void {
  overrideBatchNorm();
  overrideMean();
}
