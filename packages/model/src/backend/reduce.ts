/**
 * `Sum` and `Mean` over a contiguous run of leading or middle axes for the
 * wasm backend. The backend's own reductions first transpose the reduced axes
 * innermost, which makes per-channel sums over `[N, H, W]` (bias and BatchNorm
 * gradients) and global average pooling cost a full copy of the activation;
 * here they run as one average pooling over a reshaped view.
 */
import * as tf from '@tensorflow/tfjs';

import {
  type KernelArgs,
  type WasmKernelFunc,
  columnMeans,
  f32View,
  withShape,
} from './wasm-heap.js';

/** Builds the `Sum` (`mean` false) or `Mean` (`mean` true) kernel function. */
export function makeReduce(mean: boolean, fallback: WasmKernelFunc | undefined): WasmKernelFunc {
  return (args: KernelArgs) => {
    const { backend } = args;
    const x = args.inputs['x'];
    if (x === undefined) throw new Error('reduction: expected input x');
    const attrs = (args.attrs ?? {}) as Record<string, unknown>;
    const axes = tf.util
      .parseAxisParam(attrs['axis'] as number | number[], x.shape)
      .sort((p, q) => p - q);
    const contiguous = axes.every((a, i) => i === 0 || a === axes[i - 1] + 1);
    if (x.dtype !== 'float32' || axes.length === 0 || !contiguous) {
      if (fallback === undefined) throw new Error('reduction (wasm): unsupported input');
      return fallback(args);
    }
    const first = axes[0];
    const last = axes[axes.length - 1];
    const outer = tf.util.sizeFromShape(x.shape.slice(0, first));
    const reduced = tf.util.sizeFromShape(x.shape.slice(first, last + 1));
    const inner = tf.util.sizeFromShape(x.shape.slice(last + 1));
    // Trailing axes need no transpose, and there the stock kernel is faster.
    if (inner === 1 && fallback !== undefined) return fallback(args);
    const outShape = attrs['keepDims']
      ? x.shape.map((s, d) => (d >= first && d <= last ? 1 : s))
      : x.shape.filter((_, d) => d < first || d > last);
    if (reduced === 0 || outer * inner === 0) {
      const out = backend.makeOutput(outShape, 'float32');
      f32View(backend, out).fill(mean ? NaN : 0);
      return out;
    }
    const out = columnMeans(backend, x, outer, reduced, inner);
    if (!mean) {
      const values = f32View(backend, out);
      for (let i = 0; i < values.length; i++) values[i] *= reduced;
    }
    return withShape(out, outShape);
  };
}
