/**
 * `BatchMatMul` for the wasm backend with transposed operands copied into
 * place first. The backend sends only non-transposed products to XNNPACK;
 * `transposeA` / `transposeB` (as in every dense layer's gradient) take a
 * generic loop roughly ten times slower than a transpose plus the fast path.
 */
import * as tf from '@tensorflow/tfjs';

import {
  type KernelArgs,
  type WasmBackend,
  type WasmKernelFunc,
  f32View,
  release,
} from './wasm-heap.js';

/** Transposes each of `batch` row-major `[rows, cols]` matrices, in cache-sized tiles. */
export function transposeMatrices(
  src: Float32Array,
  dst: Float32Array,
  batch: number,
  rows: number,
  cols: number,
): void {
  const tile = 32;
  const size = rows * cols;
  for (let b = 0; b < batch; b++) {
    const base = b * size;
    for (let r0 = 0; r0 < rows; r0 += tile) {
      const r1 = Math.min(rows, r0 + tile);
      for (let c0 = 0; c0 < cols; c0 += tile) {
        const c1 = Math.min(cols, c0 + tile);
        for (let r = r0; r < r1; r++) {
          const s = base + r * cols;
          for (let c = c0; c < c1; c++) dst[base + c * rows + r] = src[s + c];
        }
      }
    }
  }
}

function transposedCopy(backend: WasmBackend, info: tf.TensorInfo): tf.TensorInfo {
  const rank = info.shape.length;
  const rows = info.shape[rank - 2];
  const cols = info.shape[rank - 1];
  const shape = [...info.shape.slice(0, -2), cols, rows];
  const out = backend.makeOutput(shape, 'float32');
  const batch = tf.util.sizeFromShape(info.shape.slice(0, -2));
  transposeMatrices(f32View(backend, info), f32View(backend, out), batch, rows, cols);
  return out;
}

/** Builds the `BatchMatMul` kernel function around the backend's own. */
export function makeBatchMatMul(original: WasmKernelFunc): WasmKernelFunc {
  return (args: KernelArgs) => {
    const { backend } = args;
    const { a, b } = args.inputs;
    const attrs = (args.attrs ?? {}) as Record<string, unknown>;
    const transposeA = attrs['transposeA'] === true;
    const transposeB = attrs['transposeB'] === true;
    if (
      a === undefined ||
      b === undefined ||
      (!transposeA && !transposeB) ||
      a.dtype !== 'float32' ||
      b.dtype !== 'float32'
    ) {
      return original(args);
    }
    const aa = transposeA ? transposedCopy(backend, a) : a;
    const bb = transposeB ? transposedCopy(backend, b) : b;
    const out = original({
      inputs: { a: aa, b: bb },
      attrs: { transposeA: false, transposeB: false },
      backend,
    });
    if (transposeA) release(backend, aa);
    if (transposeB) release(backend, bb);
    return out;
  };
}
