/**
 * `Sum` and `Mean` over a contiguous run of axes for the wasm backend. The
 * backend's own reductions first transpose the reduced axes innermost, which
 * makes per-channel sums over `[N, H, W]` (bias and BatchNorm gradients) and
 * global average pooling cost a full copy of the activation.
 */
import * as tf from '@tensorflow/tfjs';

import { type KernelArgs, type WasmKernelFunc, f32View } from './wasm-heap.js';

/**
 * Reduces `x` viewed as `[outer, reduced, inner]` over its middle axis into
 * `out` (`[outer, inner]`), accumulating in double precision and multiplying
 * each result by `scale`.
 */
export function reduceMiddle(
  x: Float32Array,
  out: Float32Array,
  outer: number,
  reduced: number,
  inner: number,
  scale: number,
): void {
  if (inner === 1) {
    for (let a = 0; a < outer; a++) {
      let acc = 0;
      const base = a * reduced;
      for (let r = 0; r < reduced; r++) acc += x[base + r];
      out[a] = acc * scale;
    }
    return;
  }
  const acc = new Float64Array(inner);
  for (let a = 0; a < outer; a++) {
    acc.fill(0);
    let src = a * reduced * inner;
    for (let r = 0; r < reduced; r++, src += inner) {
      for (let c = 0; c < inner; c++) acc[c] += x[src + c];
    }
    const dst = a * inner;
    for (let c = 0; c < inner; c++) out[dst + c] = acc[c] * scale;
  }
}

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
    const outShape = attrs['keepDims']
      ? x.shape.map((s, d) => (d >= first && d <= last ? 1 : s))
      : x.shape.filter((_, d) => d < first || d > last);
    const out = backend.makeOutput(outShape, 'float32');
    const scale = mean ? 1 / reduced : 1;
    reduceMiddle(f32View(backend, x), f32View(backend, out), outer, reduced, inner, scale);
    return out;
  };
}
